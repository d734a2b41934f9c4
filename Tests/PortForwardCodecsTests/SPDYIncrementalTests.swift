import PortForwardCodecs
import XCTest

final class SPDYIncrementalTests: XCTestCase {
  func sampleStream() throws -> (bytes: [UInt8], frames: [SPDYFrame]) {
    let encoder = SPDYFrameEncoder()
    var wire: [UInt8] = []
    let frames = SPDYRoundTripTests.sampleFrames()
    for frame in frames { try encoder.encode(frame, into: &wire) }
    return (wire, frames)
  }

  func testByteByByteFeedingGivesTheSameFrames() throws {
    let (wire, expected) = try sampleStream()
    let decoder = SPDYFrameDecoder()
    var frames: [SPDYFrame] = []
    for byte in wire {
      decoder.append([byte])
      while let frame = try decoder.nextFrame() { frames.append(frame) }
    }
    XCTAssertEqual(frames, expected)
    XCTAssertEqual(decoder.bufferedByteCount, 0)
  }

  func testPartialFrameReturnsNilAndKeepsTheBytes() throws {
    let decoder = SPDYFrameDecoder()
    decoder.append(hex("00 00 00 01 00 00 00 04 aa bb"))
    XCTAssertNil(try decoder.nextFrame())
    XCTAssertNil(try decoder.nextFrame())
    XCTAssertEqual(decoder.bufferedByteCount, 10)
    decoder.append(hex("cc"))
    XCTAssertNil(try decoder.nextFrame())
    decoder.append(hex("dd 80"))
    XCTAssertEqual(try decoder.nextFrame(), .data(SPDYDataFrame(streamID: 1, payload: [0xaa, 0xbb, 0xcc, 0xdd])))
    XCTAssertNil(try decoder.nextFrame())
    XCTAssertEqual(decoder.bufferedByteCount, 1)
  }

  func testDataPayloadInsideOneChunkIsNotCopied() throws {
    var chunk: [UInt8] = []
    try SPDYFrameEncoder.encodeData(streamID: 1, payload: [UInt8](repeating: 7, count: 1000), into: &chunk)
    try SPDYFrameEncoder.encodeData(streamID: 3, payload: [UInt8](repeating: 9, count: 500), into: &chunk)
    let decoder = SPDYFrameDecoder()
    decoder.append(chunk)
    guard case .data(let first)? = try decoder.nextFrame(), case .data(let second)? = try decoder.nextFrame() else {
      return XCTFail("expected two DATA frames")
    }
    let chunkBase = chunk.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
    XCTAssertEqual(first.payload.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }, chunkBase + 8)
    XCTAssertEqual(second.payload.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }, chunkBase + 1016)
    XCTAssertEqual(first.payload.count, 1000)
    XCTAssertTrue(second.payload.allSatisfy { $0 == 9 })
  }

  func testFrameSpanningChunksIsGathered() throws {
    var wire: [UInt8] = []
    try SPDYFrameEncoder.encodeData(streamID: 5, payload: Array(0..<255), into: &wire)
    let decoder = SPDYFrameDecoder()
    decoder.append(wire[0..<3])
    decoder.append(wire[3..<100])
    XCTAssertNil(try decoder.nextFrame())
    decoder.append(wire[100...])
    XCTAssertEqual(try decoder.nextFrame(), .data(SPDYDataFrame(streamID: 5, payload: ArraySlice(0..<255))))
  }

  func testUnsafeBytesAppendCopies() throws {
    let decoder = SPDYFrameDecoder()
    var bytes = hex("80 03 00 06 00 00 00 04 00 00 00 07")
    bytes.withUnsafeBytes { decoder.append($0) }
    bytes[11] = 9  // the decoder took a copy
    XCTAssertEqual(try decoder.nextFrame(), .ping(SPDYPing(id: 7)))
  }
}
