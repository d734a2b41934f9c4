/// SPDY stream ids are 31-bit; the top bit of the wire word is reserved (control bit / zero).
public typealias SPDYStreamID = UInt32

/// The frame kinds spdystream knows. Control types carry their wire code.
public enum SPDYFrameType: Sendable, Equatable, CustomStringConvertible {
  case data
  case synStream
  case synReply
  case rstStream
  case settings
  case ping
  case goAway
  case headers
  case windowUpdate

  /// The 16-bit control frame type, or nil for DATA.
  public var controlCode: UInt16? {
    switch self {
    case .data: return nil
    case .synStream: return 1
    case .synReply: return 2
    case .rstStream: return 3
    case .settings: return 4
    case .ping: return 6
    case .goAway: return 7
    case .headers: return 8
    case .windowUpdate: return 9
    }
  }

  /// Maps a wire control type to a kind; nil for NOOP (5), CREDENTIAL (10) and unknown types,
  /// which spdystream has no constructor for (fatal).
  public init?(controlCode: UInt16) {
    switch controlCode {
    case 1: self = .synStream
    case 2: self = .synReply
    case 3: self = .rstStream
    case 4: self = .settings
    case 6: self = .ping
    case 7: self = .goAway
    case 8: self = .headers
    case 9: self = .windowUpdate
    default: return nil
    }
  }

  public var description: String {
    switch self {
    case .data: return "DATA"
    case .synStream: return "SYN_STREAM"
    case .synReply: return "SYN_REPLY"
    case .rstStream: return "RST_STREAM"
    case .settings: return "SETTINGS"
    case .ping: return "PING"
    case .goAway: return "GOAWAY"
    case .headers: return "HEADERS"
    case .windowUpdate: return "WINDOW_UPDATE"
    }
  }
}

/// Frame flags. The byte is kept raw so unknown bits survive a decode/encode round trip.
public struct SPDYFlags: OptionSet, Sendable, Hashable {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }

  /// DATA, SYN_STREAM, SYN_REPLY, HEADERS: last frame of this side of the stream.
  public static let fin = SPDYFlags(rawValue: 0x01)
  /// SYN_STREAM: the receiver may not send on this stream.
  public static let unidirectional = SPDYFlags(rawValue: 0x02)
  /// SETTINGS: FLAG_SETTINGS_CLEAR_SETTINGS (same bit as FIN, different frame).
  public static let clearSettings = SPDYFlags(rawValue: 0x01)
}

/// RST_STREAM status codes (SPDY/3 §2.6.3). Status 0 is invalid on the wire (fatal for
/// spdystream); codes above 11 are tolerated by spdystream and kept as `.other`.
public enum SPDYRstStatus: Sendable, Hashable, CustomStringConvertible {
  case protocolError
  case invalidStream
  case refusedStream
  case unsupportedVersion
  case cancel
  case internalError
  case flowControlError
  case streamInUse
  case streamAlreadyClosed
  case invalidCredentials
  case frameTooLarge
  /// Any other code. `init(rawValue:)` never produces `.other` for a named code.
  case other(UInt32)

  public init(rawValue: UInt32) {
    switch rawValue {
    case 1: self = .protocolError
    case 2: self = .invalidStream
    case 3: self = .refusedStream
    case 4: self = .unsupportedVersion
    case 5: self = .cancel
    case 6: self = .internalError
    case 7: self = .flowControlError
    case 8: self = .streamInUse
    case 9: self = .streamAlreadyClosed
    case 10: self = .invalidCredentials
    case 11: self = .frameTooLarge
    default: self = .other(rawValue)
    }
  }

  public var rawValue: UInt32 {
    switch self {
    case .protocolError: return 1
    case .invalidStream: return 2
    case .refusedStream: return 3
    case .unsupportedVersion: return 4
    case .cancel: return 5
    case .internalError: return 6
    case .flowControlError: return 7
    case .streamInUse: return 8
    case .streamAlreadyClosed: return 9
    case .invalidCredentials: return 10
    case .frameTooLarge: return 11
    case .other(let code): return code
    }
  }

  // Equality by wire code, so `.other(5) == .cancel`.
  public static func == (lhs: SPDYRstStatus, rhs: SPDYRstStatus) -> Bool { lhs.rawValue == rhs.rawValue }
  public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

