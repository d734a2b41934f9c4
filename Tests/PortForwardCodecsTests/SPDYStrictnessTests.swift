import PortForwardCodecs
import Testing

/// Spec §A.5: fatal exactly where spdystream's ReadFrame fails, tolerant where it is tolerant.
@Suite struct SPDYStrictnessTests {
  func assertFatal(_ bytes: [UInt8], _ expected: SPDYError, decoder: SPDYFrameDecoder = SPDYFrameDecoder(), sourceLocation: SourceLocation = #_sourceLocation) {
    let (_, error) = decodeAll(bytes, decoder: decoder)
    #expect(error == expected, sourceLocation: sourceLocation)
    // Sticky: the session cannot continue on the same decoder.
    decoder.append(hex("80 03 00 06 00 00 00 04 00 00 00 01"))
    #expect(throws: expected, sourceLocation: sourceLocation) { try decoder.nextFrame() }
  }

  func synStream(_ pairs: [(String, String)], streamID: UInt32 = 1) throws -> [UInt8] {
    try headerFrame(type: 1, streamID: streamID, raw: rawHeaderBlock(pairs), compressor: HeaderCompressor())
  }

  @Test func uppercaseHeaderNameIsFatal() throws {
    assertFatal(try synStream([("port", "1"), ("StreamType", "data")]), .headerNameNotLowercase("StreamType"))
    assertFatal(
      try headerFrame(type: 2, streamID: 1, raw: rawHeaderBlock([("X", "1")]), compressor: HeaderCompressor()),
      .headerNameNotLowercase("X"))
  }

  @Test func forbiddenHeadersAreFatal() throws {
    for name in ["connection", "host", "keep-alive", "proxy-connection", "transfer-encoding"] {
      assertFatal(try synStream([("port", "1"), (name, "x")]), .forbiddenHeader(name, in: .synStream))
    }
    for name in ["connection", "keep-alive", "proxy-connection", "transfer-encoding"] {
      let reply = try headerFrame(type: 2, streamID: 1, raw: rawHeaderBlock([(name, "x")]), compressor: HeaderCompressor())
      assertFatal(reply, .forbiddenHeader(name, in: .synReply))
    }
    // Host is allowed in SYN_REPLY, and in HEADERS on odd ids; not in HEADERS on even ids.
    let reply = try headerFrame(type: 2, streamID: 1, raw: rawHeaderBlock([("host", "h")]), compressor: HeaderCompressor())
    #expect(decodeAll(reply).error == nil)
    let oddHeaders = try headerFrame(type: 8, streamID: 3, raw: rawHeaderBlock([("host", "h")]), compressor: HeaderCompressor())
    #expect(decodeAll(oddHeaders).error == nil)
    let evenHeaders = try headerFrame(type: 8, streamID: 2, raw: rawHeaderBlock([("host", "h")]), compressor: HeaderCompressor())
    assertFatal(evenHeaders, .forbiddenHeader("host", in: .headers))
  }

  @Test func noopCredentialAndUnknownControlTypesAreFatal() {
    for type: UInt16 in [0, 5, 10, 11, 0xFFFF] {
      assertFatal(controlFrame(type: type, payload: [0, 0, 0, 0]), .unsupportedControlFrameType(type))
    }
  }

  @Test func rstStreamRules() {
    assertFatal(controlFrame(type: 3, payload: be32(1) + be32(0)), .invalidRstStatus)
    assertFatal(controlFrame(type: 3, payload: be32(0) + be32(5)), .zeroStreamID(.rstStream))
    assertFatal(controlFrame(type: 3, payload: be32(1) + be32(5) + [0]), .invalidFrameLength(.rstStream, length: 9))
    // Unknown status codes and flags are tolerated.
    let (frames, error) = decodeAll(controlFrame(type: 3, flags: 0x7, payload: be32(1) + be32(99)))
    #expect(error == nil)
    #expect(frames == [.rstStream(SPDYRstStream(streamID: 1, status: .other(99), flags: SPDYFlags(rawValue: 7)))])
  }

