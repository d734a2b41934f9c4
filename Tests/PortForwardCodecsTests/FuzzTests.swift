import PortForwardCodecs
import Testing

/// Property tests: random splits must not change the result; random and mutated input must end
/// in frames plus nil or a typed error, never a crash or a hang. Seeded: a failure names its seed.
@Suite struct SPDYFuzzTests {
  func randomHeaderBlock(_ rng: inout SplitMix64) -> SPDYHeaderBlock {
    let names = ["streamtype", "port", "requestid", "x-a", "x-bb", ":status", "host"]
    var fields: [SPDYHeaderBlock.Field] = []
    for _ in 0..<Int.random(in: 0...4, using: &rng) {
      let name = names[Int.random(in: 0..<names.count - 1, using: &rng)]  // never "host" (forbidden in requests)
      let values = (0..<Int.random(in: 1...3, using: &rng)).map { _ in String(UInt32.random(in: 0...99_999, using: &rng)) }
      fields.append(.init(name: name, values: values))
    }
    return SPDYHeaderBlock(fields)
  }

  func randomFrame(_ rng: inout SplitMix64) -> SPDYFrame {
    let id = UInt32.random(in: 1...SPDYWire.maxStreamID, using: &rng)
    switch Int.random(in: 0..<9, using: &rng) {
    case 0, 1:
      let n = Int.random(in: 0...(Bool.random(using: &rng) ? 40 : 3000), using: &rng)
      return .data(
        SPDYDataFrame(
          streamID: id, flags: Bool.random(using: &rng) ? .fin : [],
          payload: ArraySlice((0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) })))
    case 2:
      return .synStream(
        SPDYSynStream(
          streamID: id, associatedStreamID: UInt32.random(in: 0...9, using: &rng), priority: UInt8.random(in: 0...7, using: &rng),
          flags: SPDYFlags(rawValue: UInt8.random(in: 0...3, using: &rng)), headers: randomHeaderBlock(&rng)))
    case 3: return .synReply(SPDYSynReply(streamID: id, headers: randomHeaderBlock(&rng)))
    case 4: return .headers(SPDYHeaders(streamID: id | 1, headers: randomHeaderBlock(&rng)))
    case 5: return .rstStream(SPDYRstStream(streamID: id, status: SPDYRstStatus(rawValue: UInt32.random(in: 1...12, using: &rng))))
    case 6: return .ping(SPDYPing(id: UInt32.random(in: 1...UInt32.max, using: &rng)))
    case 7: return .goAway(SPDYGoAway(lastGoodStreamID: id, status: SPDYGoAwayStatus(rawValue: UInt32.random(in: 0...2, using: &rng))))
    default:
      return Bool.random(using: &rng)
        ? .windowUpdate(SPDYWindowUpdate(streamID: id, deltaWindowSize: UInt32.random(in: 0...0x7FFF_FFFF, using: &rng)))
        : .settings(SPDYSettings(entries: [.init(flags: 1, id: 7, value: UInt32.random(in: 0...UInt32.max, using: &rng))]))
    }
  }

  func randomStream(_ rng: inout SplitMix64) throws -> (bytes: [UInt8], frames: [SPDYFrame]) {
    let encoder = SPDYFrameEncoder()
    var bytes: [UInt8] = []
    let frames = (0..<Int.random(in: 1...12, using: &rng)).map { _ in randomFrame(&rng) }
    for frame in frames { try encoder.encode(frame, into: &bytes) }
    return (bytes, frames)
  }

  /// Feeds `bytes` in random-size chunks and collects frames until nil or an error.
  func decodeSplit(_ bytes: [UInt8], _ rng: inout SplitMix64) -> (frames: [SPDYFrame], error: SPDYError?) {
    let decoder = SPDYFrameDecoder()
    var frames: [SPDYFrame] = []
    var offset = 0
    while offset < bytes.count {
      let n = min(bytes.count - offset, Int.random(in: 1...(Bool.random(using: &rng) ? 16 : 4096), using: &rng))
      decoder.append(bytes[offset..<offset + n])
      offset += n
      do {
        while let frame = try decoder.nextFrame() { frames.append(frame) }
      } catch {
        return (frames, error)
      }
    }
    return (frames, nil)
  }

  @Test func randomSplitsGiveTheSameFrames() throws {
    for seed in UInt64(1)...600 {
      var rng = SplitMix64(seed: seed)
      let (bytes, expected) = try randomStream(&rng)
      let whole = decodeAll(bytes)
      #expect(whole.error == nil, "seed \(seed)")
      #expect(whole.frames == expected, "seed \(seed)")
      let split = decodeSplit(bytes, &rng)
      #expect(split.error == nil, "seed \(seed)")
      #expect(split.frames == expected, "seed \(seed)")
    }
  }

  @Test func mutatedStreamsNeverCrashOrHang() throws {
    for seed in UInt64(1)...1500 {
      var rng = SplitMix64(seed: seed &* 7919)
      var (bytes, _) = try randomStream(&rng)
      switch seed % 4 {
      case 0:  // bit flips
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
          let i = Int.random(in: 0..<bytes.count, using: &rng)
          bytes[i] ^= 1 << UInt8.random(in: 0...7, using: &rng)
        }
      case 1:  // truncation
        bytes.removeLast(Int.random(in: 0..<bytes.count, using: &rng))
      case 2:  // byte overwrite
        for _ in 0..<Int.random(in: 1...8, using: &rng) {
          bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
        }
      default:  // splice in random bytes
        let at = Int.random(in: 0...bytes.count, using: &rng)
        bytes.insert(contentsOf: (0..<Int.random(in: 1...16, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: at)
      }
      let whole = decodeAll(bytes)
      // Every frame consumes at least its 8-byte header: no decoder loop can outrun its input.
      #expect(whole.frames.count <= bytes.count / 8, "seed \(seed)")
      let split = decodeSplit(bytes, &rng)
      // Splitting never changes the outcome, valid or not (a truncated tail just stays buffered).
      #expect(split.frames == whole.frames, "seed \(seed)")
      #expect(split.error == whole.error, "seed \(seed)")
    }
  }

  @Test func randomBytesNeverCrash() {
    var rng = SplitMix64(seed: 0xC0FFEE)
    for round in 0..<1500 {
      var bytes = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
      if round % 3 == 0, bytes.count >= 8 {
        // Make a plausible control header so the deeper parsers (zlib included) see random payloads.
        bytes[0] = 0x80
        bytes[1] = 3
        bytes[2] = 0
        bytes[3] = UInt8.random(in: 1...9, using: &rng)
        let len = bytes.count - 8
        bytes[5] = 0
        bytes[6] = UInt8(len >> 8)
        bytes[7] = UInt8(len & 0xFF)
      }
      let result = decodeAll(bytes)
      #expect(result.frames.count <= bytes.count / 8)
    }
  }

  @Test func randomPayloadsAfterAValidZlibHeader() throws {
    // Header-bearing frames with a real compressed prefix and random tails exercise inflate errors.
    var rng = SplitMix64(seed: 99)
    for _ in 0..<500 {
      var prefix: [UInt8] = []
      try HeaderCompressor().compress(rawHeaderBlock([("a", "b")]), appendingTo: &prefix)
      let cut = Int.random(in: 0...prefix.count, using: &rng)
      let tail = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
      let frame = controlFrame(type: 2, payload: be32(1) + Array(prefix.prefix(cut)) + tail)
      let result = decodeAll(frame)
      #expect(result.frames.count <= 1)
    }
  }
}

