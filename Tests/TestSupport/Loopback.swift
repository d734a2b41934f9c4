import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

// Loopback sockets for tests, written independently of the product's own socket code so that the
// tests do not share its bugs. Everything here talks to 127.0.0.1 or ::1 only.

/// A TCP port free on every address, for a listener a test starts right after (the plugin, a helper).
///
/// Taken below the kernel's ephemeral range (`ip_local_port_range`, 32768-60999 by default), which
/// the kernel hands to every outgoing connection: a port it picked for `bind(0)` and that was released
/// again was seen taken as another test's connection's source port before the plugin could listen on
/// it. Below the range only a listener can take a port, and `PortPicker` gives each one out once per
/// test process, starting at a random place so that two test processes rarely meet.
public func freeLoopbackPort() throws -> Int {
  for _ in 0..<PortPicker.span {
    let port = PortPicker.next()
    if portIsFree(port) { return port }
  }
  throw TestFailure("no free port in \(PortPicker.first)..<\(PortPicker.first + PortPicker.span)")
}

enum PortPicker {
  static let first = 10000
  static let span = 22000
  private static let counter = Atomic<Int>(Int.random(in: 0..<span))

  static func next() -> Int {
    first + counter.add(1, ordering: .relaxed).newValue % span
  }
}

/// Whether a listener could bind `port` on 0.0.0.0 (and so on 127.0.0.1) right now.
private func portIsFree(_ port: Int) -> Bool {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { return false }
  defer { close(fd) }
  var addr = sockaddr_in()
  addr.sin_family = sa_family_t(AF_INET)
  addr.sin_addr.s_addr = INADDR_ANY
  addr.sin_port = UInt16(port).bigEndian
  return withUnsafePointer(to: &addr) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
  }
}

/// Waits until something accepts connections on 127.0.0.1:port.
public func waitForLoopbackPort(_ port: Int, seconds: Double = 10) async throws {
  let deadline = ContinuousClock.now + .seconds(seconds)
  while ContinuousClock.now < deadline {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    let connected = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    close(fd)
    if connected { return }
    try await Task.sleep(for: .milliseconds(50))
  }
  throw TestFailure("nothing listens on 127.0.0.1:\(port)")
}

/// A blocking TCP connection to 127.0.0.1:port (or [::1]:port with `ipv6`) with send and receive
/// timeouts, so that a broken peer fails the test instead of hanging it. The caller closes the socket.
public func connectLoopback(_ port: UInt16, ipv6: Bool = false, timeoutSeconds: Int = 60) throws -> Int32 {
  let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
  guard fd >= 0 else { throw TestFailure("socket: \(String(cString: strerror(errno)))") }
  var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
  let rc: Int32
  if ipv6 {
    var address = sockaddr_in6()
    address.sin6_family = sa_family_t(AF_INET6)
    address.sin6_port = port.bigEndian
    address.sin6_addr = in6addr_loopback
    rc = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
    }
  } else {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    rc = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
  }
  guard rc == 0 else {
    let code = errno
    close(fd)
    throw TestFailure("connect to \(ipv6 ? "[::1]" : "127.0.0.1"):\(port): \(String(cString: strerror(code)))")
  }
  return fd
}

/// FNV-1a 64: a cheap checksum that catches reordered, lost or duplicated bytes.
public func checksum(_ bytes: [UInt8]) -> UInt64 {
  bytes.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
}

/// Sends `payload` on a connected socket, half-closes it, and reads until the peer's EOF (or the
/// socket's receive timeout): one request/answer exchange with an echo or HTTP server.
public func exchange(_ fd: Int32, _ payload: [UInt8]) -> [UInt8] {
  _ = payload.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
  shutdown(fd, Int32(SHUT_WR))
  var received: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 65536)
  while true {
    let n = recv(fd, &buffer, buffer.count, 0)
    if n <= 0 { break }
    received += buffer[0..<n]
  }
  return received
}

/// A socket listening on 127.0.0.1 at a free port, holding that port until it is released (for
/// "port in use" cases).
public final class HeldLoopbackPort: Sendable {
  public let port: Int
  private let fd: Int32

  public init() throws {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard ok, listen(fd, 1) == 0 else {
      close(fd)
      throw TestFailure("cannot hold a loopback port: \(String(cString: strerror(errno)))")
    }
    self.fd = fd
    port = Int(UInt16(bigEndian: address.sin_port))
  }

  deinit { close(fd) }
}
