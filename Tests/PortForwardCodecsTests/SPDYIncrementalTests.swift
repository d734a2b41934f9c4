import PortForwardCodecs
import Testing

@Suite struct SPDYIncrementalTests {
  func sampleStream() throws -> (bytes: [UInt8], frames: [SPDYFrame]) {
    let encoder = SPDYFrameEncoder()
    var wire: [UInt8] = []
    let frames = SPDYRoundTripTests.sampleFrames()
    for frame in frames { try encoder.encode(frame, into: &wire) }
    return (wire, frames)
  }

  @Test func byteByByteFeedingGivesTheSameFrames() throws {
    let (wire, expected) = try sampleStream()
    let decoder = SPDYFrameDecoder()
    var frames: [SPDYFrame] = []
    for byte in wire {
      decoder.append([byte])
      while let frame = try decoder.nextFrame() { frames.append(frame) }
    }
    #expect(frames == expected)
    #expect(decoder.bufferedByteCount == 0)
  }

  @Test func partialFrameReturnsNilAndKeepsTheBytes() throws {
    let decoder = SPDYFrameDecoder()
    decoder.append(hex("00 00 00 01 00 00 00 04 aa bb"))
    #expect(try decoder.nextFrame() == nil)
    #expect(try decoder.nextFrame() == nil)
    #expect(decoder.bufferedByteCount == 10)
    decoder.append(hex("cc"))
    #expect(try decoder.nextFrame() == nil)
    decoder.append(hex("dd 80"))
    #expect(try decoder.nextFrame() == .data(SPDYDataFrame(streamID: 1, payload: [0xaa, 0xbb, 0xcc, 0xdd])))
    #expect(try decoder.nextFrame() == nil)
    #expect(decoder.bufferedByteCount == 1)
  }

  @Test func dataPayloadInsideOneChunkIsNotCopied() throws {
    var chunk: [UInt8] = []
    try SPDYFrameEncoder.encodeData(streamID: 1, payload: [UInt8](repeating: 7, count: 1000), into: &chunk)
    try SPDYFrameEncoder.encodeData(streamID: 3, payload: [UInt8](repeating: 9, count: 500), into: &chunk)
    let decoder = SPDYFrameDecoder()
    decoder.append(chunk)
    guard case .data(let first)? = try decoder.nextFrame(), case .data(let second)? = try decoder.nextFrame() else {
      Issue.record("expected two DATA frames"); return
    }
    let chunkBase = chunk.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
    #expect(first.payload.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } == chunkBase + 8)
    #expect(second.payload.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } == chunkBase + 1016)
    #expect(first.payload.count == 1000)
    #expect(second.payload.allSatisfy { $0 == 9 })
  }

  @Test func frameSpanningChunksIsGathered() throws {
    var wire: [UInt8] = []
    try SPDYFrameEncoder.encodeData(streamID: 5, payload: Array(0..<255), into: &wire)
    let decoder = SPDYFrameDecoder()
    decoder.append(wire[0..<3])
    decoder.append(wire[3..<100])
    #expect(try decoder.nextFrame() == nil)
    decoder.append(wire[100...])
    #expect(try decoder.nextFrame() == .data(SPDYDataFrame(streamID: 5, payload: ArraySlice(0..<255))))
  }

  @Test func unsafeBytesAppendCopies() throws {
    let decoder = SPDYFrameDecoder()
    var bytes = hex("80 03 00 06 00 00 00 04 00 00 00 07")
    bytes.withUnsafeBytes { decoder.append($0) }
    bytes[11] = 9  // the decoder took a copy
    #expect(try decoder.nextFrame() == .ping(SPDYPing(id: 7)))
  }
}
