import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PortForwardCodecs
import Testing
import TestSupport

@testable import KubeSandbox
@testable import KubeletAPI

/// The kubelet's SPDY/3.1 port-forward endpoint frame by frame, with a raw SPDY client (the
/// `PortForward` codecs) holding the API server's kubelet client certificate.
@Suite("sandbox kubelet: SPDY port-forward server", .serialized)
struct PortForwardKubeletTests {
  @Test func invalidStreamHeadersAreResetWithoutReply() async throws {
    try await KubeletHarness.with { kubelet in
      let client = try await kubelet.upgradedClient()
      defer { client.close() }
      try client.send(.synStream(SPDYSynStream(streamID: 1, headers: ["streamtype": "data", "port": "0", "requestid": "0"])))
      try client.send(.synStream(SPDYSynStream(streamID: 3, headers: ["streamtype": "data", "port": "+80", "requestid": "1"])))
      try client.send(.synStream(SPDYSynStream(streamID: 5, headers: ["streamtype": "bogus", "port": "80", "requestid": "2"])))
      try client.send(.synStream(SPDYSynStream(streamID: 7, headers: ["port": "80", "requestid": "3"])))
      try client.send(.synStream(SPDYSynStream(streamID: 9, headers: ["streamtype": "error", "port": "80", "requestid": "4"])))
      for id: UInt32 in [1, 3, 5, 7] {
        #expect(try await client.nextFrame() == .rstStream(SPDYRstStream(streamID: id, status: .cancel)))
      }
      // The session survives, and the valid stream is the first to get a SYN_REPLY.
      #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 9)))
      // A stream id not above the last one: PROTOCOL_ERROR.
      try client.send(.synStream(SPDYSynStream(streamID: 9, headers: ["streamtype": "data", "port": "80", "requestid": "4"])))
      #expect(try await client.nextFrame() == .rstStream(SPDYRstStream(streamID: 9, status: .protocolError)))
    }
  }

  @Test func pingsWithClientParityAreEchoedAndUnknownStreamsTolerated() async throws {
    try await KubeletHarness.with { kubelet in
      let client = try await kubelet.upgradedClient()
      defer { client.close() }
      try client.send(.ping(SPDYPing(id: 1)))
      #expect(try await client.nextFrame() == .ping(SPDYPing(id: 1)))
      // Even ids would be answers to server pings: not echoed. DATA and RST for unknown streams,
      // SETTINGS and WINDOW_UPDATE: ignored.
      try client.send(.ping(SPDYPing(id: 2)))
      try client.send(.data(SPDYDataFrame(streamID: 41, payload: [1, 2, 3])))
      try client.send(.rstStream(SPDYRstStream(streamID: 43, status: .cancel)))
      try client.send(.settings(SPDYSettings(entries: [.init(id: 7, value: 1 << 20)])))
      try client.send(.windowUpdate(SPDYWindowUpdate(streamID: 0, deltaWindowSize: 1000)))
      try client.send(.ping(SPDYPing(id: 3)))
      #expect(try await client.nextFrame() == .ping(SPDYPing(id: 3)))
    }
  }