@Suite struct WebSocketFuzzTests {
  /// A valid server byte stream: binary messages (some fragmented, control frames interleaved).
  func randomServerStream(_ rng: inout SplitMix64) throws -> (bytes: [UInt8], events: [WebSocketEvent]) {
    var bytes: [UInt8] = []
    var events: [WebSocketEvent] = []
    for _ in 0..<Int.random(in: 1...10, using: &rng) {
      // Mostly small messages (fast), sometimes one past 64 KiB for the 64-bit length form.
      let big = Int.random(in: 0..<16, using: &rng) == 0
      let size = Int.random(in: 0...(big ? 70_000 : 400), using: &rng)
      let message = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
      let pieces = Int.random(in: 1...4, using: &rng)
      var offset = 0
      for piece in 0..<pieces {
        let end = piece == pieces - 1 ? size : Int.random(in: offset...size, using: &rng)
        try WebSocketFrameEncoder.encodeFrame(
          opcode: piece == 0 ? .binary : .continuation, payload: message[offset..<end], fin: piece == pieces - 1,
          maskingKey: nil, into: &bytes)
        offset = end
        if piece < pieces - 1 && Bool.random(using: &rng) {
          let ping = (0..<Int.random(in: 0...125, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
          try WebSocketFrameEncoder.encodeFrame(opcode: .ping, payload: ping[...], maskingKey: nil, into: &bytes)
          events.append(.ping(ping[...]))
        }
      }
      events.append(.binary(message[...]))
    }
    if Bool.random(using: &rng) {
      try WebSocketFrameEncoder.encodeFrame(opcode: .close, payload: [0x03, 0xE8][...], maskingKey: nil, into: &bytes)
      events.append(.close(code: 1000, reason: ""))
    }
    return (bytes, events)
  }

  func decodeSplit(_ bytes: [UInt8], _ rng: inout SplitMix64, maxMessageSize: Int = 16 << 20)
    -> (events: [WebSocketEvent], error: WebSocketError?)
  {
    var decoder = WebSocketFrameDecoder(maxMessageSize: maxMessageSize)
    var events: [WebSocketEvent] = []
    var offset = 0
    while offset < bytes.count {
      let n = min(bytes.count - offset, Int.random(in: 1...(Bool.random(using: &rng) ? 16 : 8192), using: &rng))
      decoder.append(bytes[offset..<offset + n])
      offset += n
      do {
        while let event = try decoder.nextEvent() { events.append(event) }
      } catch {
        return (events, error)
      }
    }
    return (events, nil)
  }

  @Test func randomSplitsGiveTheSameEvents() throws {
    for seed in UInt64(1)...300 {
      var rng = SplitMix64(seed: seed)
      let (bytes, expected) = try randomServerStream(&rng)
      var whole = WebSocketFrameDecoder()
      whole.append(bytes)
      let wholeResult = drain(&whole)
      #expect(wholeResult.error == nil, "seed \(seed)")
      #expect(wholeResult.events == expected, "seed \(seed)")
      let split = decodeSplit(bytes, &rng)
      #expect(split.error == nil, "seed \(seed)")
      #expect(split.events == expected, "seed \(seed)")
    }
  }

  @Test func mutatedAndRandomInputNeverCrashOrHang() throws {
    for seed in UInt64(1)...1500 {
      var rng = SplitMix64(seed: seed &* 104_729)
      var bytes: [UInt8]
      if seed % 5 == 0 {
        bytes = (0..<Int.random(in: 0...200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
      } else {
        bytes = try randomServerStream(&rng).bytes
        for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
          let i = Int.random(in: 0..<bytes.count, using: &rng)
          bytes[i] ^= 1 << UInt8.random(in: 0...7, using: &rng)
        }
        if Bool.random(using: &rng) { bytes.removeLast(Int.random(in: 0..<max(1, bytes.count), using: &rng)) }
      }
      var whole = WebSocketFrameDecoder(maxMessageSize: 1 << 20)
      whole.append(bytes)
      let wholeResult = drain(&whole)
      #expect(wholeResult.events.count <= bytes.count / 2, "seed \(seed)")
      let split = decodeSplit(bytes, &rng, maxMessageSize: 1 << 20)
      #expect(split.events == wholeResult.events, "seed \(seed)")
      #expect(split.error == wholeResult.error, "seed \(seed)")
    }
  }
}
