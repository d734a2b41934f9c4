import PortForwardCodecs
import Testing

/// Prints codec throughput; asserts only correctness (timing depends on the machine and build).
/// Meaningful figures need a release build:
///   swift test -c release --filter PortForwardCodecsTests.ThroughputTests
@Suite(.serialized) struct ThroughputTests {
  let frameSize = 32 << 10
  #if DEBUG
    let frameCount = 256  // debug builds only smoke-test the loops (8 MiB per pass)
  #else
    let frameCount = 2048  // 64 MiB of payload per pass
  #endif

  func report(_ label: String, bytes: Int, _ duration: Duration) {
    let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    let rate = Double(bytes) / seconds / 1e9
    print("[throughput] \(label): \(String(format: "%.2f", rate)) GB/s (\(bytes >> 20) MiB in \(String(format: "%.1f", seconds * 1000)) ms)")
  }

  func best(of runs: Int, _ body: () throws -> Void) rethrows -> Duration {
    var fastest = Duration.seconds(1_000_000)
    for _ in 0..<runs {
      let start = ContinuousClock.now
      try body()
      fastest = min(fastest, ContinuousClock.now - start)
    }
    return fastest
  }

  func makeStream() throws -> (frames: [[UInt8]], joined: [UInt8]) {
    let payload = (0..<frameSize).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    var frames: [[UInt8]] = []
    var joined: [UInt8] = []
    joined.reserveCapacity(frameCount * (frameSize + 8))
    for i in 0..<frameCount {
      var f: [UInt8] = []
      try SPDYFrameEncoder.encodeData(streamID: UInt32(2 * (i % 8) + 1), payload: payload, into: &f)
      frames.append(f)
      joined += f
    }
    return (frames, joined)
  }

  @Test func spdyDataDecodeThroughput() throws {
    let (frames, joined) = try makeStream()
    let payloadBytes = frameCount * frameSize
    // Reads as a socket delivers them: 64 KiB chunks that cut frames anywhere (some gathering).
    let chunks: [ArraySlice<UInt8>] = stride(from: 0, to: joined.count, by: 64 << 10).map {
      joined[$0..<min($0 + (64 << 10), joined.count)]
    }
    var decoded = 0
    let split = try best(of: 5) {
      let decoder = SPDYFrameDecoder()
      decoded = 0
      for chunk in chunks {
        decoder.append(chunk)
        while let frame = try decoder.nextFrame() {
          if case .data(let d) = frame { decoded += d.payload.count }
        }
      }
    }
    #expect(decoded == payloadBytes)
    report("SPDY decode, 32 KiB DATA, 64 KiB reads", bytes: payloadBytes, split)
    // One frame per read: the zero-copy path.
    let aligned = try best(of: 5) {
      let decoder = SPDYFrameDecoder()
      decoded = 0
      for frame in frames {
        decoder.append(frame)
        while let f = try decoder.nextFrame() {
          if case .data(let d) = f { decoded += d.payload.count }
        }
      }
    }
    #expect(decoded == payloadBytes)
    report("SPDY decode, 32 KiB DATA, frame-aligned reads", bytes: payloadBytes, aligned)
    // Payload bytes touched by the consumer (a checksum), to show decode is not the bottleneck.
    var sum: UInt64 = 0
    let touched = try best(of: 3) {
      let decoder = SPDYFrameDecoder()
      sum = 0
      for chunk in chunks {
        decoder.append(chunk)
        while let frame = try decoder.nextFrame() {
          if case .data(let d) = frame { d.payload.withUnsafeBufferPointer { for b in $0 { sum &+= UInt64(b) } } }
        }
      }
    }
    #expect(sum > 0)
    report("SPDY decode + reading every payload byte, 64 KiB reads", bytes: payloadBytes, touched)
  }

  @Test func spdyDataEncodeThroughput() throws {
    let payload = (0..<frameSize).map { UInt8(truncatingIfNeeded: $0) }
    var buffer: [UInt8] = []
    buffer.reserveCapacity(frameSize + 8)
    var total = 0
    let duration = try best(of: 5) {
      total = 0
      for i in 0..<frameCount {
        buffer.removeAll(keepingCapacity: true)
        try SPDYFrameEncoder.encodeData(streamID: UInt32(2 * (i % 8) + 1), payload: payload, into: &buffer)
        total += buffer.count
      }
    }
    #expect(total == frameCount * (frameSize + 8))
    report("SPDY encode, 32 KiB DATA (header + payload copy)", bytes: frameCount * frameSize, duration)
  }

  @Test func webSocketThroughput() throws {
    let payload = (0..<frameSize + 8).map { UInt8(truncatingIfNeeded: $0) }
    var buffer: [UInt8] = []
    buffer.reserveCapacity(frameSize + 32)
    let encode = best(of: 5) {
      for _ in 0..<frameCount {
        buffer.removeAll(keepingCapacity: true)
        WebSocketFrameEncoder.encodeBinary(payload, maskingKey: 0x1234_5678, into: &buffer)
      }
    }
    #expect(parseClientFrame(buffer)?.payload == payload)
    report("WebSocket encode (masked) 32 KiB binary", bytes: frameCount * payload.count, encode)

    var server: [UInt8] = []
    for _ in 0..<frameCount { try WebSocketFrameEncoder.encodeFrame(opcode: .binary, payload: payload[...], maskingKey: nil, into: &server) }
    let chunks: [ArraySlice<UInt8>] = stride(from: 0, to: server.count, by: 32 << 10).map {
      server[$0..<min($0 + (32 << 10), server.count)]
    }
    var decoded = 0
    let decode = try best(of: 5) {
      var decoder = WebSocketFrameDecoder()
      decoded = 0
      for chunk in chunks {
        decoder.append(chunk)
        while let event = try decoder.nextEvent() {
          if case .binary(let m) = event { decoded += m.count }
        }
      }
    }
    #expect(decoded == frameCount * payload.count)
    report("WebSocket decode 32 KiB binary, 32 KiB reads", bytes: decoded, decode)
  }

  @Test func headerFrameRate() throws {
    let encoder = SPDYFrameEncoder()
    let decoder = SPDYFrameDecoder()
    var wire: [UInt8] = []
    let n = 20_000
    let start = ContinuousClock.now
    for i in 0..<n {
      try encoder.encode(
        .synStream(SPDYSynStream(streamID: UInt32(2 * i + 1), headers: ["streamtype": "data", "port": "8080", "requestid": "\(i)"])),
        into: &wire)
    }
    decoder.append(wire)
    let (frames, error) = drain(decoder)
    let elapsed = ContinuousClock.now - start
    #expect(error == nil)
    #expect(frames.count == n)
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print("[throughput] SYN_STREAM encode+decode: \(Int(Double(n) / seconds)) frames/s")
  }
}