  @Test func secondStreamOfATypeIsReportedOnThePairsErrorStream() async throws {
    try await KubeletHarness.with { kubelet in
      let client = try await kubelet.upgradedClient()
      defer { client.close() }
      try client.send(.synStream(SPDYSynStream(streamID: 1, headers: ["streamtype": "error", "port": "80", "requestid": "7"])))
      try client.send(.synStream(SPDYSynStream(streamID: 3, headers: ["streamtype": "error", "port": "80", "requestid": "7"])))
      #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 1)))
      #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 3)))
      #expect(
        try await client.nextFrame()
          == .data(SPDYDataFrame(streamID: 1, payload: ArraySlice("error processing stream for request 7: error stream already assigned".utf8))))
    }
  }

  @Test func incompletePairTimesOut() async throws {
    var configuration = KubeletPortForwardConfiguration()
    configuration.streamCreationTimeout = .milliseconds(300)
    try await KubeletHarness.with(configuration: configuration) { kubelet in
      let client = try await kubelet.upgradedClient()
      defer { client.close() }
      try client.send(.synStream(SPDYSynStream(streamID: 1, headers: ["streamtype": "error", "port": "80", "requestid": "0"])))
      #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 1)))
      guard case .data(let message) = try await client.nextFrame() else {
        Issue.record("expected the timeout message")
        return
      }
      let text = String(decoding: message.payload, as: UTF8.self)
      #expect(text.hasPrefix("(conn=0x") && text.hasSuffix(", request=0) timed out waiting for streams"), "\(text)")
      #expect(try await client.nextFrame() == .data(SPDYDataFrame(streamID: 1, flags: .fin)))
    }
  }

  @Test func forwardedBytesThenPodCloseFinishesDataThenError() async throws {
    try await KubeletHarness.with { kubelet in
      let echo = try await EchoServer(group: kubelet.group)
      defer { Task { await echo.close() } }
      let client = try await kubelet.upgradedClient()
      defer { client.close() }
      let port = String(echo.port)
      // kubectl's order, pipelined: SYN error, FIN error, SYN data, data + FIN.
      try client.openStreamPair(port: port)
      try client.send(.data(SPDYDataFrame(streamID: 3, payload: ArraySlice("hello ".utf8))))
      try client.send(.data(SPDYDataFrame(streamID: 3, flags: .fin, payload: ArraySlice("pod".utf8))))
      #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 1)))
      #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 3)))
      // The echo (in whatever DATA frames), then FIN on data, then FIN on error.
      var echoed: [UInt8] = []
      var frame = try await client.nextFrame()
      while case .data(let data) = frame, data.streamID == 3, !data.isFin {
        echoed += data.payload
        frame = try await client.nextFrame()
      }
      #expect(String(decoding: echoed, as: UTF8.self) == "hello pod")
      #expect(frame == .data(SPDYDataFrame(streamID: 3, flags: .fin)))
      #expect(try await client.nextFrame() == .data(SPDYDataFrame(streamID: 1, flags: .fin)))
    }
  }

  @Test func dialFailureWritesTheErrorThenResetsBoth() async throws {
    try await KubeletHarness.with { kubelet in
      let closed = try freeLoopbackPort()
      let client = try await kubelet.upgradedClient()
      defer { client.close() }
      try client.openStreamPair(port: String(closed), finishingTheErrorStream: false)
      #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 1)))
      #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 3)))
      let uid = KubeletHarness.pod.uid
      let expected =
        "error forwarding port \(closed) to pod \(uid), uid : failed to connect to localhost:\(closed) inside namespace "
        + "\"\(uid)\", IPv4: dial tcp4 127.0.0.1:\(closed): connect: connection refused"
      #expect(try await client.nextFrame() == .data(SPDYDataFrame(streamID: 1, payload: ArraySlice(expected.utf8))))
      #expect(try await client.nextFrame() == .rstStream(SPDYRstStream(streamID: 1, status: .cancel)))
      #expect(try await client.nextFrame() == .rstStream(SPDYRstStream(streamID: 3, status: .cancel)))
    }
  }

  @Test func clientResetOfTheDataStreamClosesThePodSocketAndFinishesTheErrorStream() async throws {
    try await KubeletHarness.with { kubelet in
      let echo = try await EchoServer(group: kubelet.group)
      defer { Task { await echo.close() } }
      let client = try await kubelet.upgradedClient()
      defer { client.close() }
      let port = String(echo.port)
      try client.openStreamPair(port: port)
      try client.send(.data(SPDYDataFrame(streamID: 3, payload: [42])))
      #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 1)))
      #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 3)))
      #expect(try await client.nextFrame() == .data(SPDYDataFrame(streamID: 3, payload: [42])))
      // kubectl resets the data stream when its side is done; the kubelet then only finishes the error
      // stream (nothing more on the reset data stream), and later DATA for it is dropped.
      try client.send(.rstStream(SPDYRstStream(streamID: 3, status: .cancel)))
      try client.send(.data(SPDYDataFrame(streamID: 3, payload: [1])))
      #expect(try await client.nextFrame() == .data(SPDYDataFrame(streamID: 1, flags: .fin)))
      try client.send(.ping(SPDYPing(id: 5)))
      #expect(try await client.nextFrame() == .ping(SPDYPing(id: 5)))
    }
  }

  @Test func goAwayClosesTheConnectionOnceIdle() async throws {
    try await KubeletHarness.with { kubelet in
      let client = try await kubelet.upgradedClient()
      try client.send(.goAway(SPDYGoAway(lastGoodStreamID: 0)))
      try await client.channelForTests.closeFuture.get()
    }
  }

  @Test func idleSessionIsResetThenClosed() async throws {
    // 2 s of silence ends the session; a ping every 0.5 s keeps it alive for 3 s, longer than that. A machine
    // so loaded that the test or the server stalls for the whole timeout may end a session early on its own;
    // that is told apart from a server that ignores pings by when the reset came (below), and tried again.
    let timeout = 2.0
    var starvedAttempts: [String] = []
    for _ in 0..<3 {
      let outcome = try await KubeletHarness.with(streamIdleTimeout: .milliseconds(Int64(timeout * 1000))) { kubelet in
        try await Self.pingThenFallSilent(kubelet, timeout: timeout)
      }
      guard case .starved(let why) = outcome else { return }
      starvedAttempts.append(why)
    }
    Issue.record("every attempt was starved for a whole idle timeout: \(starvedAttempts)")
  }

  private enum IdleOutcome { case finished, starved(String) }

  private static func pingThenFallSilent(_ kubelet: KubeletHarness, timeout: Double) async throws -> IdleOutcome {
    let echo = try await EchoServer(group: kubelet.group)
    defer { Task { await echo.close() } }
    let client = try await kubelet.upgradedClient()
    defer { client.close() }
    let port = String(echo.port)
    try client.openStreamPair(port: port, finishingTheErrorStream: false)
    var lastAnsweredSend = ContinuousClock.now
    try client.send(.data(SPDYDataFrame(streamID: 3, payload: [7])))
    #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 1)))
    #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 3)))
    #expect(try await client.nextFrame() == .data(SPDYDataFrame(streamID: 3, payload: [7])))
    // Any frame counts as activity (spdystream resets its timer on every frame).
    for id: UInt32 in [1, 3, 5, 7, 9, 11] {
      try await Task.sleep(nanoseconds: 500_000_000)
      let sent = ContinuousClock.now
      try client.send(.ping(SPDYPing(id: id)))
      let reply = try await client.nextFrame()
      if reply == .ping(SPDYPing(id: id)) {
        lastAnsweredSend = sent
        continue
      }
      // The server had every frame up to the last answered ping, so a correct server cannot reset before a
      // whole timeout after that ping was sent. Earlier means it did not count the pings as activity.
      let silence = ContinuousClock.now - lastAnsweredSend
      guard reply == .rstStream(SPDYRstStream(streamID: 1, status: .cancel)), silence >= .seconds(timeout) else {
        Issue.record("ping \(id) answered by \(reply) only \(silence) after the last answered ping was sent")
        return .finished
      }
      return .starved("ping \(id): reset \(silence) after the last answered ping")
    }
    // Then silence: every open stream reset, GOAWAY, close.
    #expect(try await client.nextFrame() == .rstStream(SPDYRstStream(streamID: 1, status: .cancel)))
    #expect(try await client.nextFrame() == .rstStream(SPDYRstStream(streamID: 3, status: .cancel)))
    #expect(try await client.nextFrame() == .goAway(SPDYGoAway(lastGoodStreamID: 3)))
    try await client.channelForTests.closeFuture.get()
    return .finished
  }

  @Test func upgradeNegotiatesTheStreamProtocol() async throws {
    try await KubeletHarness.with { kubelet in
      let missing = try await kubelet.rawRequest(protocols: [])
      #expect(missing.hasPrefix("HTTP/1.1 400 "), "\(missing)")
      let wrong = try await kubelet.rawRequest(protocols: ["v4.channel.k8s.io"])
      #expect(wrong.hasPrefix("HTTP/1.1 403 "), "\(wrong)")
      #expect(wrong.contains("X-Accepted-Stream-Protocol-Versions: portforward.k8s.io"))
      let unknownPod = try await kubelet.rawRequest(path: "/portForward/default/nope", protocols: ["portforward.k8s.io"])
      #expect(unknownPod.hasPrefix("HTTP/1.1 404 ") && unknownPod.hasSuffix("pod does not exist"), "\(unknownPod)")
      let ok = try await kubelet.rawRequest(protocols: ["portforward.k8s.io"])
      #expect(ok.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"), "\(ok)")
      #expect(ok.contains("X-Stream-Protocol-Version: portforward.k8s.io\r\n"))
      #expect(ok.contains("Upgrade: SPDY/3.1\r\n"))
    }
  }
}

