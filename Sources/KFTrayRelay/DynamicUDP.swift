#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The relay's side of a UDP associate (`DynamicDestination`): datagrams framed on the stream go out
/// from one UDP socket per address family to the destination each names (checked against the
/// allow-list, names resolved in the cluster); whatever comes back is framed with its source. Full
/// duplex, unlike kftray's lockstep mode: replies may arrive in any number and order.
enum DynamicUDP {
  struct Outcome: Sendable, Equatable {
    var sent: UInt64 = 0
    var received: UInt64 = 0
    var denied: UInt64 = 0
    var unresolved: UInt64 = 0
  }

  static func run(client: Socket, allow: AllowList, log: RelayLog, id: UInt64) -> Outcome {
    var outcome = Outcome()
    var sockets: [Int32: Socket] = [:]  // by family
    var resolved: [String: SocketAddress] = [:]
    var frames = DatagramStreamReader()
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
    defer {
      buffer.deallocate()
      for socket in sockets.values { socket.close() }
    }
    func socket(for family: Int32) -> Socket? {
      if let existing = sockets[family] { return existing }
      guard let made = try? Socket.make(family: family, type: Int32(SOCK_DGRAM.rawValue)) else { return nil }
      sockets[family] = made
      return made
    }
    while true {
      var descriptors = [pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0)]
      let families = Array(sockets.keys)
      descriptors += families.map { pollfd(fd: sockets[$0]!.fd, events: Int16(POLLIN), revents: 0) }
      guard pollRetrying(&descriptors, count: descriptors.count, timeout: nil) > 0 else { break }
      // From the relay's UDP sockets back to the client, framed with the source.
      for (index, family) in families.enumerated() where descriptors[1 + index].revents != 0 {
        var source = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let n = withUnsafeMutablePointer(to: &source) {
          $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(sockets[family]!.fd, buffer.baseAddress, buffer.count, 0, $0, &length) }
        }
        guard n >= 0 else { continue }
        var from = SocketAddress()
        from.storage = source
        from.length = length
        let bytes = from.ipBytes
        let address: DynamicDestination.Address = bytes.count == 4 ? .ipv4(bytes) : .ipv6(bytes)
        let port = withUnsafeBytes(of: source) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
        let frame = DynamicDestination.datagramFrame(address, port: port, payload: UnsafeRawBufferPointer(rebasing: buffer[..<n]))
        do { try client.sendAll(frame) } catch { return outcome }
        outcome.received += 1
      }
      guard descriptors[0].revents != 0 else { continue }
      let n: Int
      do { n = try client.receive(into: buffer) } catch { return outcome }
      if n == 0 { return outcome }
      frames.append(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
      // Every complete frame: [length][address][payload]; one too long for a datagram ends the stream.
      while true {
        let next: ArraySlice<UInt8>?
        do { next = try frames.next() } catch { return outcome }
        guard let body = next else { break }
        guard let (address, port, payload) = DynamicDestination.decodeAddress(body) else { continue }
        let name: String? = if case .name(let n) = address { n } else { nil }
        let key = "\(address.host):\(port)"
        var destination = resolved[key]
        if destination == nil {
          destination = try? SocketAddress.resolve(host: address.host, port: port, socketType: Int32(SOCK_DGRAM.rawValue)).first
          if destination == nil {
            outcome.unresolved += 1
            log.info("conn #\(id) udp datagram to \(address):\(port) dropped: the name does not resolve")
            continue
          }
          resolved[key] = destination
        }
        guard let destination, allow.allows(name: name, addresses: [destination.ipBytes], port: port) else {
          outcome.denied += 1
          log.info("conn #\(id) udp datagram to \(address):\(port) dropped: not allowed by the allow-list")
          continue
        }
        guard let socket = socket(for: destination.family) else { continue }
        _ = payload.withUnsafeBytes { bytes in
          destination.withSockAddr { sendto(socket.fd, bytes.baseAddress, bytes.count, 0, $0, $1) }
        }
        outcome.sent += 1
      }
    }
    return outcome
  }
}