  @Test func pingRules() {
    assertFatal(controlFrame(type: 6, payload: be32(0)), .zeroPingID)
    assertFatal(controlFrame(type: 6, flags: 1, payload: be32(1)), .invalidFlags(.ping, flags: 1))
    assertFatal(controlFrame(type: 6, payload: be32(1) + [0]), .invalidFrameLength(.ping, length: 5))
  }

  @Test func goAwayAndWindowUpdateNeedLength8AndNoFlags() {
    assertFatal(controlFrame(type: 7, payload: be32(0) + be32(0) + be32(0)), .invalidFrameLength(.goAway, length: 12))
    assertFatal(controlFrame(type: 7, payload: be32(0)), .invalidFrameLength(.goAway, length: 4))
    assertFatal(controlFrame(type: 7, flags: 1, payload: be32(0) + be32(0)), .invalidFlags(.goAway, flags: 1))
    assertFatal(controlFrame(type: 9, payload: be32(1)), .invalidFrameLength(.windowUpdate, length: 4))
    assertFatal(controlFrame(type: 9, flags: 2, payload: be32(1) + be32(1)), .invalidFlags(.windowUpdate, flags: 2))
  }

  @Test func settingsAndWindowUpdateDecode() {
    let bytes =
      controlFrame(type: 4, payload: be32(2) + be32(0x0100_0007) + be32(65536) + be32(4) + be32(100))
      + controlFrame(type: 9, payload: be32(1) + be32(1024))
    let (frames, error) = decodeAll(bytes)
    #expect(error == nil)
    #expect(frames == [
        .settings(SPDYSettings(entries: [.init(flags: 1, id: 7, value: 65536), .init(flags: 0, id: 4, value: 100)])),
        .windowUpdate(SPDYWindowUpdate(streamID: 1, deltaWindowSize: 1024)),
      ])
    assertFatal(controlFrame(type: 4, payload: be32(3) + be32(7) + be32(1)), .invalidFrameLength(.settings, length: 12))
    assertFatal(controlFrame(type: 4, payload: be32(1) + be32(7)), .invalidFrameLength(.settings, length: 8))
  }

  @Test func zeroStreamIDIsFatalWhereAStreamIsRequired() throws {
    assertFatal(hex("00 00 00 00 00 00 00 01 ff"), .zeroStreamID(.data))
    assertFatal(try synStream([("port", "1")], streamID: 0), .zeroStreamID(.synStream))
    assertFatal(
      try headerFrame(type: 2, streamID: 0, raw: rawHeaderBlock([]), compressor: HeaderCompressor()), .zeroStreamID(.synReply))
    assertFatal(
      try headerFrame(type: 8, streamID: 0, raw: rawHeaderBlock([]), compressor: HeaderCompressor()), .zeroStreamID(.headers))
  }

  @Test func compressedBlockMustDecodeToExactlyOneBlock() throws {
    // Trailing decompressed bytes after the block.
    assertFatal(
      try headerFrame(type: 2, streamID: 1, raw: rawHeaderBlock([("a", "b")]) + [0], compressor: HeaderCompressor()),
      .compressedHeaderBlockSizeMismatch(.synReply))
    // A block cut short (its count promises two pairs).
    var short = rawHeaderBlock([("a", "b")])
    short[3] = 2
    assertFatal(
      try headerFrame(type: 2, streamID: 1, raw: short, compressor: HeaderCompressor()), .compressedHeaderBlockSizeMismatch(.synReply))
    // No header block at all (SYN_REPLY of length 4).
    assertFatal(controlFrame(type: 2, payload: be32(1)), .compressedHeaderBlockSizeMismatch(.synReply))
    // Compressed bytes missing their tail: the block does not complete inside the frame.
    var full: [UInt8] = []
    try HeaderCompressor().compress(rawHeaderBlock([("streamtype", "data"), ("port", "8080")]), appendingTo: &full)
    assertFatal(controlFrame(type: 2, payload: be32(1) + full.dropLast(6)), .compressedHeaderBlockSizeMismatch(.synReply))
    // A finished zlib stream followed by extra bytes in the same frame.
    let ended = hex("78 f9 e3 c6 a7 c2") + deflateFinished(rawHeaderBlock([]))
    let (_, error) = decodeAll(controlFrame(type: 2, payload: be32(1) + ended + [1, 2, 3]))
    #expect(error != nil)
  }

  /// A complete raw-deflate stream (final stored block) so the zlib stream ends (Z_STREAM_END).
  func deflateFinished(_ raw: [UInt8]) -> [UInt8] {
    let len = UInt16(raw.count)
    var out: [UInt8] = [0x01, UInt8(len & 0xFF), UInt8(len >> 8), UInt8(~len & 0xFF), UInt8(~len >> 8)] + raw
    // A zeroed Adler-32 trailer: zlib reports either a checksum error or the early stream end
    // with bytes left over; both must be fatal, which is all the caller asserts.
    out += [0, 0, 0, 0]
    return out
  }

  @Test func wrongDictionaryIsFatal() {
    // Same FDICT header shape, other dict-id.
    let bogus = hex("78 f9 00 00 00 01") + hex("02 a6 23 06 00 00 00 00 ff ff")
    let (_, error) = decodeAll(controlFrame(type: 2, payload: be32(1) + bogus))
    guard case .headerBlockCorrupt = error else { Issue.record("\(String(describing: error))"); return }
  }

  @Test func garbageCompressedBytesAreFatal() {
    let (_, error) = decodeAll(controlFrame(type: 2, payload: be32(1) + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF]))
    #expect(error != nil)
  }

  @Test func decompressionBombIsRefused() throws {
    // 4 MiB of zeros in a header value compresses to a few KiB.
    let raw = rawHeaderBlock([("x", String(repeating: "\u{0}", count: 4 << 20))])
    let frame = try headerFrame(type: 2, streamID: 1, raw: raw, compressor: HeaderCompressor())
    #expect(frame.count < 64 << 10)
    assertFatal(frame, .headerBlockTooLarge(limit: 1 << 20))
    // With a larger limit it decodes.
    let (frames, error) = decodeAll(frame, decoder: SPDYFrameDecoder(maxHeaderBlockSize: 8 << 20))
    #expect(error == nil)
    #expect(frames.count == 1)
  }

  @Test func frameLengthGuardIsConfigurableAndCheckedFromTheHeader() throws {
    // Only the 8-byte header is present: the guard fires before waiting for the payload.
    assertFatal(hex("00 00 00 01 00 01 00 01"), .frameTooLarge(length: 65537, limit: 65536), decoder: SPDYFrameDecoder(maxFrameLength: 65536))
    let decoder = SPDYFrameDecoder()
    decoder.append(hex("00 00 00 01 00 ff ff ff"))
    #expect(try decoder.nextFrame() == nil)  // 16 MiB − 1 is legal by default: wait for it
    #expect(SPDYFrameDecoder(maxFrameLength: 1 << 30).maxFrameLength == 0xFF_FFFF)
  }

  @Test func toleratedInputs() throws {
    let compressor = HeaderCompressor()
    // Duplicate names, an even (server-parity) stream id, and an unchecked version number.
    var bytes = try headerFrame(
      type: 1, streamID: 2, raw: rawHeaderBlock([("port", "1"), ("port", "2")]), compressor: compressor)
    bytes[1] = 2  // version 2 in the header: spdystream never checks it
    bytes += hex("00 00 00 63 00 00 00 00")  // DATA for an unknown stream: decodes, the session drops it
    let (frames, error) = decodeAll(bytes)
    #expect(error == nil)
    guard case .synStream(let syn)? = frames.first else { Issue.record(); return }
    #expect(syn.streamID == 2)
    #expect(syn.headers.values(for: "port") == ["1", "2"])
    #expect(frames.last == .data(SPDYDataFrame(streamID: 0x63)))
  }

  @Test func errorDescriptionsAreReadable() {
    #expect(SPDYError.headerNameNotLowercase("X").description == "header name was not lowercased: \"X\"")
    #expect(SPDYError.unsupportedControlFrameType(5).description == "unsupported SPDY control frame type 5")
  }
}