  public var description: String {
    switch self {
    case .protocolError: return "PROTOCOL_ERROR"
    case .invalidStream: return "INVALID_STREAM"
    case .refusedStream: return "REFUSED_STREAM"
    case .unsupportedVersion: return "UNSUPPORTED_VERSION"
    case .cancel: return "CANCEL"
    case .internalError: return "INTERNAL_ERROR"
    case .flowControlError: return "FLOW_CONTROL_ERROR"
    case .streamInUse: return "STREAM_IN_USE"
    case .streamAlreadyClosed: return "STREAM_ALREADY_CLOSED"
    case .invalidCredentials: return "INVALID_CREDENTIALS"
    case .frameTooLarge: return "FRAME_TOO_LARGE"
    case .other(let code): return "status \(code)"
    }
  }
}

/// GOAWAY status (SPDY/3 §2.6.6). Any value is accepted on read.
public struct SPDYGoAwayStatus: RawRepresentable, Sendable, Hashable {
  public let rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  public static let ok = SPDYGoAwayStatus(rawValue: 0)
  public static let protocolError = SPDYGoAwayStatus(rawValue: 1)
  public static let internalError = SPDYGoAwayStatus(rawValue: 2)
}

/// An ordered SPDY/3 name/value block.
///
/// Order is preserved exactly as given, because the compressed bytes depend on it and the
/// session must be deterministic (the golden frames in the spec use streamtype, port, requestid).
/// Several values of one name go on the wire joined with NUL; on read they are split again (so an
/// empty `values` array reads back as `[""]`). Bytes are decoded as UTF-8, invalid sequences
/// replaced (spdystream does not validate either; k8s headers are ASCII).
public struct SPDYHeaderBlock: Sendable, Equatable, ExpressibleByDictionaryLiteral {
  public struct Field: Sendable, Equatable {
    public var name: String
    public var values: [String]
    public init(name: String, values: [String]) {
      self.name = name
      self.values = values
    }
    public init(name: String, value: String) {
      self.init(name: name, values: [value])
    }
  }

  public var fields: [Field]

  public init(_ fields: [Field] = []) { self.fields = fields }

  /// Order-preserving: `["streamtype": "data", "port": "8080", "requestid": "0"]`.
  public init(dictionaryLiteral elements: (String, String)...) {
    fields = elements.map { Field(name: $0.0, value: $0.1) }
  }

  /// All values of `name` (compared lowercased), merged across duplicate fields like spdystream does.
  public func values(for name: String) -> [String] {
    let wanted = name.lowercased()
    return fields.filter { $0.name.lowercased() == wanted }.flatMap(\.values)
  }

  /// The first value of `name`, if any.
  public func value(for name: String) -> String? { values(for: name).first }

  public var isEmpty: Bool { fields.isEmpty }
}

public struct SPDYDataFrame: Sendable, Equatable {
  public var streamID: SPDYStreamID
  public var flags: SPDYFlags
  /// The payload. When decoded it is usually a slice of the bytes given to the decoder (no copy),
  /// so its indices need not start at 0: use `startIndex`/`endIndex` or iterate.
  public var payload: ArraySlice<UInt8>

  public init(streamID: SPDYStreamID, flags: SPDYFlags = [], payload: ArraySlice<UInt8> = []) {
    self.streamID = streamID
    self.flags = flags
    self.payload = payload
  }

  public var isFin: Bool { flags.contains(.fin) }
}

public struct SPDYSynStream: Sendable, Equatable {
  public var streamID: SPDYStreamID
  public var associatedStreamID: SPDYStreamID
  /// 0 (highest) … 7; the wire byte holds it in its top 3 bits.
  public var priority: UInt8
  public var slot: UInt8
  public var flags: SPDYFlags
  public var headers: SPDYHeaderBlock

  public init(
    streamID: SPDYStreamID, associatedStreamID: SPDYStreamID = 0, priority: UInt8 = 0, slot: UInt8 = 0,
    flags: SPDYFlags = [], headers: SPDYHeaderBlock
  ) {
    self.streamID = streamID
    self.associatedStreamID = associatedStreamID
    self.priority = priority
    self.slot = slot
    self.flags = flags
    self.headers = headers
  }
}