/// A kubelet server alone (its own PKI and a one-pod directory) and raw clients for it.
final class KubeletHarness: Sendable {
  static let pod = KubeletPod(namespace: "default", name: "p", uid: "0b5ad0c4-1111-4222-8333-444455556666")

  struct OnePod: KubeletPodDirectory {
    func pod(namespace: String, name: String) -> KubeletPod? {
      namespace == KubeletHarness.pod.namespace && name == KubeletHarness.pod.name ? KubeletHarness.pod : nil
    }
  }

  let server: KubeletServer
  let pki: PKI
  let group: MultiThreadedEventLoopGroup

  private init(server: KubeletServer, pki: PKI, group: MultiThreadedEventLoopGroup) {
    self.server = server
    self.pki = pki
    self.group = group
  }

  @discardableResult
  static func with<Result>(
    configuration: KubeletPortForwardConfiguration = KubeletPortForwardConfiguration(),
    pods: any KubeletPodDirectory = OnePod(), dialer: any PodPortDialer = LoopbackPodPortDialer(),
    streamIdleTimeout: TimeAmount = .hours(4), logStateCheckInterval: TimeAmount = .seconds(5),
    _ body: (KubeletHarness) async throws -> Result
  ) async throws -> Result {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let pki = try PKI.generate()
    let server = try await KubeletServer.start(
      nodeName: "test-node", pki: pki, pods: pods, dialer: dialer, sessionConfiguration: configuration,
      streamIdleTimeout: streamIdleTimeout, logStateCheckInterval: logStateCheckInterval, group: group)
    let harness = KubeletHarness(server: server, pki: pki, group: group)
    let result: Result
    do {
      result = try await body(harness)
    } catch {
      await server.close()
      try? await group.shutdownGracefully()
      throw error
    }
    await server.close()
    try? await group.shutdownGracefully()
    return result
  }

