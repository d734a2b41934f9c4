import PortForwardCodecs
import Testing

@Suite struct SPDYRoundTripTests {
  static func sampleFrames() -> [SPDYFrame] {
    [
      .synStream(
        SPDYSynStream(
          streamID: 5, associatedStreamID: 2, priority: 7, slot: 3, flags: [.fin, .unidirectional],
          headers: ["streamtype": "data", "port": "80", "requestid": "12"])),
      .synReply(SPDYSynReply(streamID: 5, flags: .fin, headers: ["x-multi": "a", "host": "allowed-in-reply"])),
      .synReply(SPDYSynReply(streamID: 7)),
      .headers(
        SPDYHeaders(
          streamID: 5, flags: .fin,
          headers: SPDYHeaderBlock([.init(name: "multi", values: ["one", "two", ""]), .init(name: "empty", value: "")]))),
      .data(SPDYDataFrame(streamID: 5, payload: ArraySlice(0..<200))),
      .data(SPDYDataFrame(streamID: 0x7FFF_FFFF, flags: .fin, payload: [])),
      .data(SPDYDataFrame(streamID: 9, flags: SPDYFlags(rawValue: 0xFE), payload: [1, 2, 3])),
      .rstStream(SPDYRstStream(streamID: 5, status: .protocolError)),
      .rstStream(SPDYRstStream(streamID: 5, status: .frameTooLarge)),
      .rstStream(SPDYRstStream(streamID: 5, status: .other(77))),
      .settings(
        SPDYSettings(
          flags: .clearSettings,
          entries: [.init(flags: 1, id: 7, value: 65536), .init(flags: 0, id: 0xFF_FFFF, value: .max)])),
      .settings(SPDYSettings(entries: [])),
      .ping(SPDYPing(id: 0xFFFF_FFFF)),
      .goAway(SPDYGoAway(lastGoodStreamID: 11, status: .internalError)),
      .windowUpdate(SPDYWindowUpdate(streamID: 0, deltaWindowSize: 0x7FFF_FFFF)),
      .windowUpdate(SPDYWindowUpdate(streamID: 3, deltaWindowSize: 1)),
    ]
  }

  @Test func everyFrameTypeRoundTripsThroughSharedContexts() throws {
    let encoder = SPDYFrameEncoder()
    let decoder = SPDYFrameDecoder()
    var wire: [UInt8] = []
    for frame in Self.sampleFrames() { try encoder.encode(frame, into: &wire) }
    let (frames, error) = decodeAll(wire, decoder: decoder)
    #expect(error == nil)
    #expect(frames == Self.sampleFrames())
    #expect(decoder.bufferedByteCount == 0)
  }

  @Test func eachFrameIsOneContiguousEncodingAndDecodesAlone() throws {
    // One frame per encode call; each encoding is exactly one frame (header length matches).
    let encoder = SPDYFrameEncoder()
    let decoder = SPDYFrameDecoder()
    for frame in Self.sampleFrames() {
      let bytes = try encoder.encode(frame)
      let length = Int(bytes[5]) << 16 | Int(bytes[6]) << 8 | Int(bytes[7])
      #expect(bytes.count == 8 + length, "\(frame.type)")
      decoder.append(bytes)
      #expect(try decoder.nextFrame() == frame)
      #expect(try decoder.nextFrame() == nil)
    }
  }

  @Test func manyHeaderBlocksOnOneContext() throws {
    let encoder = SPDYFrameEncoder()
    let decoder = SPDYFrameDecoder()
    var expected: [SPDYFrame] = []
    var wire: [UInt8] = []
    for i in 0..<500 {
      let id = UInt32(2 * i + 1)
      let frame = SPDYFrame.synStream(
        SPDYSynStream(
          streamID: id, headers: ["streamtype": i % 2 == 0 ? "error" : "data", "port": "\(1000 + i)", "requestid": "\(i / 2)"]
        ))
      expected.append(frame)
      try encoder.encode(frame, into: &wire)
    }
    let (frames, error) = decodeAll(wire, decoder: decoder)
    #expect(error == nil)
    #expect(frames == expected)
  }

