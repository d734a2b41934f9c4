import Foundation
import Testing

@testable import Benchmarks

#if canImport(Glibc)
  import Glibc
#endif

/// The concurrent probe against loopback servers: every echoed byte is checked, so a server that
/// changes one byte fails every connection.
@Suite struct ConcurrentProbeTests {
  @Test func anHonestEchoPasses() throws {
    let port = try Self.startServer(flippingByte: nil)
    let result = ConcurrentProbe.run(port: port, connections: 20, bytes: 100_000, timeoutSeconds: 30)
    #expect(result.failures == 0, "\(result.failureReasons)")
  }

  @Test func oneChangedByteFailsTheConnection() throws {
    let port = try Self.startServer(flippingByte: 70_000)
    let result = ConcurrentProbe.run(port: port, connections: 20, bytes: 100_000, timeoutSeconds: 30)
    #expect(result.failures == 20)
    #expect(result.failureReasons["echo differs from what was sent"] == 20)
  }

  /// An echo server on 127.0.0.1 that flips the byte at `flippingByte` (counted per connection).
  static func startServer(flippingByte: Int?) throws -> UInt16 {
    let (fd, port) = try LoopbackSocket.listen(port: 0)
    Thread.detachNewThread {
      while true {
        let client = accept(fd, nil, nil)
        guard client >= 0 else { continue }
        Thread.detachNewThread { echo(client, flipping: flippingByte) }
      }
    }
    return port
  }

  private static func echo(_ fd: Int32, flipping: Int?) {
    var buffer = [UInt8](repeating: 0, count: 16 * 1024)
    var offset = 0
    defer { close(fd) }
    while true {
      let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      if n <= 0 { return }
      if let flipping, flipping >= offset, flipping < offset + n { buffer[flipping - offset] ^= 0xFF }
      offset += n
      var sent = 0
      while sent < n {
        let m = buffer.withUnsafeBytes { send(fd, $0.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL)) }
        if m <= 0 { return }
        sent += m
      }
    }
  }
}