  private func connect() async throws -> (Channel, NIOLockedValueBox<[UInt8]>) {
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.certificateChain = [.certificate(try NIOSSLCertificate(bytes: Array(pki.kubeletClient.certificatePEM.utf8), format: .pem))]
    tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(pki.kubeletClient.keyPEM.utf8), format: .pem))
    tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(pki.ca.certificatePEM.utf8), format: .pem)])
    return try await connectRawTLS(group: group, port: server.port, tls: tls)
  }

  /// Sends one upgrade request and returns the whole answer once the server closes or 101 arrives.
  func rawRequest(path: String = "/portForward/default/p", protocols: [String]) async throws -> String {
    let (channel, inbox) = try await connect()
    defer { channel.close(promise: nil) }
    var request = "POST \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
    for value in protocols { request += "X-Stream-Protocol-Version: \(value)\r\n" }
    request += "\r\n"
    try await channel.writeAndFlush(ByteBuffer(string: request)).get()
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline {
      let text = String(decoding: inbox.withLockedValue { $0 }, as: UTF8.self)
      if text.hasPrefix("HTTP/1.1 101"), text.contains("\r\n\r\n") { return text }
      if !channel.isActive { return text }
      try await Task.sleep(nanoseconds: 20_000_000)
    }
    throw TestFailure("no answer")
  }

  func upgradedClient(pod: String = "p") async throws -> RawSPDYClient {
    let (channel, inbox) = try await connect()
    try await channel.writeAndFlush(
      ByteBuffer(
        string: "POST /portForward/default/\(pod) HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: Upgrade\r\n"
          + "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n")
    ).get()
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline {
      let bytes = inbox.withLockedValue { $0 }
      if let end = WebSocketTunnel.headEnd(bytes) {
        guard String(decoding: bytes[..<end], as: UTF8.self).hasPrefix("HTTP/1.1 101 ") else {
          throw TestFailure("upgrade refused: \(String(decoding: bytes, as: UTF8.self))")
        }
        inbox.withLockedValue { $0.removeFirst(end) }
        return RawSPDYClient(channel: channel, inbox: inbox)
      }
      try await Task.sleep(nanoseconds: 20_000_000)
    }
    throw TestFailure("no 101")
  }
}

