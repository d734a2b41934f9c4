import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The "pod" behind the echo relay: a loopback TCP echo server, one thread per connection (the
/// benchmark opens at most a few hundred at once), each echoing until EOF.
public enum EchoServer {
  /// Binds and serves forever on the calling thread; `ready` gets the bound port first.
  public static func serve(port: UInt16, ready: (UInt16) -> Void) throws(BenchError) -> Never {
    let (fd, bound) = try LoopbackSocket.listen(port: port)
    ready(bound)
    while true {
      let client = accept(fd, nil, nil)
      if client < 0 {
        if errno == EINTR || errno == ECONNABORTED || errno == EMFILE { continue }
        throw BenchError("accept: \(LoopbackSocket.errnoText())")
      }
      var one: Int32 = 1
      setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
      let thread = Thread { echo(client) }
      thread.stackSize = 256 * 1024
      thread.start()
    }
  }

  private static func echo(_ fd: Int32) {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    defer {
      buffer.deallocate()
      close(fd)
    }
    while true {
      let n = recv(fd, buffer.baseAddress, buffer.count, 0)
      if n <= 0 { return }
      var off = 0
      while off < n {
        let w = send(fd, buffer.baseAddress! + off, n - off, Int32(MSG_NOSIGNAL))
        if w <= 0 { return }
        off += w
      }
    }
  }
}
