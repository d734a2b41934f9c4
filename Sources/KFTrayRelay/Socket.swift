// Thin, typed wrappers over POSIX sockets. The relay uses blocking sockets on dedicated threads
// (see RelayServer for why), so these helpers are blocking except where a timeout is needed.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

#if os(Linux)
private let sendFlags = Int32(MSG_NOSIGNAL)  // a peer that went away must not raise SIGPIPE
package let socketStream = Int32(SOCK_STREAM.rawValue)
let socketDatagram = Int32(SOCK_DGRAM.rawValue)
private let cloexec = Int32(SOCK_CLOEXEC.rawValue)
#else
private let sendFlags: Int32 = 0
package let socketStream = SOCK_STREAM
let socketDatagram = SOCK_DGRAM
private let cloexec: Int32 = 0
#endif

/// A failed socket operation, with enough context for one log line.
public enum SocketError: Error, Sendable, Equatable, CustomStringConvertible {
  case system(operation: String, errno: Int32)
  case resolution(host: String, message: String)
  case timedOut(operation: String)
  case clientGone(operation: String)

  public var errno: Int32? {
    if case let .system(_, code) = self { return code }
    return nil
  }

  public var description: String {
    switch self {
    case let .system(operation, code): return "\(operation): \(errnoDescription(code))"
    case let .resolution(host, message): return "cannot resolve \(host): \(message)"
    case let .timedOut(operation): return "\(operation): timed out"
    case let .clientGone(operation): return "\(operation): abandoned, the client connection is gone"
    }
  }
}

// File-scope forwarders: inside `Socket`, the method names `close`, `shutdown`, `connect` and
// `listen` shadow the C functions, and qualifying them with `Glibc.` would not build against Musl.
private func sysClose(_ fd: Int32) -> Int32 { close(fd) }
private func sysShutdown(_ fd: Int32, _ how: Int32) -> Int32 { shutdown(fd, how) }
private func sysConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
  connect(fd, address, length)
}
private func sysListen(_ fd: Int32, _ backlog: Int32) -> Int32 { listen(fd, backlog) }

func errnoDescription(_ code: Int32) -> String {
  String(cString: strerror(code))
}

/// A resolved socket address (IPv4 or IPv6), printable as `1.2.3.4:80` or `[::1]:80`.
package struct SocketAddress: Sendable, CustomStringConvertible {
  var storage = sockaddr_storage()
  var length: socklen_t = 0

  var family: Int32 { Int32(storage.ss_family) }

  /// The address alone: 4 bytes for IPv4, 16 for IPv6.
  var ipBytes: [UInt8] {
    withUnsafeBytes(of: storage) { raw in
      family == AF_INET6 ? Array(raw[8..<24]) : Array(raw[4..<8])
    }
  }

  func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    withUnsafePointer(to: storage) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
    }
  }

  package var description: String {
    var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
    var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
    let rc = withSockAddr { address, length in
      getnameinfo(
        address, length, &host, socklen_t(host.count), &service, socklen_t(service.count),
        NI_NUMERICHOST | NI_NUMERICSERV)
    }
    guard rc == 0 else { return "?" }
    let hostString = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let serviceString = String(decoding: service.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return family == AF_INET6 ? "[\(hostString)]:\(serviceString)" : "\(hostString):\(serviceString)"
  }

  /// Resolves `host` with the system resolver (getaddrinfo), in its preferred order. Called per
  /// connection so that a Service whose IP changes, or a name that starts resolving later, is followed.
  package static func resolve(host: String, port: UInt16, socketType: Int32) throws(SocketError) -> [SocketAddress] {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = socketType
    hints.ai_flags = AI_NUMERICSERV
    var list: UnsafeMutablePointer<addrinfo>?
    let rc = getaddrinfo(host, String(port), &hints, &list)
    guard rc == 0, let first = list else {
      let message = rc == EAI_SYSTEM ? errnoDescription(errno) : String(cString: gai_strerror(rc))
      throw .resolution(host: host, message: message)
    }
    defer { freeaddrinfo(first) }
    var result: [SocketAddress] = []
    var cursor: UnsafeMutablePointer<addrinfo>? = first
    while let entry = cursor {
      if let address = entry.pointee.ai_addr, entry.pointee.ai_addrlen <= socklen_t(MemoryLayout<sockaddr_storage>.size) {
        var resolved = SocketAddress()
        withUnsafeMutableBytes(of: &resolved.storage) { destination in
          destination.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(entry.pointee.ai_addrlen)))
        }
        resolved.length = entry.pointee.ai_addrlen
        result.append(resolved)
      }
      cursor = entry.pointee.ai_next
    }
    guard !result.isEmpty else { throw .resolution(host: host, message: "no addresses") }
    return result
  }
}