/// The client end of a SPDY session, driven by the test (one task at a time).
final class RawSPDYClient: @unchecked Sendable {
  // @unchecked: the encoder/decoder (zlib contexts) are used by the one test task that owns this
  // client, never concurrently; the inbox is a locked box filled by the channel's handler.
  private let channel: Channel
  private let inbox: NIOLockedValueBox<[UInt8]>
  private let encoder = SPDYFrameEncoder()
  private let decoder = SPDYFrameDecoder()

  init(channel: Channel, inbox: NIOLockedValueBox<[UInt8]>) {
    self.channel = channel
    self.inbox = inbox
  }

  func send(_ frame: SPDYFrame) throws {
    let bytes = try encoder.encode(frame)
    channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil)
  }

  /// The next frame from the server; fails after `seconds`.
  func nextFrame(seconds: Double = 10) async throws -> SPDYFrame {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
      let bytes = inbox.withLockedValue { box -> [UInt8] in
        defer { box = [] }
        return box
      }
      if !bytes.isEmpty { decoder.append(bytes) }
      if let frame = try decoder.nextFrame() {
        // Compare payloads by content, not by slice indices.
        if case .data(var data) = frame {
          data.payload = ArraySlice(Array(data.payload))
          return .data(data)
        }
        return frame
      }
      guard Date() < deadline else { throw TestFailure("no frame within \(seconds) s") }
      try await Task.sleep(nanoseconds: 10_000_000)
    }
  }

  /// Opens one forwarded connection's streams as kubectl does, pipelined without waiting for replies:
  /// SYN_STREAM for the error stream, FIN on it (kubectl never writes there) unless told not to, then
  /// SYN_STREAM for the data stream.
  func openStreamPair(
    port: String, requestID: String = "0", errorStream: SPDYStreamID = 1, dataStream: SPDYStreamID = 3,
    finishingTheErrorStream: Bool = true
  ) throws {
    try send(.synStream(SPDYSynStream(streamID: errorStream, headers: ["streamtype": "error", "port": port, "requestid": requestID])))
    if finishingTheErrorStream { try send(.data(SPDYDataFrame(streamID: errorStream, flags: .fin))) }
    try send(.synStream(SPDYSynStream(streamID: dataStream, headers: ["streamtype": "data", "port": port, "requestid": requestID])))
  }

  func close() { channel.close(promise: nil) }

  /// For writes that bypass the encoder (DATA frames carry no compressed headers).
  var channelForTests: Channel { channel }
}

