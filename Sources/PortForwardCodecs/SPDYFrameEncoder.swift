/// SPDY/3 frame encoder. Every frame is appended to the caller's buffer as one contiguous run of
/// bytes, so a session can do one write per frame or coalesce several frames into one write.
///
/// Header-bearing frames (SYN_STREAM, SYN_REPLY, HEADERS) advance the session's outbound zlib
/// context, so **frames must reach the wire in the order they were encoded**. A session should
/// allocate the stream id, encode and enqueue under one lock/actor turn (spec §A.4/§A.5).
///
/// Validation happens before anything is compressed or appended: on a thrown error the buffer is
/// unchanged and the compression context is still in step with the peer.
///
/// Not Sendable: it owns the session's outbound zlib context (see `HeaderCompressor`).
public final class SPDYFrameEncoder {
  private let compressor: HeaderCompressor

  /// `compressionLevel` 9 matches Go's spdystream byte for byte.
  public init(compressionLevel: Int32 = 9) {
    compressor = HeaderCompressor(level: compressionLevel)
  }

  /// Encodes `frame` and returns its bytes.
  public func encode(_ frame: SPDYFrame) throws(SPDYError) -> [UInt8] {
    var out: [UInt8] = []
    try encode(frame, into: &out)
    return out
  }

  /// Appends the encoding of `frame` to `buffer`.
  public func encode(_ frame: SPDYFrame, into buffer: inout [UInt8]) throws(SPDYError) {
    switch frame {
    case .data(let data):
      try Self.encodeData(streamID: data.streamID, flags: data.flags, payload: data.payload, into: &buffer)
    case .synStream(let f):
      try Self.checkStreamID(f.streamID, .synStream)
      guard f.associatedStreamID <= SPDYWire.maxStreamID else {
        throw .invalidStreamID(f.associatedStreamID, .synStream)
      }
      guard f.priority <= 7 else { throw .invalidPriority(f.priority) }
      try SPDYHeaderBlockCodec.validate(f.headers, type: .synStream, streamID: f.streamID)
      try appendHeaderFrame(.synStream, flags: f.flags, headers: f.headers, into: &buffer) { out in
        SPDYHeaderBlockCodec.appendUInt32(f.streamID, to: &out)
        SPDYHeaderBlockCodec.appendUInt32(f.associatedStreamID, to: &out)
        out.append(f.priority << 5)
        out.append(f.slot)
      }
    case .synReply(let f):
      try Self.checkStreamID(f.streamID, .synReply)
      try SPDYHeaderBlockCodec.validate(f.headers, type: .synReply, streamID: f.streamID)
      try appendHeaderFrame(.synReply, flags: f.flags, headers: f.headers, into: &buffer) { out in
        SPDYHeaderBlockCodec.appendUInt32(f.streamID, to: &out)
      }
    case .headers(let f):
      try Self.checkStreamID(f.streamID, .headers)
      try SPDYHeaderBlockCodec.validate(f.headers, type: .headers, streamID: f.streamID)
      try appendHeaderFrame(.headers, flags: f.flags, headers: f.headers, into: &buffer) { out in
        SPDYHeaderBlockCodec.appendUInt32(f.streamID, to: &out)
      }
    case .rstStream(let f):
      try Self.checkStreamID(f.streamID, .rstStream)
      guard f.status.rawValue != 0 else { throw .invalidRstStatus }
      Self.appendControlHeader(.rstStream, flags: f.flags, length: 8, into: &buffer)
      SPDYHeaderBlockCodec.appendUInt32(f.streamID, to: &buffer)
      SPDYHeaderBlockCodec.appendUInt32(f.status.rawValue, to: &buffer)
    case .settings(let f):
      let length = 4 + 8 * f.entries.count
      guard length <= SPDYWire.maxFrameLength else { throw .payloadTooLarge(length) }
      for entry in f.entries where entry.id > 0xFF_FFFF {
        throw .valueOutOfRange("SETTINGS id", entry.id)
      }
      Self.appendControlHeader(.settings, flags: f.flags, length: length, into: &buffer)
      SPDYHeaderBlockCodec.appendUInt32(UInt32(f.entries.count), to: &buffer)
      for entry in f.entries {
        SPDYHeaderBlockCodec.appendUInt32(UInt32(entry.flags) << 24 | entry.id, to: &buffer)
        SPDYHeaderBlockCodec.appendUInt32(entry.value, to: &buffer)
      }
    case .ping(let f):
      guard f.id != 0 else { throw .zeroPingID }
      Self.appendControlHeader(.ping, flags: [], length: 4, into: &buffer)
      SPDYHeaderBlockCodec.appendUInt32(f.id, to: &buffer)
    case .goAway(let f):
      guard f.lastGoodStreamID <= SPDYWire.maxStreamID else { throw .invalidStreamID(f.lastGoodStreamID, .goAway) }
      Self.appendControlHeader(.goAway, flags: [], length: 8, into: &buffer)
      SPDYHeaderBlockCodec.appendUInt32(f.lastGoodStreamID, to: &buffer)
      SPDYHeaderBlockCodec.appendUInt32(f.status.rawValue, to: &buffer)
    case .windowUpdate(let f):
      guard f.streamID <= SPDYWire.maxStreamID else { throw .invalidStreamID(f.streamID, .windowUpdate) }
      guard f.deltaWindowSize <= 0x7FFF_FFFF else { throw .valueOutOfRange("window delta", f.deltaWindowSize) }
      Self.appendControlHeader(.windowUpdate, flags: [], length: 8, into: &buffer)
      SPDYHeaderBlockCodec.appendUInt32(f.streamID, to: &buffer)
      SPDYHeaderBlockCodec.appendUInt32(f.deltaWindowSize, to: &buffer)
    }
  }

