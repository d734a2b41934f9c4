import Foundation
import PortForwardCodecs
import Testing

/// Deterministic RNG so every fuzz failure reproduces from its printed seed.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

func hex(_ s: String) -> [UInt8] {
  let digits = s.filter { !$0.isWhitespace }
  precondition(digits.count % 2 == 0)
  var out: [UInt8] = []
  var i = digits.startIndex
  while i < digits.endIndex {
    let j = digits.index(i, offsetBy: 2)
    out.append(UInt8(digits[i..<j], radix: 16)!)
    i = j
  }
  return out
}

func hexString<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
  bytes.map { String(format: "%02x", $0) }.joined(separator: " ")
}

func be32(_ v: UInt32) -> [UInt8] {
  [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
}

/// An uncompressed name/value block built by hand, so tests can send what our encoder refuses.
func rawHeaderBlock(_ pairs: [(String, String)]) -> [UInt8] {
  var out = be32(UInt32(pairs.count))
  for (name, value) in pairs {
    out += be32(UInt32(name.utf8.count)) + Array(name.utf8)
    out += be32(UInt32(value.utf8.count)) + Array(value.utf8)
  }
  return out
}

/// A control frame with an arbitrary payload (version 3).
func controlFrame(type: UInt16, flags: UInt8 = 0, payload: [UInt8], version: UInt16 = 3) -> [UInt8] {
  let len = UInt32(payload.count)
  return [0x80 | UInt8(version >> 8), UInt8(truncatingIfNeeded: version), UInt8(type >> 8), UInt8(truncatingIfNeeded: type)]
    + [flags, UInt8(truncatingIfNeeded: len >> 16), UInt8(truncatingIfNeeded: len >> 8), UInt8(truncatingIfNeeded: len)]
    + payload
}

/// A SYN_STREAM / SYN_REPLY / HEADERS whose block is compressed from `raw` by `compressor`.
func headerFrame(type: UInt16, streamID: UInt32, raw: [UInt8], compressor: HeaderCompressor, extraCompressedBytes: [UInt8] = [])
  throws -> [UInt8]
{
  var payload = be32(streamID)
  if type == 1 { payload += be32(0) + [0, 0] }
  try compressor.compress(raw, appendingTo: &payload)
  payload += extraCompressedBytes
  return controlFrame(type: type, payload: payload)
}

/// Decodes everything available; returns the frames and the error, if any.
func drain(_ decoder: SPDYFrameDecoder) -> (frames: [SPDYFrame], error: SPDYError?) {
  var frames: [SPDYFrame] = []
  do {
    while let frame = try decoder.nextFrame() { frames.append(frame) }
    return (frames, nil)
  } catch {
    return (frames, error)
  }
}

func decodeAll(_ bytes: [UInt8], decoder: SPDYFrameDecoder = SPDYFrameDecoder()) -> (frames: [SPDYFrame], error: SPDYError?) {
  decoder.append(bytes)
  return drain(decoder)
}

func drain(_ decoder: inout WebSocketFrameDecoder) -> (events: [WebSocketEvent], error: WebSocketError?) {
  var events: [WebSocketEvent] = []
  do {
    while let event = try decoder.nextEvent() { events.append(event) }
    return (events, nil)
  } catch {
    return (events, error)
  }
}

/// Unmasks a client frame the straightforward way (reference for the word-wise masking code).
func parseClientFrame(_ bytes: [UInt8]) -> (fin: Bool, opcode: UInt8, key: [UInt8], payload: [UInt8])? {
  guard bytes.count >= 2, bytes[1] & 0x80 != 0 else { return nil }
  var length = Int(bytes[1] & 0x7F)
  var offset = 2
  if length == 126 {
    length = Int(bytes[2]) << 8 | Int(bytes[3])
    offset = 4
  } else if length == 127 {
    length = 0
    for i in 2..<10 { length = length << 8 | Int(bytes[i]) }
    offset = 10
  }
  let key = Array(bytes[offset..<offset + 4])
  offset += 4
  guard bytes.count == offset + length else { return nil }
  var payload = Array(bytes[offset...])
  for i in payload.indices { payload[i] ^= key[i % 4] }
  return (bytes[0] & 0x80 != 0, bytes[0] & 0x0F, key, payload)
}