/// Backpressure: a pod that does not read must stop the kubelet from reading the client's connection,
/// instead of the kubelet buffering everything the client sends.
@Suite("sandbox kubelet: backpressure")
struct PortForwardBackpressureTests {
  @Test func aPodThatDoesNotReadStallsTheClient() async throws {
    try await KubeletHarness.with { kubelet in
      let pod = try await PausedPod(group: kubelet.group)
      defer { Task { await pod.close() } }
      let client = try await kubelet.upgradedClient()
      defer { client.close() }
      let port = String(pod.port)
      try client.openStreamPair(port: port)
      #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 1)))
      #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 3)))
      #expect(try await pod.waitForConnection())

      // 64 MiB in 32 KiB DATA frames: far more than the socket buffers on the way can hold.
      let total = 64 << 20
      let chunk = [UInt8]((0..<(32 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 7) })
      let lastWritten = client.sendData(streamID: 3, chunk: chunk, count: total / chunk.count)
      try await Task.sleep(nanoseconds: 1_500_000_000)
      #expect(!lastWritten.withLockedValue { $0 }, "the kubelet read everything although the pod reads nothing")
      #expect(pod.received == 0)

      // Once the pod reads, everything arrives, in order.
      pod.startReading()
      let start = Date()
      let deadline = start.addingTimeInterval(60)
      while pod.received < total, Date() < deadline { try await Task.sleep(nanoseconds: 50_000_000) }
      #expect(pod.received == total, "after \(Date().timeIntervalSince(start)) s")
      #expect(pod.receivedEquals(chunk, times: total / chunk.count))
      #expect(lastWritten.withLockedValue { $0 })
    }
  }
}

/// A pod port whose connection is not read until `startReading()`; keeps what it receives.
final class PausedPod: Sendable {
  private let server: Channel
  private let accepted = NIOLockedValueBox<Channel?>(nil)
  private let storage = NIOLockedValueBox<[UInt8]>([])

  var port: Int { server.localAddress?.port ?? 0 }
  var received: Int { storage.withLockedValue { $0.count } }

  init(group: EventLoopGroup) async throws {
    let accepted = self.accepted
    let storage = self.storage
    server = try await ServerBootstrap(group: group)
      .childChannelOption(.autoRead, value: false)
      .childChannelOption(.socketOption(.so_rcvbuf), value: 64 * 1024)
      .childChannelInitializer { channel in
        accepted.withLockedValue { $0 = channel }
        return channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(Keeper(storage: storage))
        }
      }
      .bind(host: "127.0.0.1", port: 0).get()
  }

  func waitForConnection() async throws -> Bool {
    let deadline = Date().addingTimeInterval(10)
    while accepted.withLockedValue({ $0 }) == nil, Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
    return accepted.withLockedValue { $0 } != nil
  }

  func startReading() {
    _ = accepted.withLockedValue { $0 }?.setOption(ChannelOptions.autoRead, value: true)
  }

  /// True if everything received is `chunk` repeated `times` times (memcmp: debug builds are slow per byte).
  func receivedEquals(_ chunk: [UInt8], times: Int) -> Bool {
    storage.withLockedValue { bytes in
      guard bytes.count == chunk.count * times else { return false }
      return bytes.withUnsafeBytes { all in
        chunk.withUnsafeBytes { one in
          (0..<times).allSatisfy { memcmp(all.baseAddress! + $0 * one.count, one.baseAddress!, one.count) == 0 }
        }
      }
    }
  }

  func close() async {
    try? await accepted.withLockedValue { $0 }?.close()
    try? await server.close()
  }

  private final class Keeper: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let storage: NIOLockedValueBox<[UInt8]>
    init(storage: NIOLockedValueBox<[UInt8]>) { self.storage = storage }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
      let buffer = unwrapInboundIn(data)
      buffer.withUnsafeReadableBytes { bytes in storage.withLockedValue { $0.append(contentsOf: bytes) } }
    }
  }
}

extension RawSPDYClient {
  /// Queues `count` DATA frames carrying `chunk`; the box turns true once the last one reached the socket.
  func sendData(streamID: SPDYStreamID, chunk: [UInt8], count: Int) -> NIOLockedValueBox<Bool> {
    let done = NIOLockedValueBox(false)
    var frame: [UInt8] = []
    try! SPDYFrameEncoder.encodeData(streamID: streamID, payload: chunk, into: &frame)
    let buffer = ByteBuffer(bytes: frame)
    let channel = self.channelForTests
    for index in 0..<count {
      if index == count - 1 {
        channel.writeAndFlush(buffer).whenComplete { _ in done.withLockedValue { $0 = true } }
      } else {
        channel.write(buffer, promise: nil)
      }
    }
    return done
  }
}