  // MARK: DATA fast path (stateless)

  /// Appends the 8-byte DATA frame header; for sessions that write header and payload with
  /// scatter/gather I/O instead of copying the payload into one buffer.
  public static func appendDataFrameHeader(
    streamID: SPDYStreamID, flags: SPDYFlags = [], length: Int, into buffer: inout [UInt8]
  ) throws(SPDYError) {
    try checkStreamID(streamID, .data)
    guard length >= 0, length <= SPDYWire.maxFrameLength else { throw .payloadTooLarge(length) }
    SPDYHeaderBlockCodec.appendUInt32(streamID, to: &buffer)
    SPDYHeaderBlockCodec.appendUInt32(UInt32(flags.rawValue) << 24 | UInt32(length), to: &buffer)
  }

  /// Appends one complete DATA frame (header + payload, one copy of the payload).
  public static func encodeData(
    streamID: SPDYStreamID, flags: SPDYFlags = [], payload: ArraySlice<UInt8>, into buffer: inout [UInt8]
  ) throws(SPDYError) {
    try appendDataFrameHeader(streamID: streamID, flags: flags, length: payload.count, into: &buffer)
    buffer.append(contentsOf: payload)
  }

  /// Appends one complete DATA frame (header + payload, one copy of the payload).
  public static func encodeData(
    streamID: SPDYStreamID, flags: SPDYFlags = [], payload: [UInt8], into buffer: inout [UInt8]
  ) throws(SPDYError) {
    try encodeData(streamID: streamID, flags: flags, payload: payload[...], into: &buffer)
  }

  /// Appends one complete DATA frame from memory the caller owns (one copy of the payload).
  public static func encodeData(
    streamID: SPDYStreamID, flags: SPDYFlags = [], payload: UnsafeRawBufferPointer, into buffer: inout [UInt8]
  ) throws(SPDYError) {
    try appendDataFrameHeader(streamID: streamID, flags: flags, length: payload.count, into: &buffer)
    buffer.append(contentsOf: payload)
  }

  // MARK: helpers

  private static func checkStreamID(_ id: SPDYStreamID, _ type: SPDYFrameType) throws(SPDYError) {
    guard id != 0, id <= SPDYWire.maxStreamID else { throw .invalidStreamID(id, type) }
  }

  private static func appendControlHeader(_ type: SPDYFrameType, flags: SPDYFlags, length: Int, into buffer: inout [UInt8]) {
    buffer.append(0x80 | UInt8(SPDYWire.version >> 8))
    buffer.append(UInt8(truncatingIfNeeded: SPDYWire.version))
    let code = type.controlCode!
    buffer.append(UInt8(code >> 8))
    buffer.append(UInt8(truncatingIfNeeded: code))
    SPDYHeaderBlockCodec.appendUInt32(UInt32(flags.rawValue) << 24 | UInt32(length), to: &buffer)
  }

  /// Writes header, fixed fields and compressed block straight into `buffer`, then patches the
  /// 24-bit length. The block is compressed only after every check passed.
  private func appendHeaderFrame(
    _ type: SPDYFrameType, flags: SPDYFlags, headers: SPDYHeaderBlock, into buffer: inout [UInt8],
    fixedFields: (inout [UInt8]) -> Void
  ) throws(SPDYError) {
    let raw = try SPDYHeaderBlockCodec.encode(headers)
    let start = buffer.count
    Self.appendControlHeader(type, flags: flags, length: 0, into: &buffer)
    fixedFields(&buffer)
    do {
      try compressor.compress(raw, appendingTo: &buffer)
    } catch {
      buffer.removeSubrange(start...)
      throw error
    }
    let length = buffer.count - start - SPDYWire.frameHeaderLength
    guard length <= SPDYWire.maxFrameLength else {
      // Too late to keep the peer's context in step: the block is already in our deflate stream.
      // Only reachable with megabytes of headers; the session must treat it as fatal, and the
      // encoder refuses further header frames.
      compressor.markUnusable()
      buffer.removeSubrange(start...)
      throw .payloadTooLarge(length)
    }
    buffer[start + 5] = UInt8(truncatingIfNeeded: length >> 16)
    buffer[start + 6] = UInt8(truncatingIfNeeded: length >> 8)
    buffer[start + 7] = UInt8(truncatingIfNeeded: length)
  }
}

@available(*, unavailable, message: "owns the session's outbound zlib context")
extension SPDYFrameEncoder: Sendable {}