public struct SPDYSynReply: Sendable, Equatable {
  public var streamID: SPDYStreamID
  public var flags: SPDYFlags
  public var headers: SPDYHeaderBlock

  public init(streamID: SPDYStreamID, flags: SPDYFlags = [], headers: SPDYHeaderBlock = SPDYHeaderBlock()) {
    self.streamID = streamID
    self.flags = flags
    self.headers = headers
  }
}

public struct SPDYRstStream: Sendable, Equatable {
  public var streamID: SPDYStreamID
  public var status: SPDYRstStatus
  /// Flags are undefined for RST_STREAM; spdystream ignores them on read. Kept for round trips.
  public var flags: SPDYFlags

  public init(streamID: SPDYStreamID, status: SPDYRstStatus, flags: SPDYFlags = []) {
    self.streamID = streamID
    self.status = status
    self.flags = flags
  }
}

public struct SPDYSettings: Sendable, Equatable {
  public struct Entry: Sendable, Equatable {
    /// Per-entry flags (1 PERSIST_VALUE, 2 PERSISTED).
    public var flags: UInt8
    /// 24-bit setting id (7 = INITIAL_WINDOW_SIZE).
    public var id: UInt32
    public var value: UInt32
    public init(flags: UInt8 = 0, id: UInt32, value: UInt32) {
      self.flags = flags
      self.id = id
      self.value = value
    }
  }

  public var flags: SPDYFlags
  public var entries: [Entry]

  public init(flags: SPDYFlags = [], entries: [Entry]) {
    self.flags = flags
    self.entries = entries
  }
}

public struct SPDYPing: Sendable, Equatable {
  /// Never 0 on the wire. Clients use odd ids, servers even ids.
  public var id: UInt32
  public init(id: UInt32) { self.id = id }
}

public struct SPDYGoAway: Sendable, Equatable {
  public var lastGoodStreamID: SPDYStreamID
  public var status: SPDYGoAwayStatus
  public init(lastGoodStreamID: SPDYStreamID, status: SPDYGoAwayStatus = .ok) {
    self.lastGoodStreamID = lastGoodStreamID
    self.status = status
  }
}

public struct SPDYHeaders: Sendable, Equatable {
  public var streamID: SPDYStreamID
  public var flags: SPDYFlags
  public var headers: SPDYHeaderBlock
  public init(streamID: SPDYStreamID, flags: SPDYFlags = [], headers: SPDYHeaderBlock) {
    self.streamID = streamID
    self.flags = flags
    self.headers = headers
  }
}

public struct SPDYWindowUpdate: Sendable, Equatable {
  public var streamID: SPDYStreamID
  public var deltaWindowSize: UInt32
  public init(streamID: SPDYStreamID, deltaWindowSize: UInt32) {
    self.streamID = streamID
    self.deltaWindowSize = deltaWindowSize
  }
}

/// One SPDY/3 frame.
public enum SPDYFrame: Sendable, Equatable {
  case data(SPDYDataFrame)
  case synStream(SPDYSynStream)
  case synReply(SPDYSynReply)
  case rstStream(SPDYRstStream)
  case settings(SPDYSettings)
  case ping(SPDYPing)
  case goAway(SPDYGoAway)
  case headers(SPDYHeaders)
  case windowUpdate(SPDYWindowUpdate)

  public var type: SPDYFrameType {
    switch self {
    case .data: return .data
    case .synStream: return .synStream
    case .synReply: return .synReply
    case .rstStream: return .rstStream
    case .settings: return .settings
    case .ping: return .ping
    case .goAway: return .goAway
    case .headers: return .headers
    case .windowUpdate: return .windowUpdate
    }
  }
}

/// Wire constants shared by the encoder and decoder.
public enum SPDYWire {
  /// Version written in control frames. spdystream never checks it on read, and neither do we.
  public static let version: UInt16 = 3
  /// Every frame starts with an 8-byte header.
  public static let frameHeaderLength = 8
  /// Largest length the 24-bit field can carry (16 MiB − 1).
  public static let maxFrameLength = 0xFF_FFFF
  /// Largest 31-bit stream id.
  public static let maxStreamID: UInt32 = 0x7FFF_FFFF
}
