import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// A long-running child (kubectl port-forward) started with TestSupport's `spawn` (posix_spawn, clean
/// signal mask: Foundation.Process was seen to hang in the concurrent test runner), stdin from
/// /dev/null, stdout and stderr to one file; with waits on its output and exit.
final class SpawnedProcess: Sendable {
  let pid: pid_t
  let logPath: String
  private let exitStatus = NIOLockedValueBox<Int32?>(nil)

  init(_ executable: String, _ arguments: [String], environment: [String: String]) throws {
    logPath = FileManager.default.temporaryDirectory.appendingPathComponent("kftray-pf-\(UUID().uuidString).log").path
    var env = ProcessInfo.processInfo.environment.filter { ["PATH", "LANG", "TMPDIR"].contains($0.key) }
    env.merge(environment) { _, new in new }
    pid = try spawn(executable, arguments, environment: env.map { "\($0.key)=\($0.value)" }, stdout: logPath, stderr: nil)
  }

  var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

  /// The exit code (128+signal when killed), once the child has ended; reaps it.
  var exitCode: Int32? {
    exitStatus.withLockedValue { saved in
      if let saved { return saved }
      var status: Int32 = 0
      guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
      saved = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
      return saved
    }
  }

  /// Blocks until the child exits (for short commands); returns its exit code.
  func waitUntilExit() -> Int32 {
    exitStatus.withLockedValue { saved in
      if let saved { return saved }
      var status: Int32 = 0
      while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
      let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
      saved = code
      return code
    }
  }

  /// Waits until `output` contains `text` (or the child exits / the time runs out).
  func waitForOutput(_ text: String, seconds: Double = 20) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      if output.contains(text) { return true }
      if exitCode != nil { return output.contains(text) }
      try await Task.sleep(nanoseconds: 50_000_000)
    }
    return output.contains(text)
  }

  func waitForExit(seconds: Double = 20) async throws -> Int32? {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      if let code = exitCode { return code }
      try await Task.sleep(nanoseconds: 50_000_000)
    }
    return exitCode
  }

  /// SIGTERM, then SIGKILL after 5 s; always reaps the child and removes the log.
  func stop() {
    if exitCode == nil {
      kill(pid, SIGTERM)
      let deadline = Date().addingTimeInterval(5)
      while exitCode == nil && Date() < deadline { usleep(20_000) }
      if exitCode == nil {
        kill(pid, SIGKILL)
        exitStatus.withLockedValue { saved in
          var status: Int32 = 0
          while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
          saved = 137
        }
      }
    }
    try? FileManager.default.removeItem(atPath: logPath)
  }
}



/// "The pod": a TCP echo server on 127.0.0.1 (what the loopback dialer reaches). A half-close from the
/// peer is answered by closing after the echoed bytes.
final class EchoServer: Sendable {
  let channel: Channel
  var port: Int { channel.localAddress?.port ?? 0 }

  init(group: EventLoopGroup) async throws {
    channel = try await ServerBootstrap(group: group)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.allowRemoteHalfClosure, value: true)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(EchoHandler()) }
      }
      .bind(host: "127.0.0.1", port: 0).get()
  }

  func close() async { try? await channel.close() }

  private final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.write(data, promise: nil) }
    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
      if case ChannelEvent.inputClosed = event {
        let channel = context.channel
        context.writeAndFlush(NIOAny(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
          channel.close(promise: nil)
        }
      }
    }
    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
  }
}

/// Connects to 127.0.0.1:port, sends `payload`, and collects what comes back until `expecting` bytes
/// arrived, the peer closed, or `seconds` passed. Returns the bytes received.
func exchange(port: Int, payload: [UInt8], expecting: Int, seconds: Int64 = 30, group: EventLoopGroup) async throws
  -> [UInt8]
{
  let loop = group.next()
  let promise = loop.makePromise(of: [UInt8].self)
  let channel = try await ClientBootstrap(group: loop)
    .channelInitializer { channel in
      channel.eventLoop.makeCompletedFuture {
        try channel.pipeline.syncOperations.addHandler(Collector(expecting: expecting, promise: promise))
      }
    }
    .connect(host: "127.0.0.1", port: port).get()
  let timeout = loop.scheduleTask(in: .seconds(seconds)) { channel.close(promise: nil) }
  if !payload.isEmpty { channel.writeAndFlush(ByteBuffer(bytes: payload), promise: nil) }
  let received = try await promise.futureResult.get()
  timeout.cancel()
  try? await channel.close()
  return received
}

private final class Collector: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  private let expecting: Int
  private let promise: EventLoopPromise<[UInt8]>
  private var received: [UInt8] = []
  private var done = false

  init(expecting: Int, promise: EventLoopPromise<[UInt8]>) {
    self.expecting = expecting
    self.promise = promise
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    var buffer = unwrapInboundIn(data)
    received += buffer.readBytes(length: buffer.readableBytes) ?? []
    if received.count >= expecting { finish() }
  }

  func channelInactive(context: ChannelHandlerContext) { finish() }
  func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }

  private func finish() {
    guard !done else { return }
    done = true
    promise.succeed(received)
  }
}


func randomBytes(_ count: Int) -> [UInt8] {
  var generator = SystemRandomNumberGenerator()
  return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
}

/// Collects everything a raw test connection receives, for tests that read it as bytes.
final class InboxHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  let box: NIOLockedValueBox<[UInt8]>
  init(_ box: NIOLockedValueBox<[UInt8]>) { self.box = box }
  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    var buffer = unwrapInboundIn(data)
    let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
    box.withLockedValue { $0 += bytes }
  }
}