/// An owned socket descriptor. `shutdown` may be called from any thread (the server uses it to end
/// connections at the end of the shutdown grace period); `close` is called once, by the owner. The
/// lock makes sure a shutdown never reaches a descriptor number that was closed and reused.
package final class Socket: Sendable {
  package let fd: Int32
  private let closed = Mutex(false)

  package init(fd: Int32) { self.fd = fd }

  deinit { if !closed.withLock({ $0 }) { _ = sysClose(fd) } }

  static func make(family: Int32, type: Int32, nonBlocking: Bool = false) throws(SocketError) -> Socket {
    let fd = socket(family, type | cloexec, 0)
    guard fd >= 0 else { throw .system(operation: "socket", errno: errno) }
    let socket = Socket(fd: fd)
    if nonBlocking { try socket.setNonBlocking(true) }
    return socket
  }

  func setNonBlocking(_ on: Bool) throws(SocketError) {
    let flags = fcntl(fd, F_GETFL)
    let updated = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
    guard flags >= 0, fcntl(fd, F_SETFL, updated) == 0 else {
      throw .system(operation: "fcntl(O_NONBLOCK)", errno: errno)
    }
  }

  package func setOption<T: BitwiseCopyable>(_ level: Int32, _ name: Int32, _ value: T, _ what: String) throws(SocketError) {
    let rc = withUnsafeBytes(of: value) { setsockopt(fd, level, name, $0.baseAddress, socklen_t($0.count)) }
    guard rc == 0 else {
      throw .system(operation: "setsockopt(\(what))", errno: errno)
    }
  }

  /// The error pending on the socket (SO_ERROR), e.g. the result of a non-blocking connect.
  func pendingError() -> Int32 {
    var value: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) == 0 else { return errno }
    return value
  }

  func localAddress() -> SocketAddress? {
    var address = SocketAddress()
    address.length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let rc = withUnsafeMutablePointer(to: &address.storage) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &address.length) }
    }
    return rc == 0 ? address : nil
  }

  /// Receives at most `buffer.count` bytes; 0 means end of stream (or an empty datagram).
  package func receive(into buffer: UnsafeMutableRawBufferPointer) throws(SocketError) -> Int {
    while true {
      let n = recv(fd, buffer.baseAddress, buffer.count, 0)
      if n >= 0 { return n }
      if errno == EINTR { continue }
      throw .system(operation: "recv", errno: errno)
    }
  }

  /// Reads exactly `buffer.count` bytes. Returns the number read, which is short only at end of stream.
  package func receiveExactly(into buffer: UnsafeMutableRawBufferPointer) throws(SocketError) -> Int {
    var filled = 0
    while filled < buffer.count {
      let n = try receive(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
      if n == 0 { break }
      filled += n
    }
    return filled
  }

  /// Sends the whole buffer, blocking while the peer's window is full: that blocking is the relay's
  /// backpressure (the reading side stops reading until the write completes).
  package func sendAll(_ buffer: UnsafeRawBufferPointer) throws(SocketError) {
    var sent = 0
    repeat {
      let n = send(fd, buffer.baseAddress.map { $0 + sent }, buffer.count - sent, sendFlags)
      if n >= 0 {
        sent += n
      } else if errno != EINTR {
        throw .system(operation: "send", errno: errno)
      }
    } while sent < buffer.count
  }

  package enum ShutdownDirection { case write, both }

  package func sendAll(_ bytes: [UInt8]) throws(SocketError) {
    let result = bytes.withUnsafeBytes { buffer in
      Result { () throws(SocketError) in try sendAll(buffer) }
    }
    try result.get()
  }

  /// Half- or full shutdown; safe from any thread, a no-op once closed. Errors (ENOTCONN after the
  /// peer reset) are ignored: there is nothing left to do with the socket either way.
  package func shutdown(_ direction: ShutdownDirection) {
    let how = direction == .write ? Int32(SHUT_WR) : Int32(SHUT_RDWR)
    closed.withLock { isClosed in
      if !isClosed { _ = sysShutdown(fd, how) }
    }
  }

  /// Closes the descriptor. `abortive` sets SO_LINGER 0 first, so the peer sees a reset instead of
  /// an orderly end: used when the other side of a relay failed, to pass the failure on.
  package func close(abortive: Bool = false) {
    if abortive { try? setOption(SOL_SOCKET, SO_LINGER, linger(l_onoff: 1, l_linger: 0), "SO_LINGER") }
    closed.withLock { isClosed in
      if !isClosed {
        isClosed = true
        _ = sysClose(fd)
      }
    }
  }

  /// Connects a new stream socket to the first address that accepts within `timeout` (total).
  /// `abandonIfHungUp` is watched for hang-up meanwhile: a client that is gone (or cut by the
  /// server's shutdown) ends the attempt instead of waiting out the timeout.
  package static func connect(
    to addresses: [SocketAddress], timeout: Duration, abandonIfHungUp watched: Socket? = nil
  ) throws(SocketError) -> (Socket, SocketAddress) {
    let deadline = ContinuousClock.now + timeout
    var lastError = SocketError.timedOut(operation: "connect")
    for address in addresses {
      let remaining = deadline - ContinuousClock.now
      guard remaining > .zero else { break }
      do throws(SocketError) {
        let socket = try Socket.make(family: address.family, type: socketStream, nonBlocking: true)
        let rc = address.withSockAddr { sysConnect(socket.fd, $0, $1) }
        if rc != 0 {
          guard errno == EINPROGRESS else { throw .system(operation: "connect \(address)", errno: errno) }
          var descriptors = [pollfd(fd: socket.fd, events: Int16(POLLOUT), revents: 0)]
          if let watched { descriptors.append(pollfd(fd: watched.fd, events: 0, revents: 0)) }
          let ready = pollRetrying(&descriptors, count: descriptors.count, timeout: remaining)
          guard ready > 0 else { throw .timedOut(operation: "connect \(address)") }
          if descriptors[0].revents == 0 { throw .clientGone(operation: "connect \(address)") }
          let code = socket.pendingError()
          guard code == 0 else { throw .system(operation: "connect \(address)", errno: code) }
        }
        try socket.setNonBlocking(false)
        return (socket, address)
      } catch {
        if case .clientGone = error { throw error }
        lastError = error
      }
    }
    throw lastError
  }

  /// A listening socket on the wildcard address of `family`. IPv6 listeners are IPv6-only so that
  /// they never collide with the IPv4 listener on the same port.
  static func listen(family: Int32, port: UInt16) throws(SocketError) -> Socket {
    let socket = try Socket.make(family: family, type: socketStream, nonBlocking: true)
    // Like tokio's TcpListener::bind: a restarted relay can rebind while old connections linger.
    try socket.setOption(SOL_SOCKET, SO_REUSEADDR, Int32(1), "SO_REUSEADDR")
    var address = SocketAddress()
    if family == AF_INET6 {
      try socket.setOption(Int32(IPPROTO_IPV6), IPV6_V6ONLY, Int32(1), "IPV6_V6ONLY")
      var v6 = sockaddr_in6()
      v6.sin6_family = sa_family_t(AF_INET6)
      v6.sin6_port = port.bigEndian
      v6.sin6_addr = in6addr_any
      withUnsafeMutableBytes(of: &address.storage) { $0.storeBytes(of: v6, as: sockaddr_in6.self) }
      address.length = socklen_t(MemoryLayout<sockaddr_in6>.size)
    } else {
      var v4 = sockaddr_in()
      v4.sin_family = sa_family_t(AF_INET)
      v4.sin_port = port.bigEndian
      v4.sin_addr.s_addr = INADDR_ANY
      withUnsafeMutableBytes(of: &address.storage) { $0.storeBytes(of: v4, as: sockaddr_in.self) }
      address.length = socklen_t(MemoryLayout<sockaddr_in>.size)
    }
    let bound = address.withSockAddr { bind(socket.fd, $0, $1) }
    guard bound == 0 else { throw .system(operation: "bind \(address)", errno: errno) }
    // 1024 like tokio's default backlog.
    guard sysListen(socket.fd, 1024) == 0 else { throw .system(operation: "listen \(address)", errno: errno) }
    return socket
  }
}

/// poll(2) with EINTR retried against a deadline. Returns poll's result (0 on timeout, -1 on error).
func pollRetrying(_ descriptors: UnsafeMutablePointer<pollfd>, count: Int, timeout: Duration?) -> Int32 {
  let deadline = timeout.map { ContinuousClock.now + $0 }
  while true {
    var milliseconds: Int32 = -1
    if let deadline {
      let remaining = deadline - ContinuousClock.now
      let (seconds, attoseconds) = remaining.components
      // Round up so a short remaining time does not busy-spin at 0 ms.
      let total = max(0, seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
      milliseconds = Int32(min(total, Int64(Int32.max)))
    }
    let rc = poll(descriptors, nfds_t(count), milliseconds)
    if rc >= 0 || errno != EINTR { return rc }
  }
}
