import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A socket call that failed, with the address it was about and the system's reason.
public struct TestServerError: Error, CustomStringConvertible, Sendable {
  public var description: String
  init(_ operation: String, errno code: Int32) {
    description = "\(operation): \(String(cString: strerror(code)))"
  }
  init(_ message: String) { description = message }
}

/// An IPv4 or IPv6 socket address parsed from a numeric string (no name resolution: the test
/// server only ever binds addresses it is given or the wildcards).
struct BindAddress: Sendable, CustomStringConvertible {
  var storage = sockaddr_storage()
  var length: socklen_t = 0
  var family: Int32 { Int32(storage.ss_family) }
  let description: String

  init(_ text: String, port: UInt16) throws(TestServerError) {
    var v4 = in_addr()
    var v6 = in6_addr()
    if inet_pton(AF_INET, text, &v4) == 1 {
      var address = sockaddr_in()
      address.sin_family = sa_family_t(AF_INET)
      address.sin_port = port.bigEndian
      address.sin_addr = v4
      withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: address, as: sockaddr_in.self) }
      length = socklen_t(MemoryLayout<sockaddr_in>.size)
      description = "\(text):\(port)"
    } else if inet_pton(AF_INET6, text, &v6) == 1 {
      var address = sockaddr_in6()
      address.sin6_family = sa_family_t(AF_INET6)
      address.sin6_port = port.bigEndian
      address.sin6_addr = v6
      withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: address, as: sockaddr_in6.self) }
      length = socklen_t(MemoryLayout<sockaddr_in6>.size)
      description = "[\(text)]:\(port)"
    } else {
      throw TestServerError("not a numeric IPv4 or IPv6 address: \(text)")
    }
  }

  func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    withUnsafePointer(to: storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) } }
  }
}

/// Opens a bound socket of `type` (stream sockets also listen). IPv6 sockets are IPv6-only so
/// that `0.0.0.0` and `::` can both be bound on one port.
func openBoundSocket(_ address: BindAddress, type: Int32) throws(TestServerError) -> Int32 {
  let fd = socket(address.family, type | Int32(SOCK_CLOEXEC.rawValue), 0)
  guard fd >= 0 else { throw TestServerError("socket", errno: errno) }
  var one: Int32 = 1
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
  if address.family == AF_INET6 {
    setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
  }
  let bound = address.withSockAddr { bind(fd, $0, $1) }
  guard bound == 0 else {
    let code = errno
    close(fd)
    throw TestServerError("bind \(address)", errno: code)
  }
  // A deep backlog (the kernel caps it at net.core.somaxconn): the benchmarks open 500 connections
  // at once through relays, and a full queue drops SYNs, whose retransmits add whole seconds.
  if type == Int32(SOCK_STREAM.rawValue), listen(fd, 4096) != 0 {
    let code = errno
    close(fd)
    throw TestServerError("listen \(address)", errno: code)
  }
  return fd
}

/// The port a socket is bound to (the one the kernel picked when asked for port 0).
func boundPort(_ fd: Int32) -> UInt16 {
  var storage = sockaddr_storage()
  var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
  _ = withUnsafeMutablePointer(to: &storage) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
  }
  return withUnsafeBytes(of: storage) { raw in
    // sin_port and sin6_port sit at the same offset, right after the family.
    UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self))
  }
}

/// Sends all of `bytes`; false when the peer is gone.
func sendAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
  var sent = 0
  while sent < bytes.count {
    let n = send(fd, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
    if n < 0 {
      if errno == EINTR { continue }
      return false
    }
    sent += n
  }
  return true
}
