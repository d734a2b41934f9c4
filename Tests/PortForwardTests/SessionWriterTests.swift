import Foundation
import PortForward
import PortForwardCodecs
import Synchronization
import Testing

/// The session writer, without a network: what it produced must decode with a fresh
/// `SPDYFrameDecoder` (so wire order = compression order), with strictly increasing stream ids,
/// pipelined pair setup and DATA frames ≤ 32 KiB, even with many threads writing at once.
@Suite struct SessionWriterTests {
  final class Capture: Sendable {
    let bytes = Mutex<[UInt8]>([])
    var sink: FrameWriter.Sink { { [self] append in bytes.withLock { append(&$0) } } }
  }

  static func decodeAll(_ bytes: [UInt8]) throws -> [SPDYFrame] {
    let decoder = SPDYFrameDecoder()
    decoder.append(bytes)
    var frames: [SPDYFrame] = []
    while let frame = try decoder.nextFrame() { frames.append(frame) }
    #expect(decoder.bufferedByteCount == 0)
    return frames
  }

  /// Unmasks client WebSocket frames (what a server does) and concatenates binary payloads.
  static func unwrapWebSocket(_ bytes: [UInt8]) throws -> (spdy: [UInt8], opcodes: [UInt8]) {
    var i = 0
    var out: [UInt8] = []
    var opcodes: [UInt8] = []
    while i < bytes.count {
      let op = bytes[i] & 0x0F
      #expect(bytes[i] & 0x80 != 0, "FIN")
      #expect(bytes[i + 1] & 0x80 != 0, "client frames are masked")
      var length = Int(bytes[i + 1] & 0x7F)
      var p = i + 2
      if length == 126 {
        length = Int(bytes[p]) << 8 | Int(bytes[p + 1])
        p += 2
      } else if length == 127 {
        length = (0..<8).reduce(0) { $0 << 8 | Int(bytes[p + $1]) }
        p += 8
      }
      let key = Array(bytes[p..<(p + 4)])
      p += 4
      let payload = (0..<length).map { bytes[p + $0] ^ key[$0 % 4] }
      if op == 2 { out += payload }
      opcodes.append(op)
      i = p + length
    }
    return (out, opcodes)
  }

  @Test(arguments: [false, true])
  func concurrentWritersKeepWireOrderEqualToCompressionOrder(tunnel: Bool) throws {
    let capture = Capture()
    let writer = FrameWriter(webSocketTunnel: tunnel, sink: capture.sink)
    let pairs = Mutex<[FrameWriter.StreamPair]>([])
    let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    DispatchQueue.concurrentPerform(iterations: 64) { i in
      let pair = try! writer.openStreamPair(port: UInt16(8000 + i % 3)) { _ in }
      pairs.withLock { $0.append(pair) }
      payload.withUnsafeBytes { try! writer.sendData(streamID: pair.dataStreamID, $0, fin: i % 2 == 0) }
      _ = writer.ping()
    }
    var wire = capture.bytes.withLock { $0 }
    if tunnel {
      let (spdy, opcodes) = try Self.unwrapWebSocket(wire)
      #expect(opcodes.allSatisfy { $0 == 2 })
      wire = spdy
    }
    let frames = try Self.decodeAll(wire)

    var lastSyn: UInt32 = 0
    var requestIDs = Set<String>()
    var dataByStream: [UInt32: Int] = [:]
    var pings: [UInt32] = []
    var previous: SPDYFrame?
    for frame in frames {
      switch frame {
      case .synStream(let syn):
        #expect(syn.streamID > lastSyn && syn.streamID % 2 == 1, "ids strictly increasing and odd")
        lastSyn = syn.streamID
        let type = syn.headers.value(for: "streamtype")
        let id = syn.headers.value(for: "requestid")!
        #expect(syn.headers.fields.map(\.name) == ["streamtype", "port", "requestid"])
        if type == "error" {
          #expect(requestIDs.insert(id).inserted, "request ids unique")
        } else {
          #expect(type == "data")
          // Pipelined: SYN(error), DATA(error, FIN, empty), SYN(data), back to back.
          guard case .data(let fin)? = previous else {
            Issue.record("SYN(data) not preceded by the error stream's FIN")
            continue
          }
          #expect(fin.isFin && fin.payload.isEmpty && fin.streamID == syn.streamID - 2)
        }
      case .data(let data):
        #expect(data.payload.count <= FrameWriter.maxDataPayload)
        dataByStream[data.streamID, default: 0] += data.payload.count
      case .ping(let ping): pings.append(ping.id)
      default: Issue.record("unexpected \(frame)")
      }
      previous = frame
    }
    let allPairs = pairs.withLock { $0 }
    #expect(allPairs.count == 64)
    #expect(Set(allPairs.map(\.requestID)) == Set(0..<64))
    for pair in allPairs {
      #expect(dataByStream[pair.dataStreamID] == payload.count)
      #expect(pair.dataStreamID == pair.errorStreamID + 2)
    }
    #expect(Set(pings).count == 64 && pings.allSatisfy { $0 % 2 == 1 })
  }

