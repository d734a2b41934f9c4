#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Serves one accepted connection on its own thread: resolves and connects the target, runs the
/// mode's relay, and logs one line when the connection opens and one when it closes.
struct ConnectionHandler {
  let id: UInt64
  let client: Socket
  let peer: SocketAddress
  let configuration: RelayConfiguration
  let log: RelayLog
  let connections: ConnectionRegistry

  private var target: String { "\(configuration.remoteAddress):\(configuration.remotePort)" }

  func run() {
    let started = ContinuousClock.now
    switch configuration.proxyType {
    case .tcp: runTCP(started: started)
    case .udp: runUDP(started: started)
    case .dynamic: runDynamic(started: started)
    }
  }

  /// Reads the destination header, checks it against the allow-list, connects, answers with the
  /// status byte, then relays as tcp mode does.
  private func runDynamic(started: ContinuousClock.Instant) {
    let request: DynamicDestination.Request
    do {
      request = try DynamicDestination.decode { count in
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 1)
        defer { buffer.deallocate() }
        guard count > 0 else { return [] }
        guard let n = try? client.receiveExactly(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<count])), n == count
        else { return nil }
        return Array(buffer[..<count])
      }
    } catch {
      // A readiness probe connects and closes without a header: not worth a line above debug level.
      if error != .truncated { log.error("conn #\(id) dynamic from \(peer): bad destination header (\(error)); closing") }
      client.close()
      return
    }
    if request.command == .udpAssociate {
      do { try client.sendAll([DynamicDestination.Reply.succeeded.rawValue]) } catch {
        client.close()
        return
      }
      log.info("conn #\(id) udp associate open: \(peer)")
      let outcome = DynamicUDP.run(client: client, allow: configuration.allow, log: log, id: id)
      log.info(
        "conn #\(id) udp associate close: \(peer), \(outcome.sent) datagrams sent, \(outcome.received) received, "
          + "\(outcome.denied) denied, \(outcome.unresolved) unresolved, \(elapsed(since: started))")
      client.close()
      return
    }
    let destination = "\(request.address):\(request.port)"
    func answer(_ reply: DynamicDestination.Reply, _ why: String) {
      try? client.sendAll([reply.rawValue])
      log.info("conn #\(id) dynamic from \(peer) -> \(destination): \(reply.description)\(why.isEmpty ? "" : " (\(why))")")
      client.close()
    }
    let allow = configuration.allow
    let name: String? = if case .name(let n) = request.address { n } else { nil }
    let addresses: [SocketAddress]
    do {
      addresses = try SocketAddress.resolve(host: request.address.host, port: request.port, socketType: socketStream)
    } catch {
      // Checked before saying "does not resolve", so a denied name learns nothing about the cluster.
      if !allow.allowsEverything, !(name.map { allow.allowsName($0, port: request.port) } ?? false) {
        return answer(.notAllowed, "")
      }
      return answer(.hostUnreachable, "\(error)")
    }
    guard allow.allows(name: name, addresses: addresses.map(\.ipBytes), port: request.port) else {
      return answer(.notAllowed, "")
    }
    let remote: Socket
    let remoteAddress: SocketAddress
    do throws(SocketError) {
      (remote, remoteAddress) = try Socket.connect(to: addresses, timeout: configuration.connectTimeout, abandonIfHungUp: client)
    } catch {
      return answer(Self.reply(for: error), "\(error)")
    }
    connections.add(remote, to: id)
    do { try client.sendAll([DynamicDestination.Reply.succeeded.rawValue]) } catch {
      client.close()
      remote.close()
      return
    }
    relay(to: remote, at: remoteAddress, mode: "dynamic", destination: destination, started: started)
  }

  /// What a failed connect means in SOCKS terms.
  static func reply(for error: SocketError) -> DynamicDestination.Reply {
    switch error.errno {
    case ECONNREFUSED: return .connectionRefused
    case ENETUNREACH: return .networkUnreachable
    case EHOSTUNREACH: return .hostUnreachable
    case ETIMEDOUT: return .ttlExpired
    default:
      if case .timedOut = error { return .ttlExpired }
      return .generalFailure
    }
  }

  private func runTCP(started: ContinuousClock.Instant) {
    let remote: Socket
    let remoteAddress: SocketAddress
    do throws(SocketError) {
      let addresses = try SocketAddress.resolve(
        host: configuration.remoteAddress, port: configuration.remotePort, socketType: socketStream)
      (remote, remoteAddress) = try Socket.connect(
        to: addresses, timeout: configuration.connectTimeout, abandonIfHungUp: client)
    } catch {
      log.error("conn #\(id) tcp from \(peer): cannot reach target \(target): \(error); closing the client connection")
      client.close()
      return
    }
    connections.add(remote, to: id)
    relay(to: remote, at: remoteAddress, mode: "tcp", destination: target, started: started)
  }

  /// The byte relay of tcp and dynamic mode once the target is connected, with its open and close lines.
  private func relay(to remote: Socket, at remoteAddress: SocketAddress, mode: String, destination: String, started: ContinuousClock.Instant) {
    // Latency over batching: the relay forwards whatever it read at once, so Nagle would only add
    // delay. Keepalive on the target like kftray-server (60 s idle, 10 s interval, 3 probes), so a
    // vanished target does not pin the connection forever.
    try? client.setOption(Int32(IPPROTO_TCP), TCP_NODELAY, Int32(1), "TCP_NODELAY")
    try? remote.setOption(Int32(IPPROTO_TCP), TCP_NODELAY, Int32(1), "TCP_NODELAY")
    try? remote.setOption(SOL_SOCKET, SO_KEEPALIVE, Int32(1), "SO_KEEPALIVE")
    #if os(Linux)
    try? remote.setOption(Int32(IPPROTO_TCP), TCP_KEEPIDLE, Int32(60), "TCP_KEEPIDLE")
    try? remote.setOption(Int32(IPPROTO_TCP), TCP_KEEPINTVL, Int32(10), "TCP_KEEPINTVL")
    try? remote.setOption(Int32(IPPROTO_TCP), TCP_KEEPCNT, Int32(3), "TCP_KEEPCNT")
    #endif
    log.info("conn #\(id) \(mode) open: \(peer) -> \(destination) (\(remoteAddress))")
    let outcome = TCPRelay.run(client, remote, firstName: "client", secondName: "target")
    let ending = outcome.failure.map { "error: \($0)" } ?? "closed both ways"
    log.info(
      "conn #\(id) \(mode) close: \(peer) -> \(destination), \(outcome.forwarded) bytes to target, "
        + "\(outcome.returned) bytes to client, \(elapsed(since: started)), \(ending)")
  }

  private func runUDP(started: ContinuousClock.Instant) {
    let socket: Socket
    let remoteAddress: SocketAddress
    do throws(SocketError) {
      // Resolved per connection, like kftray-server's UdpSocket::connect((REMOTE_ADDRESS, port)).
      // The socket takes the family of the address (kftray-server binds 0.0.0.0:0, IPv4 only).
      let addresses = try SocketAddress.resolve(
        host: configuration.remoteAddress, port: configuration.remotePort, socketType: socketDatagram)
      remoteAddress = addresses[0]
      socket = try Socket.make(family: remoteAddress.family, type: socketDatagram)
      let rc = remoteAddress.withSockAddr { connect(socket.fd, $0, $1) }
      guard rc == 0 else { throw .system(operation: "connect udp \(remoteAddress)", errno: errno) }
    } catch {
      log.error("conn #\(id) udp from \(peer): cannot set up the UDP socket for \(target): \(error); closing the client connection")
      client.close()
      return
    }
    connections.add(socket, to: id)
    log.info("conn #\(id) udp open: \(peer) -> \(target) (\(remoteAddress))")
    let outcome = UDPLockstep.run(client: client, target: socket, replyTimeout: configuration.udpReplyTimeout)
    let ending = outcome.failure.map { "error: \($0)" } ?? "client closed"
    log.info(
      "conn #\(id) udp close: \(peer) -> \(target), \(outcome.requests) datagrams (\(outcome.bytesSent) bytes) sent, "
        + "\(outcome.replies) replies (\(outcome.bytesReceived) bytes), \(outcome.timeouts) timeouts, "
        + "\(elapsed(since: started)), \(ending)")
  }

  private func elapsed(since start: ContinuousClock.Instant) -> String {
    let milliseconds = (ContinuousClock.now - start) / .milliseconds(1)
    return "\(Int(milliseconds)) ms"
  }
}
