import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// New-connection latency: N times in a row, connect, send 1 byte, read the 1-byte echo, close.
/// Each sample is the time from `connect` to the echoed byte.
public enum LatencyProbe {
  public struct Result: Codable, Sendable {
    public var samples: Int
    public var failures: Int
    public var p50Microseconds: Double
    public var p99Microseconds: Double
    public var meanMicroseconds: Double
    public var firstFailure: String?
  }

  public static func run(port: UInt16, count: Int) -> Result {
    var samples: [Double] = []
    samples.reserveCapacity(count)
    var failures = 0
    var firstFailure: String?
    for _ in 0..<count {
      let start = ContinuousClock.now
      do throws(BenchError) {
        let fd = try LoopbackSocket.connect(port: port, timeoutSeconds: 3)
        defer { close(fd) }
        var byte: UInt8 = 0x2a
        guard send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) == 1 else { throw BenchError("send: \(LoopbackSocket.errnoText())") }
        var back: UInt8 = 0
        let n = recv(fd, &back, 1, 0)
        guard n == 1, back == 0x2a else {
          throw BenchError(n == 0 ? "EOF before the echo" : "recv: \(LoopbackSocket.errnoText())")
        }
        let elapsed = ContinuousClock.now - start
        samples.append(Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12)
      } catch {
        failures += 1
        if firstFailure == nil { firstFailure = error.description }
      }
    }
    samples.sort()
    func percentile(_ p: Double) -> Double {
      guard !samples.isEmpty else { return .nan }
      let rank = Int((p / 100 * Double(samples.count)).rounded(.up)) - 1
      return samples[max(0, min(samples.count - 1, rank))]
    }
    let mean = samples.isEmpty ? .nan : samples.reduce(0, +) / Double(samples.count)
    return Result(
      samples: samples.count, failures: failures, p50Microseconds: percentile(50), p99Microseconds: percentile(99),
      meanMicroseconds: mean, firstFailure: firstFailure)
  }
}
