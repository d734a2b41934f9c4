import Foundation
import KubeClient
import PortForwardCodecs

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A bound, listening, non-blocking loopback socket.
public struct BoundAddress: Sendable, Equatable, CustomStringConvertible {
  /// "127.0.0.1" or "::1".
  public var address: String
  public var port: UInt16
  public var description: String { address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)" }
}

enum LoopbackListener {
  /// Listens on each address (IPv4 or IPv6 literal) on one port; with port 0 the kernel picks it
  /// for the first address and the others take the same. Any address failing is an error (an
  /// explicit list means the caller wants all of them).
  static func listenAll(addresses: [String], port: UInt16) throws(PortForwarderError) -> [(fd: Int32, bound: BoundAddress)] {
    if addresses.isEmpty || addresses == ["127.0.0.1", "::1"] { return try bindBoth(port: port) }
    var result: [(fd: Int32, bound: BoundAddress)] = []
    var chosen = port
    for address in addresses {
      switch listen(address: address, port: chosen) {
      case .success(let l):
        result.append(l)
        chosen = l.bound.port
      case .failure(let error):
        result.forEach { closeDescriptor($0.fd) }
        throw error
      }
    }
    return result
  }

  /// Listens on 127.0.0.1 and [::1] on one port (0: the kernel picks it for the first, the second
  /// takes the same). Like kubectl, one address failing is tolerated, both failing is an error.
  static func bindBoth(port: UInt16) throws(PortForwarderError) -> [(fd: Int32, bound: BoundAddress)] {
    var attempts = 0
    while true {
      attempts += 1
      let v4 = listen(ipv6: false, port: port)
      let chosen: UInt16
      var result: [(fd: Int32, bound: BoundAddress)] = []
      switch v4 {
      case .success(let l):
        result.append(l)
        chosen = l.bound.port
      case .failure(let error):
        if port != 0 { chosen = port } else { chosen = 0 }
        if case .bind(_, _, let code) = error, code == EADDRINUSE, port != 0 { throw error }
      }
      switch listen(ipv6: true, port: chosen) {
      case .success(let l): result.append(l)
      case .failure(let error):
        // A kernel-chosen v4 port can be taken on ::1 by someone else: pick another pair.
        if port == 0, case .bind(_, _, let code) = error, code == EADDRINUSE, attempts < 10 {
          result.forEach { closeDescriptor($0.fd) }
          continue
        }
        if result.isEmpty { throw error }
      }
      if result.isEmpty, case .failure(let error) = v4 { throw error }
      return result
    }
  }

  private static func listen(ipv6: Bool, port: UInt16) -> Result<(fd: Int32, bound: BoundAddress), PortForwarderError> {
    listen(address: ipv6 ? "::1" : "127.0.0.1", port: port)
  }

  private static func listen(address: String, port: UInt16) -> Result<(fd: Int32, bound: BoundAddress), PortForwarderError> {
    let ipv6 = address.contains(":")
    let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return .failure(.socket("socket(): \(String(cString: strerror(errno)))")) }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    if ipv6 { setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size)) }
    var bound: UInt16 = 0
    let ok: Bool
    if ipv6 {
      var addr = sockaddr_in6()
      addr.sin6_family = sa_family_t(AF_INET6)
      guard inet_pton(AF_INET6, address, &addr.sin6_addr) == 1 else {
        closeDescriptor(fd)
        return .failure(.socket("not an IPv6 address: \(address)"))
      }
      addr.sin6_port = port.bigEndian
      var len = socklen_t(MemoryLayout<sockaddr_in6>.size)
      ok = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
      }
      bound = UInt16(bigEndian: addr.sin6_port)
    } else {
      var addr = sockaddr_in()
      addr.sin_family = sa_family_t(AF_INET)
      guard inet_pton(AF_INET, address, &addr.sin_addr) == 1 else {
        closeDescriptor(fd)
        return .failure(.socket("not an IPv4 address: \(address)"))
      }
      addr.sin_port = port.bigEndian
      var len = socklen_t(MemoryLayout<sockaddr_in>.size)
      ok = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
      }
      bound = UInt16(bigEndian: addr.sin_port)
    }
    guard ok, Glibc.listen(fd, 512) == 0 else {
      let code = errno
      closeDescriptor(fd)
      return .failure(.bind(address: address, port: port, errno: code))
    }
    setNonBlocking(fd)
    return .success((fd, BoundAddress(address: address, port: bound)))
  }
}

func setNonBlocking(_ fd: Int32) {
  _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
  _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
}