  @Test func largeHeaderValueRoundTrips() throws {
    var rng = SplitMix64(seed: 7)
    let big = String((0..<100_000).map { _ in Character(UnicodeScalar(UInt8.random(in: 97...122, using: &rng))) })
    let frame = SPDYFrame.headers(SPDYHeaders(streamID: 2, headers: ["x-big": big]))
    let encoder = SPDYFrameEncoder()
    let (frames, error) = decodeAll(try encoder.encode(frame))
    #expect(error == nil)
    #expect(frames == [frame])
  }

  @Test func dataEncodingFastPaths() throws {
    let payload: [UInt8] = Array(repeating: 0xAB, count: 40_000)
    var a: [UInt8] = []
    try SPDYFrameEncoder.encodeData(streamID: 3, flags: .fin, payload: payload, into: &a)
    var b: [UInt8] = []
    try payload.withUnsafeBytes { try SPDYFrameEncoder.encodeData(streamID: 3, flags: .fin, payload: $0, into: &b) }
    var c: [UInt8] = []
    try SPDYFrameEncoder.appendDataFrameHeader(streamID: 3, flags: .fin, length: payload.count, into: &c)
    c += payload
    #expect(a == b)
    #expect(a == c)
    #expect(Array(a.prefix(8)) == hex("00 00 00 03 01 00 9c 40"))
    #expect(try SPDYFrameEncoder().encode(.data(SPDYDataFrame(streamID: 3, flags: .fin, payload: payload[...]))) == a)
  }

  @Test func encoderRejectsInvalidFramesWithoutWriting() throws {
    let encoder = SPDYFrameEncoder()
    var buffer: [UInt8] = [0xAA]
    func rejects(_ frame: SPDYFrame, _ expected: SPDYError, sourceLocation: SourceLocation = #_sourceLocation) {
      #expect(throws: expected, sourceLocation: sourceLocation) { try encoder.encode(frame, into: &buffer) }
      #expect(buffer == [0xAA], sourceLocation: sourceLocation)
    }
    rejects(.synStream(SPDYSynStream(streamID: 0, headers: [:])), .invalidStreamID(0, .synStream))
    rejects(.synStream(SPDYSynStream(streamID: 0x8000_0001, headers: [:])), .invalidStreamID(0x8000_0001, .synStream))
    rejects(.synStream(SPDYSynStream(streamID: 1, priority: 8, headers: [:])), .invalidPriority(8))
    rejects(.synStream(SPDYSynStream(streamID: 1, headers: ["Port": "1"])), .headerNameNotLowercase("Port"))
    rejects(.synStream(SPDYSynStream(streamID: 1, headers: ["host": "x"])), .forbiddenHeader("host", in: .synStream))
    rejects(.synReply(SPDYSynReply(streamID: 1, headers: ["connection": "x"])), .forbiddenHeader("connection", in: .synReply))
    rejects(.rstStream(SPDYRstStream(streamID: 1, status: .other(0))), .invalidRstStatus)
    rejects(.rstStream(SPDYRstStream(streamID: 0, status: .cancel)), .invalidStreamID(0, .rstStream))
    rejects(.ping(SPDYPing(id: 0)), .zeroPingID)
    rejects(.data(SPDYDataFrame(streamID: 0)), .invalidStreamID(0, .data))
    rejects(
      .data(SPDYDataFrame(streamID: 1, payload: ArraySlice(repeating: 0, count: 0x100_0000))), .payloadTooLarge(0x100_0000))
    rejects(.windowUpdate(SPDYWindowUpdate(streamID: 1, deltaWindowSize: 0x8000_0000)), .valueOutOfRange("window delta", 0x8000_0000))
    // The rejected header frames did not touch the compression context: the golden bytes still come out.
    let first = try encoder.encode(
      .synStream(SPDYSynStream(streamID: 1, headers: ["streamtype": "error", "port": "8080", "requestid": "0"])))
    #expect(Array(first.suffix(51).prefix(6)) == hex("78 f9 e3 c6 a7 c2"))
    #expect(first.count == 8 + 0x3d)
  }

  @Test func rstStatusNamesAndEquality() {
    #expect(SPDYRstStatus(rawValue: 5) == .cancel)
    #expect(SPDYRstStatus.other(5) == .cancel)
    #expect(SPDYRstStatus(rawValue: 12) == .other(12))
    for code in UInt32(1)...11 { #expect(SPDYRstStatus(rawValue: code).rawValue == code) }
    #expect(SPDYRstStatus.cancel.description == "CANCEL")
  }
}
