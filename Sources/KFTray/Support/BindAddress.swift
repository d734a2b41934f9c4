#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// An IP literal and a port as a socket address, for binding the local sockets the plugin serves on
/// (UDP forwards, SOCKS5 and HTTP CONNECT front ends). After `bind` it holds the address the kernel
/// gave (the port, when 0 was asked for).
struct BindAddress {
  private(set) var storage = sockaddr_storage()
  private(set) var length: socklen_t
  let family: Int32

  /// nil when `host` is not an IPv4 or IPv6 literal.
  init?(host: String, port: UInt16) {
    if host.contains(":") {
      var a = sockaddr_in6()
      a.sin6_family = sa_family_t(AF_INET6)
      a.sin6_port = port.bigEndian
      guard inet_pton(AF_INET6, host, &a.sin6_addr) == 1 else { return nil }
      family = AF_INET6
      length = socklen_t(MemoryLayout<sockaddr_in6>.size)
      withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: withUnsafeBytes(of: a) { Array($0) }) }
    } else {
      var a = sockaddr_in()
      a.sin_family = sa_family_t(AF_INET)
      a.sin_port = port.bigEndian
      guard inet_pton(AF_INET, host, &a.sin_addr) == 1 else { return nil }
      family = AF_INET
      length = socklen_t(MemoryLayout<sockaddr_in>.size)
      withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: withUnsafeBytes(of: a) { Array($0) }) }
    }
  }

  /// bind(2), then getsockname(2) so `port` is the one in use.
  mutating func bind(_ fd: Int32) -> Bool {
    var length = self.length
    let ok = withUnsafeMutablePointer(to: &storage) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { systemBind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    self.length = length
    return ok
  }

  /// sin_port and sin6_port both sit right after the 2-byte family.
  var port: UInt16 { withUnsafeBytes(of: storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) } }

  /// The address alone: 4 bytes for IPv4, 16 for IPv6.
  var addressBytes: [UInt8] {
    withUnsafeBytes(of: storage) { family == AF_INET6 ? Array($0[8..<24]) : Array($0[4..<8]) }
  }
}

/// The C functions under the names this type's methods shadow (Glibc or Darwin alike).
private func systemBind(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
  bind(fd, address, length)
}

func systemListen(_ fd: Int32, _ backlog: Int32) -> Int32 { listen(fd, backlog) }
