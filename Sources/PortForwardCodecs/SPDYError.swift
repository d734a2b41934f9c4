/// Errors of the SPDY codecs. Every decode error is fatal for the session: spdystream's read loop
/// stops on the same inputs, and after one the byte stream or the shared zlib context can no
/// longer be trusted. A decoder that threw keeps throwing the same error.
public enum SPDYError: Error, Sendable, Equatable, CustomStringConvertible {
  // Framing.
  /// The 24-bit length exceeds the decoder's configured maximum.
  case frameTooLarge(length: Int, limit: Int)
  /// Control type 5 (NOOP), 10 (CREDENTIAL) or unknown: spdystream cannot construct it.
  case unsupportedControlFrameType(UInt16)
  /// A fixed-size control frame with the wrong length, or a frame too short for its fields.
  case invalidFrameLength(SPDYFrameType, length: Int)
  /// PING, GOAWAY, WINDOW_UPDATE with flags other than 0.
  case invalidFlags(SPDYFrameType, flags: UInt8)
  /// Stream id 0 where a stream is required (DATA, SYN_STREAM, SYN_REPLY, HEADERS, RST_STREAM).
  case zeroStreamID(SPDYFrameType)
  /// RST_STREAM with status 0.
  case invalidRstStatus
  /// PING with id 0.
  case zeroPingID

  // Header blocks.
  /// A header name with an uppercase letter.
  case headerNameNotLowercase(String)
  /// connection / host / keep-alive / proxy-connection / transfer-encoding in a block where
  /// spdystream forbids it.
  case forbiddenHeader(String, in: SPDYFrameType)
  /// The compressed bytes of a frame did not decode to exactly one name/value block
  /// (truncated, trailing bytes, zlib stream ended early). spdystream: WrongCompressedPayloadSize.
  case compressedHeaderBlockSizeMismatch(SPDYFrameType)
  /// The decompressed block exceeds the decoder's limit (guards against zlib bombs).
  case headerBlockTooLarge(limit: Int)
  /// zlib rejected the compressed bytes (bad data, wrong dictionary id).
  case headerBlockCorrupt(String)
  /// A zlib call failed for a reason unrelated to the input (init failure, out of memory).
  case zlib(operation: String, code: Int32)
  /// The compression context broke earlier (a zlib failure); it cannot be reused.
  case compressionContextUnusable

  // Encoding (caller errors; nothing is written when thrown).
  /// Stream id outside 1…2³¹−1 (or outside 0…2³¹−1 where 0 is allowed).
  case invalidStreamID(UInt32, SPDYFrameType)
  /// SYN_STREAM priority outside 0…7.
  case invalidPriority(UInt8)
  /// A 31-bit field (window delta) above 2³¹−1.
  case valueOutOfRange(String, UInt32)
  /// A frame payload longer than the 24-bit length field allows.
  case payloadTooLarge(Int)

  public var description: String {
    switch self {
    case .frameTooLarge(let length, let limit):
      return "SPDY frame length \(length) exceeds the limit \(limit)"
    case .unsupportedControlFrameType(let type):
      return "unsupported SPDY control frame type \(type)"
    case .invalidFrameLength(let type, let length):
      return "invalid \(type) frame length \(length)"
    case .invalidFlags(let type, let flags):
      return "invalid \(type) flags 0x\(String(flags, radix: 16))"
    case .zeroStreamID(let type):
      return "\(type) frame with stream id 0"
    case .invalidRstStatus:
      return "RST_STREAM with status 0"
    case .zeroPingID:
      return "PING with id 0"
    case .headerNameNotLowercase(let name):
      return "header name was not lowercased: \(name.debugDescription)"
    case .forbiddenHeader(let name, let type):
      return "header \(name.debugDescription) is not allowed in \(type)"
    case .compressedHeaderBlockSizeMismatch(let type):
      return "compressed header block of \(type) does not decode to exactly one name/value block"
    case .headerBlockTooLarge(let limit):
      return "decompressed header block exceeds \(limit) bytes"
    case .headerBlockCorrupt(let message):
      return "corrupt compressed header block: \(message)"
    case .zlib(let operation, let code):
      return "zlib \(operation) failed with code \(code)"
    case .compressionContextUnusable:
      return "the header compression context failed earlier and cannot be used"
    case .invalidStreamID(let id, let type):
      return "invalid stream id \(id) for \(type)"
    case .invalidPriority(let priority):
      return "invalid SYN_STREAM priority \(priority) (0…7)"
    case .valueOutOfRange(let field, let value):
      return "\(field) \(value) does not fit in 31 bits"
    case .payloadTooLarge(let length):
      return "frame payload of \(length) bytes exceeds \(SPDYWire.maxFrameLength)"
    }
  }
}