  @Test func closeSessionResetsThenGoesAwayThenClosesTheTunnel() throws {
    let capture = Capture()
    let writer = FrameWriter(webSocketTunnel: true, sink: capture.sink)
    let pair = try writer.openStreamPair(port: 80) { _ in }
    writer.closeSession(resetting: [pair.dataStreamID])
    #expect(writer.isClosed)
    #expect(throws: ForwardedStreamError.self) { try writer.openStreamPair(port: 80) { _ in } }
    #expect(writer.ping() == nil)
    let (spdy, opcodes) = try Self.unwrapWebSocket(capture.bytes.withLock { $0 })
    #expect(opcodes == [2, 2, 8])
    let frames = try Self.decodeAll(spdy)
    #expect(frames.count == 5)
    #expect(frames[3] == .rstStream(SPDYRstStream(streamID: pair.dataStreamID, status: .cancel)))
    #expect(frames[4] == .goAway(SPDYGoAway(lastGoodStreamID: 0, status: .ok)))
  }

  @Test func emptyFinIsOneBareFrameAndBigWritesAreSplit() throws {
    let capture = Capture()
    let writer = FrameWriter(webSocketTunnel: false, sink: capture.sink)
    let big = [UInt8](repeating: 0xAB, count: 3 * FrameWriter.maxDataPayload + 5)
    try big.withUnsafeBytes { try writer.sendData(streamID: 3, $0, fin: true) }
    try writer.sendData(streamID: 5, UnsafeRawBufferPointer(start: nil, count: 0), fin: true)
    let frames = try Self.decodeAll(capture.bytes.withLock { $0 })
    let sizes = frames.compactMap { if case .data(let d) = $0 { return (d.streamID, d.payload.count, d.isFin) } else { return nil } }
    #expect(sizes.map(\.1) == [32768, 32768, 32768, 5, 0])
    #expect(sizes.map(\.2) == [false, false, false, true, true])
    #expect(sizes.map(\.0) == [3, 3, 3, 3, 5])
  }

  /// Each frame is masked on its own as it is appended: the message must still unmask, as one, to
  /// exactly the payload, whatever the payload's length modulo the key's 4 bytes.
  @Test(arguments: [1, 3, 32 * 1024, 2 * 32 * 1024 + 1, 3 * 32 * 1024 + 7])
  func bigWritesInTheTunnelAreOneMessageThatUnmasksToThePayload(size: Int) throws {
    let capture = Capture()
    let writer = FrameWriter(webSocketTunnel: true, sink: capture.sink)
    var rng = SystemRandomNumberGenerator()
    let payload = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
    try payload.withUnsafeBytes { try writer.sendData(streamID: 3, $0, fin: true) }
    let (spdy, opcodes) = try Self.unwrapWebSocket(capture.bytes.withLock { $0 })
    #expect(opcodes == [2])
    let frames = try Self.decodeAll(spdy)
    let data = frames.compactMap { if case .data(let d) = $0 { return d } else { return nil } }
    #expect(data.count == (size + FrameWriter.maxDataPayload - 1) / FrameWriter.maxDataPayload)
    #expect(data.flatMap { Array($0.payload) } == payload)
    #expect(data.map(\.isFin) == Array(repeating: false, count: data.count - 1) + [true])
  }
}
