/// The uncompressed SPDY/3 name/value block: uint32 count, then per pair uint32 name length,
/// name, uint32 value length, value (several values joined with NUL).
enum SPDYHeaderBlockCodec {
  /// Headers spdystream refuses in request-side blocks (SYN_STREAM, HEADERS on even ids).
  static let forbiddenInRequest: Set<String> = [
    "connection", "host", "keep-alive", "proxy-connection", "transfer-encoding",
  ]
  /// Headers spdystream refuses in reply-side blocks (SYN_REPLY, HEADERS on odd ids): no Host.
  static let forbiddenInReply: Set<String> = [
    "connection", "keep-alive", "proxy-connection", "transfer-encoding",
  ]

  static func forbidden(for type: SPDYFrameType, streamID: SPDYStreamID) -> Set<String> {
    switch type {
    case .synStream: return forbiddenInRequest
    case .headers: return streamID % 2 == 0 ? forbiddenInRequest : forbiddenInReply
    default: return forbiddenInReply
    }
  }

  /// Checks the rules spdystream enforces on a received block (and that we therefore enforce on
  /// what we send): lowercase names, no hop-by-hop headers.
  static func validate(_ block: SPDYHeaderBlock, type: SPDYFrameType, streamID: SPDYStreamID) throws(SPDYError) {
    let banned = forbidden(for: type, streamID: streamID)
    for field in block.fields {
      let lower = field.name.lowercased()
      if lower != field.name { throw .headerNameNotLowercase(field.name) }
      if banned.contains(lower) { throw .forbiddenHeader(field.name, in: type) }
    }
  }

  static func encode(_ block: SPDYHeaderBlock) throws(SPDYError) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(64)
    appendUInt32(UInt32(block.fields.count), to: &out)
    for field in block.fields {
      let name = Array(field.name.utf8)
      var value: [UInt8] = []
      for (i, v) in field.values.enumerated() {
        if i > 0 { value.append(0) }
        value.append(contentsOf: v.utf8)
      }
      guard name.count <= Int(UInt32.max), value.count <= Int(UInt32.max) else {
        throw .payloadTooLarge(max(name.count, value.count))
      }
      appendUInt32(UInt32(name.count), to: &out)
      out.append(contentsOf: name)
      appendUInt32(UInt32(value.count), to: &out)
      out.append(contentsOf: value)
    }
    return out
  }

  /// Parses exactly one block from `bytes`. Truncation and trailing bytes are both the
  /// "compressed payload size was incorrect" condition of spdystream.
  static func decode(_ bytes: [UInt8], type: SPDYFrameType) throws(SPDYError) -> SPDYHeaderBlock {
    var offset = 0
    func readUInt32() -> UInt32? {
      guard bytes.count - offset >= 4 else { return nil }
      defer { offset += 4 }
      return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
        | UInt32(bytes[offset + 3])
    }
    func readBytes(_ n: UInt32) -> ArraySlice<UInt8>? {
      guard UInt64(bytes.count - offset) >= UInt64(n) else { return nil }
      defer { offset += Int(n) }
      return bytes[offset..<offset + Int(n)]
    }
    guard let count = readUInt32() else { throw .compressedHeaderBlockSizeMismatch(type) }
    // Each pair needs at least 8 bytes: a huge count fails here instead of looping for long.
    guard UInt64(count) * 8 <= UInt64(bytes.count - offset) else { throw .compressedHeaderBlockSizeMismatch(type) }
    var fields: [SPDYHeaderBlock.Field] = []
    fields.reserveCapacity(Int(count))
    var notLowercase: String?
    for _ in 0..<count {
      guard let nameLength = readUInt32(), let nameBytes = readBytes(nameLength),
        let valueLength = readUInt32(), let valueBytes = readBytes(valueLength)
      else { throw .compressedHeaderBlockSizeMismatch(type) }
      let name = String(decoding: nameBytes, as: UTF8.self)
      // spdystream records this error but keeps parsing, so a size problem wins over it.
      if notLowercase == nil && name.lowercased() != name { notLowercase = name }
      let values = valueBytes.split(separator: 0, omittingEmptySubsequences: false).map {
        String(decoding: $0, as: UTF8.self)
      }
      fields.append(SPDYHeaderBlock.Field(name: name, values: values))
    }
    guard offset == bytes.count else { throw .compressedHeaderBlockSizeMismatch(type) }
    if let name = notLowercase { throw .headerNameNotLowercase(name) }
    return SPDYHeaderBlock(fields)
  }

  @inline(__always)
  static func appendUInt32(_ value: UInt32, to out: inout [UInt8]) {
    out.append(UInt8(truncatingIfNeeded: value >> 24))
    out.append(UInt8(truncatingIfNeeded: value >> 16))
    out.append(UInt8(truncatingIfNeeded: value >> 8))
    out.append(UInt8(truncatingIfNeeded: value))
  }
}
