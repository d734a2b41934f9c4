import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// The other physical anchor of the client's CPU per GiB: what it costs any user-space program just
/// to move bytes from one loopback TCP socket to another on this machine, measured in the same run.
///
/// A client relays every byte between its local connection and its API server connection: one
/// `recv` (the kernel copies out of the socket) and one `send` (the kernel copies in, and on loopback
/// the sender's thread also runs the receiving side of TCP). That work does not depend on how the
/// client frames or encrypts, so no client can go below it plus the cipher. Measured on one thread
/// with 256 KiB buffers, no TLS, no framing, no polling: the relay thread's own CPU time, the lowest
/// of `rounds`.
public enum RelayFloor {
  public struct Result: Codable, Sendable, Equatable {
    public var bytesPerRound: Int
    public var rounds: Int
    public var bufferBytes: Int
    /// The relay thread's CPU seconds per GiB, the lowest round.
    public var secondsPerGiB: Double
    /// Every round's, in order.
    public var roundSecondsPerGiB: [Double]
  }

  public static func measure(bytes: Int, rounds: Int = 3, bufferBytes: Int = 256 * 1024) throws(BenchError) -> Result {
    guard bytes > 0, rounds > 0 else { throw BenchError("relay floor: bytes and rounds must be positive") }
    var perGiB: [Double] = []
    for _ in 0..<rounds {
      let seconds = try relayOnce(bytes: bytes, bufferBytes: bufferBytes)
      perGiB.append(seconds * PathCost.gibibyte / Double(bytes))
    }
    return Result(
      bytesPerRound: bytes, rounds: rounds, bufferBytes: bufferBytes, secondsPerGiB: perGiB.min()!, roundSecondsPerGiB: perGiB)
  }

  /// source -> relay -> sink over loopback; returns the relay thread's CPU seconds.
  static func relayOnce(bytes: Int, bufferBytes: Int) throws(BenchError) -> Double {
    let front = try LoopbackSocket.listen(port: 0)
    defer { close(front.fd) }
    let back = try LoopbackSocket.listen(port: 0)
    defer { close(back.fd) }

    let sinkDone = DispatchSemaphore(value: 0)
    let sinkReceived = Box()
    Thread.detachNewThread {
      let fd = accept(back.fd, nil, nil)
      if fd >= 0 {
        var buffer = [UInt8](repeating: 0, count: bufferBytes)
        while true {
          let n = recv(fd, &buffer, buffer.count, 0)
          if n <= 0 { break }
          sinkReceived.add(n)
        }
        close(fd)
      }
      sinkDone.signal()
    }
    let sourceDone = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
      if let fd = try? LoopbackSocket.connect(port: front.port) {
        var chunk = [UInt8](repeating: 0x5a, count: bufferBytes)
        var left = bytes
        while left > 0 {
          let n = send(fd, &chunk, min(left, chunk.count), Int32(MSG_NOSIGNAL))
          if n <= 0 { break }
          left -= n
        }
        close(fd)
      }
      sourceDone.signal()
    }

    let inbound = accept(front.fd, nil, nil)
    guard inbound >= 0 else { throw BenchError("relay floor: accept: \(LoopbackSocket.errnoText())") }
    defer { close(inbound) }
    let outbound = try LoopbackSocket.connect(port: back.port)
    var buffer = [UInt8](repeating: 0, count: bufferBytes)
    let start = threadCPUSeconds()
    var relayed = 0
    relay: while true {
      let n = recv(inbound, &buffer, buffer.count, 0)
      if n <= 0 { break }
      var offset = 0
      while offset < n {
        let sent = buffer.withUnsafeBytes { send(outbound, $0.baseAddress! + offset, n - offset, Int32(MSG_NOSIGNAL)) }
        if sent <= 0 { break relay }
        offset += sent
      }
      relayed += n
    }
    let spent = threadCPUSeconds() - start
    close(outbound)
    sourceDone.wait()
    sinkDone.wait()
    guard relayed == bytes, sinkReceived.value == bytes else {
      throw BenchError("relay floor: relayed \(relayed) and delivered \(sinkReceived.value) of \(bytes) bytes")
    }
    return spent
  }

  static func threadCPUSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
  }

  /// The sink's byte count, read by the measuring thread after the sink signalled.
  private final class Box: Sendable {
    private let count = Mutex(0)
    func add(_ n: Int) { count.withLock { $0 += n } }
    var value: Int { count.withLock { $0 } }
  }
}
