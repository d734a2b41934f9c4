#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Why the relay could not start listening.
public struct RelayStartError: Error, Sendable, Equatable, CustomStringConvertible {
  public var underlying: SocketError
  public var port: UInt16

  public init(underlying: SocketError, port: UInt16) {
    self.underlying = underlying
    self.port = port
  }

  public var description: String {
    if underlying.errno == EACCES {
      return "\(underlying); ports below 1024 need privileges, a non-root relay needs LOCAL_PORT >= 1024 (got \(port))"
    }
    return "cannot listen on port \(port): \(underlying)"
  }
}

/// The relay's lifecycle: listeners, the accept loop, one thread per connection, and graceful
/// shutdown. Blocking sockets on threads rather than SwiftNIO: the UDP mode is a blocking lockstep
/// by contract, blocking writes give the TCP relay its backpressure for free, and the binary
/// links neither NIO nor Foundation. A relay pod serves a handful of port-forward streams, so a
/// thread (or two) per connection is cheap.
public final class RelayServer: Sendable {
  public let configuration: RelayConfiguration
  /// The port actually listened on (differs from the configuration when that asked for 0).
  public let port: UInt16
  /// What is listened on, e.g. `["0.0.0.0:8080", "[::]:8080"]`.
  public let listenAddresses: [String]

  private let log: RelayLog
  private let listeners: [Socket]
  private let wakeRead: Socket
  private let wakeWrite: Socket
  private let connections = ConnectionRegistry()
  private let acceptThread = Mutex<pthread_t?>(nil)
  private let stopped = Mutex(false)

  /// Binds the listeners and starts accepting. IPv4 `0.0.0.0` is required (as in kftray-server);
  /// IPv6 `[::]` is added when the host supports it and the port is free there, else logged.
  public static func start(configuration: RelayConfiguration, log: RelayLog = .standardError) throws(RelayStartError) -> RelayServer {
    let v4: Socket
    do {
      v4 = try Socket.listen(family: AF_INET, port: configuration.localPort)
    } catch {
      throw RelayStartError(underlying: error, port: configuration.localPort)
    }
    let port = v4.localAddress().map { address in
      address.withSockAddr { pointer, _ in
        pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
      }
    } ?? configuration.localPort
    var listeners = [v4]
    var addresses = ["0.0.0.0:\(port)"]
    if configuration.listenOnIPv6 {
      do {
        listeners.append(try Socket.listen(family: AF_INET6, port: port))
        addresses.append("[::]:\(port)")
      } catch {
        log.warning("IPv6 listener not available, serving IPv4 only: \(error)")
      }
    }
    var pipeFDs: [Int32] = [0, 0]
    guard pipe(&pipeFDs) == 0 else {
      throw RelayStartError(underlying: .system(operation: "pipe", errno: errno), port: port)
    }
    let server = RelayServer(
      configuration: configuration, port: port, listenAddresses: addresses, log: log,
      listeners: listeners, wakeRead: Socket(fd: pipeFDs[0]), wakeWrite: Socket(fd: pipeFDs[1]))
    do {
      let thread = try Threads.start(detached: false) { [server] in server.acceptLoop() }
      server.acceptThread.withLock { $0 = thread }
    } catch {
      throw RelayStartError(underlying: error, port: port)
    }
    if configuration.proxyType == .dynamic {
      log.info(
        "kftray-relay listening on \(addresses.joined(separator: " and ")), mode dynamic, allowed destinations: "
          + "\(configuration.allow)")
      return server
    }
    // Like kftray-server, resolve once at startup only to warn early in the pod log; every
    // connection resolves again, so a name that starts resolving later still works.
    do {
      let resolved = try SocketAddress.resolve(
        host: configuration.remoteAddress, port: configuration.remotePort, socketType: socketStream)
      log.info("target \(configuration.remoteAddress) resolves to \(resolved.map(\.description).joined(separator: ", "))")
    } catch {
      log.warning("\(error); will retry for every connection")
    }
    log.info(
      "kftray-relay listening on \(addresses.joined(separator: " and ")), mode \(configuration.proxyType.rawValue), "
        + "target \(configuration.remoteAddress):\(configuration.remotePort)")
    return server
  }

  private init(
    configuration: RelayConfiguration, port: UInt16, listenAddresses: [String], log: RelayLog,
    listeners: [Socket], wakeRead: Socket, wakeWrite: Socket
  ) {
    self.configuration = configuration
    self.port = port
    self.listenAddresses = listenAddresses
    self.log = log
    self.listeners = listeners
    self.wakeRead = wakeRead
    self.wakeWrite = wakeWrite
  }

  /// The number of connections being served right now.
  public var activeConnections: Int { connections.count }

  public struct ShutdownResult: Sendable, Equatable {
    /// Connections still open when the grace period ended, which were then cut.
    public var cutConnections: Int
  }

