import Foundation
import Testing

@testable import PortForward
import PortForwardCodecs

/// The session reader fed by hand-made server bytes (no network): dispatch, per-connection error
/// text, PING parity, GOAWAY, fatal decode errors, the receive cap, and the WebSocket layer.
@Suite struct SessionReaderTests {
  /// Server-side encoding (its own compression context, unmasked WebSocket frames).
  final class FakeServer {
    let encoder = SPDYFrameEncoder()
    let tunnel: Bool
    init(tunnel: Bool) { self.tunnel = tunnel }

    func bytes(_ frames: [SPDYFrame]) -> [UInt8] {
      var spdy: [UInt8] = []
      for frame in frames { try! encoder.encode(frame, into: &spdy) }
      guard tunnel else { return spdy }
      var ws: [UInt8] = []
      try! WebSocketFrameEncoder.encodeFrame(opcode: .binary, payload: spdy[...], maskingKey: nil, into: &ws)
      return ws
    }
  }

  static func feed(_ core: SessionCore, _ bytes: [UInt8]) {
    core.events.received(bytes)
  }

  /// The client's SPDY frames written so far (after the stream setup we already know about).
  static func written(_ core: SessionCore, tunnel: Bool) throws -> [SPDYFrame] {
    var wire = core.slot.unattachedBytes
    if tunnel { wire = try SessionWriterTests.unwrapWebSocket(wire).spdy }
    return try SessionWriterTests.decodeAll(wire)
  }

  static func drain(_ stream: ForwardedStream) -> ([UInt8], StreamRead) {
    var bytes: [UInt8] = []
    while true {
      switch stream.read() {
      case .bytes(let b): bytes += b
      case let other: return (bytes, other)
      }
    }
  }

  @Test(arguments: [false, true])
  func errorTextFailsOnlyItsConnection(tunnel: Bool) throws {
    let core = SessionCore(tunnel: tunnel, options: PortForwardSessionOptions())
    let server = FakeServer(tunnel: tunnel)
    let failing = try core.openStreamPair(port: 80)
    let healthy = try core.openStreamPair(port: 80)
    // The kubelet's order for a refused dial: SYN_REPLYs, data FIN, error text, error RST.
    Self.feed(core, server.bytes([
      .synReply(SPDYSynReply(streamID: failing.errorStreamID)),
      .synReply(SPDYSynReply(streamID: failing.dataStreamID)),
      .data(SPDYDataFrame(streamID: failing.dataStreamID, flags: .fin)),
    ]))
    // Data ended but the error stream has not: no outcome yet.
    #expect(failing.read() == .pending)
    Self.feed(core, server.bytes([
      .data(SPDYDataFrame(streamID: failing.errorStreamID, payload: Array("error forwarding port 80: refused".utf8)[...])),
      .rstStream(SPDYRstStream(streamID: failing.errorStreamID, status: .cancel)),
      .data(SPDYDataFrame(streamID: 999, payload: [1, 2, 3])),  // unknown: dropped
      .data(SPDYDataFrame(streamID: healthy.dataStreamID, payload: Array("hello".utf8)[...])),
      .data(SPDYDataFrame(streamID: healthy.dataStreamID, flags: .fin)),
      .data(SPDYDataFrame(streamID: healthy.errorStreamID, flags: .fin)),
    ]))
    #expect(failing.read() == .failed(.remote("error forwarding port 80: refused")))
    let (bytes, end) = Self.drain(healthy)
    #expect(bytes == Array("hello".utf8) && end == .end)
    #expect(core.state == .open)
    failing.close()
    healthy.close()
    let stats = core.streams.statistics
    #expect(stats.connectionsOpened == 2 && stats.connectionsFailed == 1 && stats.connectionsActive == 0)
    #expect(stats.bytesReceived == 5)
  }

