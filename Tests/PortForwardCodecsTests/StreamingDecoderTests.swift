import Foundation
import PortForwardCodecs
import TestSupport
import Testing

/// The streaming modes the session reader uses: payloads handed out as they arrive, never gathered,
/// whatever the split points; the framing rules still enforced.
@Suite struct StreamingDecoderTests {
  /// A real API server's message shapes: 4-byte messages, a long message as one non-final frame plus
  /// an empty final `80 00`, an 8000-byte message as 4096-byte frames.
  static func realServerStream(_ spdy: [UInt8]) -> [UInt8] {
    GorillaFraming.messages(spdy, cuts: [4, 4, 16384, 8000, 3])
  }

  static func spdyStream() throws -> (bytes: [UInt8], payload: [UInt8]) {
    let payload = (0..<40000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    let encoder = SPDYFrameEncoder()
    var bytes = try encoder.encode(.synReply(SPDYSynReply(streamID: 1)))
    bytes += try encoder.encode(.data(SPDYDataFrame(streamID: 1, payload: payload[..<32768])))
    bytes += try encoder.encode(.ping(SPDYPing(id: 2)))
    bytes += try encoder.encode(.data(SPDYDataFrame(streamID: 1, flags: .fin, payload: payload[32768...])))
    return (bytes, payload)
  }

  /// Every split point of the wire into two deliveries: the same bytes, the same control frames,
  /// FIN on the last piece only, and no piece bigger than what was there.
  @Test(arguments: [false, true])
  func everySplitPointGivesTheSameStream(tunnel: Bool) throws {
    let (spdy, payload) = try Self.spdyStream()
    let wire = tunnel ? Self.realServerStream(spdy) : spdy
    for split in stride(from: 0, through: wire.count, by: tunnel ? 97 : 89) + [1, 2, 3, 5, 7, 8, 9, wire.count - 1] {
      var ws = WebSocketFrameDecoder(streamingPayloads: true)
      let decoder = SPDYFrameDecoder(streamingData: true)
      var data: [UInt8] = []
      var others: [SPDYFrame] = []
      var fins = 0
      var piecesAfterFin = 0
      for part in [Array(wire[..<split]), Array(wire[split...])] {
        if tunnel {
          ws.append(part)
          while let event = try ws.nextEvent() {
            guard case .binary(let bytes) = event else {
              Issue.record("unexpected \(event)")
              continue
            }
            #expect(!bytes.isEmpty)
            decoder.append(bytes)
          }
        } else {
          decoder.append(part)
        }
        while let frame = try decoder.nextFrame() {
          if case .data(let d) = frame {
            if fins > 0 { piecesAfterFin += 1 }
            data += d.payload
            if d.isFin { fins += 1 }
          } else {
            others.append(frame)
          }
        }
      }
      #expect(data == payload, "split \(split)")
      #expect(fins == 1 && piecesAfterFin == 0, "split \(split)")
      #expect(others == [.synReply(SPDYSynReply(streamID: 1)), .ping(SPDYPing(id: 2))], "split \(split)")
    }
  }

  /// Pieces are slices of the appended chunks: a DATA frame cut into four messages comes out as four
  /// pieces, none gathered.
  @Test func piecesFollowTheMessagesWithoutGathering() throws {
    let encoder = SPDYFrameEncoder()
    let payload = [UInt8](repeating: 9, count: 32768)
    let spdy = try encoder.encode(.data(SPDYDataFrame(streamID: 3, payload: payload[...])))
    var ws = WebSocketFrameDecoder(streamingPayloads: true)
    ws.append(Self.realServerStream(spdy))
    let decoder = SPDYFrameDecoder(streamingData: true)
    var binaries: [Int] = []
    while let event = try ws.nextEvent() {
      guard case .binary(let bytes) = event else { continue }
      binaries.append(bytes.count)
      decoder.append(bytes)
    }
    // Messages of 4, 4, 16384 (one frame and `80 00`), 8000 (4096, 3904), 3, then the 8381 left
    // (one frame and `80 00`): one piece per frame that carries bytes.
    #expect(binaries == [4, 4, 16384, 4096, 3904, 3, 8381])
    var pieces: [Int] = []
    var flags: [Bool] = []
    while let frame = try decoder.nextFrame() {
      guard case .data(let d) = frame else { continue }
      pieces.append(d.payload.count)
      flags.append(d.isFin)
    }
    #expect(pieces == [16384, 4096, 3904, 3, 8381])
    #expect(flags.allSatisfy { !$0 })
  }

  /// Control frames between the fragments of a message are allowed and come out in order; a
  /// continuation outside a message, or a new binary message inside one, is still an error.
  @Test func controlFramesInterleavedAndSequencingStillChecked() throws {
    var ws = WebSocketFrameDecoder(streamingPayloads: true)
    ws.append(hex("02 03 48 65 6c") + hex("89 01 07") + hex("00 01 6c") + hex("8a 00") + hex("80 01 6f") + hex("80 00"))
    var events: [WebSocketEvent] = []
    do {
      while let event = try ws.nextEvent() { events.append(event) }
      Issue.record("a continuation after the final frame must fail")
    } catch {
      #expect(error == .unexpectedContinuation)
    }
    #expect(events == [.binary(hex("48 65 6c")[...]), .ping([7]), .binary([0x6c]), .pong([]), .binary([0x6f])])

    var nested = WebSocketFrameDecoder(streamingPayloads: true)
    nested.append(hex("02 01 41") + hex("82 01 42"))
    #expect(throws: WebSocketError.expectedContinuation(.binary)) { while try nested.nextEvent() != nil {} }
  }

  /// The message size limit counts fragments although nothing is gathered.
  @Test func sizeLimitCountsStreamedFragments() {
    var ws = WebSocketFrameDecoder(maxMessageSize: 10, streamingPayloads: true)
    ws.append(hex("02 06 01 02 03 04 05 06") + hex("80 05 01 02 03 04 05"))
    var received = 0
    do {
      while let event = try ws.nextEvent() { if case .binary(let b) = event { received += b.count } }
      Issue.record("11 bytes in a 10-byte limit must fail")
    } catch {
      #expect(error == .messageTooLarge(length: 11, limit: 10))
    }
    #expect(received == 6)
  }

  /// An empty DATA frame with FIN comes out whole; a zero stream id fails from the header alone.
  @Test func emptyFinAndZeroStreamID() throws {
    let decoder = SPDYFrameDecoder(streamingData: true)
    decoder.append(try SPDYFrameEncoder().encode(.data(SPDYDataFrame(streamID: 5, flags: .fin))))
    #expect(try decoder.nextFrame() == .data(SPDYDataFrame(streamID: 5, flags: .fin)))
    #expect(try decoder.nextFrame() == nil)
    let bad = SPDYFrameDecoder(streamingData: true)
    bad.append([0, 0, 0, 0, 0, 0, 0, 4])
    #expect(throws: SPDYError.zeroStreamID(.data)) { try bad.nextFrame() }
  }
}