  /// Stops accepting, lets open connections finish for at most `grace`, then cuts the rest.
  /// Blocks until done. Calling it again returns at once.
  @discardableResult
  public func shutdown(grace: Duration? = nil) -> ShutdownResult {
    let alreadyStopped = stopped.withLock { isStopped in
      defer { isStopped = true }
      return isStopped
    }
    if alreadyStopped { return ShutdownResult(cutConnections: 0) }

    var byte: UInt8 = 1
    _ = write(wakeWrite.fd, &byte, 1)
    if let thread = acceptThread.withLock({ $0 }) { Threads.join(thread) }
    let open = connections.count
    log.info("stopped accepting; waiting for \(open) open connection(s)")

    let deadline = ContinuousClock.now + (grace ?? configuration.shutdownGrace)
    while connections.count > 0 && ContinuousClock.now < deadline { sleepBriefly() }
    let cut = connections.cutAll()
    if cut > 0 {
      log.warning("grace period over, closing \(cut) connection(s)")
      // Cut connections end at once (their sockets are shut down); wait a little for their logs.
      let cutDeadline = ContinuousClock.now + .seconds(1)
      while connections.count > 0 && ContinuousClock.now < cutDeadline { sleepBriefly() }
    }
    wakeRead.close()
    wakeWrite.close()
    log.info("relay stopped")
    return ShutdownResult(cutConnections: cut)
  }

  private func sleepBriefly() {
    var interval = timespec(tv_sec: 0, tv_nsec: 10_000_000)
    nanosleep(&interval, nil)
  }

  // MARK: Accepting

  private func acceptLoop() {
    var descriptors = listeners.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
    descriptors.append(pollfd(fd: wakeRead.fd, events: Int16(POLLIN), revents: 0))
    // Like kftray-server: failing accepts (e.g. out of descriptors) back off from 10 ms to 5 s.
    var backoff = Duration.milliseconds(10)
    accepting: while true {
      let ready = pollRetrying(&descriptors, count: descriptors.count, timeout: nil)
      if ready < 0 {
        log.error("poll on listeners failed: \(errnoDescription(errno))")
        if waitForWake(backoff) { break accepting }
        continue
      }
      if descriptors[descriptors.count - 1].revents != 0 { break accepting }
      for index in listeners.indices where descriptors[index].revents != 0 {
        while true {
          var peer = SocketAddress()
          peer.length = socklen_t(MemoryLayout<sockaddr_storage>.size)
          let fd = withUnsafeMutablePointer(to: &peer.storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { acceptConnection(listeners[index].fd, $0, &peer.length) }
          }
          if fd >= 0 {
            backoff = .milliseconds(10)
            serve(Socket(fd: fd), peer: peer)
            continue
          }
          let code = errno
          if code == EAGAIN || code == EWOULDBLOCK { break }
          if code == EINTR || code == ECONNABORTED || code == EPROTO { continue }
          log.error("accept failed: \(errnoDescription(code)); retrying in \(backoff)")
          if waitForWake(backoff) { break accepting }
          backoff = min(backoff * 2, .seconds(5))
          break
        }
      }
    }
    for listener in listeners { listener.close() }
  }

  /// Sleeps for `duration` unless shutdown is requested first; returns true on shutdown.
  private func waitForWake(_ duration: Duration) -> Bool {
    var descriptor = pollfd(fd: wakeRead.fd, events: Int16(POLLIN), revents: 0)
    return pollRetrying(&descriptor, count: 1, timeout: duration) > 0
  }

  private func serve(_ client: Socket, peer: SocketAddress) {
    let id = connections.register(client)
    let configuration = configuration
    let log = log
    let connections = connections
    do {
      _ = try Threads.start(detached: true) {
        ConnectionHandler(id: id, client: client, peer: peer, configuration: configuration, log: log, connections: connections).run()
        connections.remove(id)
      }
    } catch {
      log.error("conn #\(id) from \(peer): cannot start a thread: \(error)")
      client.close(abortive: true)
      connections.remove(id)
    }
  }
}

/// accept(2), then close-on-exec (accept4 is not visible to Swift without _GNU_SOURCE) and blocking
/// mode: the connection threads block, and not every platform clears the listener's O_NONBLOCK.
private func acceptConnection(_ listener: Int32, _ address: UnsafeMutablePointer<sockaddr>, _ length: UnsafeMutablePointer<socklen_t>) -> Int32 {
  let fd = accept(listener, address, length)
  if fd >= 0 {
    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
  }
  return fd
}

/// The sockets of every open connection, so that shutdown can count them and cut them when the
/// grace period ends. Once cut, sockets added later (a target connected during the cut) are shut
/// down on arrival.
final class ConnectionRegistry: Sendable {
  private struct State {
    var nextID: UInt64 = 1
    var sockets: [UInt64: [Socket]] = [:]
    var cut = false
  }
  private let state = Mutex(State())

  var count: Int { state.withLock { $0.sockets.count } }

  func register(_ socket: Socket) -> UInt64 {
    let (id, cut) = state.withLock { state in
      let id = state.nextID
      state.nextID += 1
      state.sockets[id] = [socket]
      return (id, state.cut)
    }
    if cut { socket.shutdown(.both) }
    return id
  }

  func add(_ socket: Socket, to id: UInt64) {
    let cut = state.withLock { state in
      state.sockets[id, default: []].append(socket)
      return state.cut
    }
    if cut { socket.shutdown(.both) }
  }

  func remove(_ id: UInt64) {
    _ = state.withLock { $0.sockets.removeValue(forKey: id) }
  }

  /// Shuts down every registered socket; returns how many connections were open.
  func cutAll() -> Int {
    let open = state.withLock { state in
      state.cut = true
      return Array(state.sockets.values)
    }
    for sockets in open { for socket in sockets { socket.shutdown(.both) } }
    return open.count
  }
}
