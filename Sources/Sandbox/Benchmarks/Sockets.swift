#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A benchmark step failed; the message says which and why.
public struct BenchError: Error, CustomStringConvertible, Sendable {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// Plain blocking/non-blocking loopback sockets. Hand-written (not NIO) on purpose: the probes must
/// cost as little CPU as possible and behave like a simple client, so that what is measured is the
/// forward, not the load generator.
enum LoopbackSocket {
  static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

  static func address(port: UInt16, host: String = "127.0.0.1") -> sockaddr_in {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr(host)
    addr.sin_port = port.bigEndian
    return addr
  }

  /// A blocking connection to host:port (loopback) with TCP_NODELAY and, unless nil, I/O timeouts.
  static func connect(port: UInt16, host: String = "127.0.0.1", timeoutSeconds: Int? = 30) throws(BenchError) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchError("socket(): \(errnoText())") }
    setNoDelay(fd)
    if let timeoutSeconds {
      var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }
    var addr = address(port: port, host: host)
    let rc = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else {
      let code = errno
      Glibc.close(fd)
      throw BenchError("connect \(host):\(port): \(errnoText(code))")
    }
    return fd
  }

  static func setNoDelay(_ fd: Int32) {
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
  }

  /// A listening socket on `host` (an IPv4 literal; 127.0.0.1 unless a server runs as a pod, where it
  /// listens on 0.0.0.0 of the pod's own namespace). Port 0: the kernel picks.
  static func listen(port: UInt16, host: String = "127.0.0.1") throws(BenchError) -> (fd: Int32, port: UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchError("socket(): \(errnoText())") }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var addr = address(port: port, host: host)
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard ok, Glibc.listen(fd, 4096) == 0 else {
      let code = errno
      Glibc.close(fd)
      throw BenchError("listen on \(host):\(port): \(errnoText(code))")
    }
    return (fd, UInt16(bigEndian: addr.sin_port))
  }
}
