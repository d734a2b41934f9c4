import Dispatch
import Foundation
import Synchronization
import Testing

@testable import Benchmarks

#if canImport(Glibc)
  import Glibc
#endif

/// The delay proxy against a loopback echo server. Only lower bounds on time are asserted: a loaded
/// machine may make anything slower, never faster than the delay it must add.
@Suite struct DelayProxyTests {
  static func startEcho() -> UInt16 {
    let port = PortHandoff()
    Thread.detachNewThread { try? EchoServer.serve(port: 0) { port.set($0) } }
    return port.wait()
  }

  static func startProxy(to target: UInt16, rtt: Duration, rate: Double? = nil) -> UInt16 {
    let port = PortHandoff()
    let settings = DelayProxy.Settings(
      listenHost: "127.0.0.1", listenPort: 0, targetHost: "127.0.0.1", targetPort: target, roundTrip: rtt, bytesPerSecond: rate)
    Thread.detachNewThread { try? DelayProxy.serve(settings) { port.set($0) } }
    return port.wait()
  }

  /// Connect, one byte, its echo: the time from connect to the echo.
  static func echoRoundTrip(port: UInt16) throws -> Duration {
    let start = ContinuousClock.now
    let fd = try LoopbackSocket.connect(port: port, timeoutSeconds: 30)
    defer { close(fd) }
    var byte: UInt8 = 7
    #expect(send(fd, &byte, 1, 0) == 1)
    var back: UInt8 = 0
    #expect(recv(fd, &back, 1, 0) == 1)
    #expect(back == 7)
    return ContinuousClock.now - start
  }

  @Test func anEchoTakesAtLeastTheRoundTripTime() throws {
    let echo = Self.startEcho()
    let proxy = Self.startProxy(to: echo, rtt: .milliseconds(80))
    for _ in 0..<3 {
      let elapsed = try Self.echoRoundTrip(port: proxy)
      #expect(elapsed >= .milliseconds(80), "echo through an 80 ms proxy took \(elapsed)")
      // Loose: the delay is added once per direction, not per byte or per poll.
      #expect(elapsed < .seconds(5))
    }
  }

  @Test func manyConnectionsKeepTheirBytesInOrder() throws {
    let echo = Self.startEcho()
    let proxy = Self.startProxy(to: echo, rtt: .milliseconds(10))
    let result = ConcurrentProbe.run(port: proxy, connections: 30, bytes: 300_000, timeoutSeconds: 60)
    #expect(result.failures == 0, "\(result.failureReasons)")
  }

  @Test func aRateCapSlowsABulkEcho() throws {
    let echo = Self.startEcho()
    // 4 mbit/s = 500,000 bytes/s each way; 400,000 bytes pass in at least 0.8 s minus one 5 ms burst.
    let proxy = Self.startProxy(to: echo, rtt: .milliseconds(2), rate: DelayProxy.parseRate("4mbit"))
    let start = ContinuousClock.now
    let result = ConcurrentProbe.run(port: proxy, connections: 1, bytes: 400_000, timeoutSeconds: 60)
    let elapsed = ContinuousClock.now - start
    #expect(result.failures == 0, "\(result.failureReasons)")
    #expect(elapsed >= .milliseconds(750), "400 kB at 4 mbit/s took only \(elapsed)")
  }

  @Test func halfCloseReachesTheServer() throws {
    // A server that answers once the client has closed its sending side.
    let (listener, port) = try LoopbackSocket.listen(port: 0)
    Thread.detachNewThread {
      let fd = accept(listener, nil, nil)
      var buffer = [UInt8](repeating: 0, count: 16)
      var total = 0
      while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 16, 0) }
        if n <= 0 { break }
        total += n
      }
      var answer = UInt8(total)
      _ = send(fd, &answer, 1, 0)
      close(fd)
      close(listener)
    }
    let proxy = Self.startProxy(to: port, rtt: .milliseconds(20))
    let fd = try LoopbackSocket.connect(port: proxy, timeoutSeconds: 30)
    defer { close(fd) }
    let bytes: [UInt8] = [1, 2, 3, 4, 5]
    #expect(send(fd, bytes, bytes.count, 0) == 5)
    shutdown(fd, Int32(SHUT_WR))
    var answer: UInt8 = 0
    #expect(recv(fd, &answer, 1, 0) == 1)
    #expect(answer == 5)
    #expect(recv(fd, &answer, 1, 0) == 0)
  }

  @Test func onlyLoopbackIsAccepted() {
    let settings = DelayProxy.Settings(
      listenHost: "127.0.0.1", listenPort: 0, targetHost: "10.0.0.1", targetPort: 80, roundTrip: .milliseconds(20))
    #expect(throws: BenchError.self) { try DelayProxy.serve(settings) { _ in } }
  }

  @Test func durationsAndRatesAreParsedAsTcSpellsThem() {
    #expect(DelayProxy.parseDuration("20ms") == .milliseconds(20))
    #expect(DelayProxy.parseDuration("0.5s") == .milliseconds(500))
    #expect(DelayProxy.parseDuration("150us") == .microseconds(150))
    #expect(DelayProxy.parseDuration("80") == .milliseconds(80))
    #expect(DelayProxy.parseDuration("fast") == nil)
    #expect(DelayProxy.parseRate("100mbit") == 12_500_000)
    #expect(DelayProxy.parseRate("512kbit") == 64_000)
    #expect(DelayProxy.parseRate("1gbit") == 125_000_000)
    #expect(DelayProxy.parseRate("100") == nil)
  }
}

/// A port handed from a server thread to the test, once.
final class PortHandoff: Sendable {
  private let semaphore = DispatchSemaphore(value: 0)
  private let value = Mutex<UInt16>(0)
  func set(_ port: UInt16) {
    value.withLock { $0 = port }
    semaphore.signal()
  }
  func wait() -> UInt16 {
    semaphore.wait()
    return value.withLock { $0 }
  }
}