  @Test func pingParityAndGoAway() throws {
    let core = SessionCore(tunnel: false, options: PortForwardSessionOptions())
    let server = FakeServer(tunnel: false)
    Self.feed(core, server.bytes([.ping(SPDYPing(id: 2)), .ping(SPDYPing(id: 1))]))
    // Only the server's (even) ping is echoed; odd ids answer ours.
    #expect(try Self.written(core, tunnel: false) == [.ping(SPDYPing(id: 2))])
    Self.feed(core, server.bytes([.goAway(SPDYGoAway(lastGoodStreamID: 0))]))
    #expect(core.state == .goingAway)
    #expect(throws: ForwardedStreamError.sessionNotOpen("the server sent GOAWAY")) { try core.openStreamPair(port: 1) }
  }

  @Test(arguments: [false, true])
  func aFatalDecodeErrorEndsTheSession(tunnel: Bool) throws {
    let core = SessionCore(tunnel: tunnel, options: PortForwardSessionOptions())
    let stream = try core.openStreamPair(port: 80)
    // A NOOP control frame (type 5): spdystream cannot construct it, the session is over.
    var noop: [UInt8] = [0x80, 0x03, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00]
    if tunnel {
      var ws: [UInt8] = []
      try WebSocketFrameEncoder.encodeFrame(opcode: .binary, payload: noop[...], maskingKey: nil, into: &ws)
      noop = ws
    }
    Self.feed(core, noop)
    guard case .ended(.protocolError(let message)) = core.state else {
      Issue.record("state \(core.state)")
      return
    }
    #expect(message.contains("5"))
    #expect(stream.read() == .failed(.sessionEnded(.protocolError(message))))
  }

  @Test func overflowResetsOnlyThatStream() throws {
    var options = PortForwardSessionOptions()
    options.receiveBufferLimit = 10
    options.stalledStreamTimeout = .zero  // reset at once (no connection to pause here)
    let core = SessionCore(tunnel: false, options: options)
    let server = FakeServer(tunnel: false)
    let greedy = try core.openStreamPair(port: 80)
    let other = try core.openStreamPair(port: 80)
    let before = try Self.written(core, tunnel: false).count
    Self.feed(core, server.bytes([
      .data(SPDYDataFrame(streamID: greedy.dataStreamID, payload: [UInt8](repeating: 7, count: 6)[...])),
      .data(SPDYDataFrame(streamID: greedy.dataStreamID, payload: [UInt8](repeating: 7, count: 6)[...])),
      .data(SPDYDataFrame(streamID: other.dataStreamID, payload: [1, 2, 3])),
    ]))
    #expect(greedy.read() == .failed(.receiveBufferOverflow(limit: 10)))
    #expect(other.read() == .bytes([1, 2, 3]))
    let resets = try Self.written(core, tunnel: false).dropFirst(before)
    #expect(Array(resets) == [
      .rstStream(SPDYRstStream(streamID: greedy.dataStreamID, status: .cancel)),
      .rstStream(SPDYRstStream(streamID: greedy.errorStreamID, status: .cancel)),
    ])
    #expect(core.state == .open)
  }

  @Test func webSocketPingIsAnsweredAndCloseEndsTheSession() throws {
    let core = SessionCore(tunnel: true, options: PortForwardSessionOptions())
    var ws: [UInt8] = []
    try WebSocketFrameEncoder.encodeFrame(opcode: .ping, payload: [9, 8, 7][...], maskingKey: nil, into: &ws)
    Self.feed(core, ws)
    let (_, opcodes) = try SessionWriterTests.unwrapWebSocket(core.slot.unattachedBytes)
    #expect(opcodes == [0xA])
    ws = []
    try WebSocketFrameEncoder.encodeFrame(opcode: .close, payload: [0x03, 0xE8][...], maskingKey: nil, into: &ws)
    Self.feed(core, ws)
    #expect(core.state == .ended(.closedByPeer("WebSocket close 1000")))
  }
}
