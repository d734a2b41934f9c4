/// The query of `GET /containerLogs/...`, decoded and validated as the kubelet does (`v1.PodLogOptions`
/// through the parameter codec, then `ValidatePodLogOptions`).
struct ContainerLogOptions: Equatable {
  var follow = false
  var previous = false
  var timestamps = false
  var tailLines: Int?
  var limitBytes: Int?
  /// From `sinceTime` (RFC 3339) or `sinceSeconds` (relative to `now`).
  var since: LogTimestamp?

  enum Failure: Error, Equatable {
    /// 400 `{"message": "Unable to decode query."}`
    case undecodable
    /// 422 `{"message": "Invalid request."}`
    case invalid
  }

  /// `now` is the current time as seconds since the epoch (for `sinceSeconds`).
  static func decode(query: [(name: String, value: String)], now: Int64) throws(Failure) -> ContainerLogOptions {
    var options = ContainerLogOptions()
    var sinceSeconds: Int?
    var sinceTime: LogTimestamp?
    // Like the kubelet: the legacy `tail` parameter, where `all` means no limit.
    var items = query
    if let tail = query.last(where: { $0.name == "tail" })?.value, !tail.isEmpty {
      items.removeAll { $0.name == "tailLines" }
      if tail != "all" { items.append(("tailLines", tail)) }
    }
    for (name, value) in items {
      switch name {
      case "follow": options.follow = try bool(value)
      case "previous": options.previous = try bool(value)
      case "timestamps": options.timestamps = try bool(value)
      case "tailLines": options.tailLines = try int(value)
      case "limitBytes": options.limitBytes = try int(value)
      case "sinceSeconds": sinceSeconds = try int(value)
      case "sinceTime":
        guard let time = LogTimestamp(rfc3339: value) else { throw .undecodable }
        sinceTime = time
      default: break
      }
    }
    if let tail = options.tailLines, tail < 0 { throw .invalid }
    if let limit = options.limitBytes, limit < 1 { throw .invalid }
    if sinceSeconds != nil, sinceTime != nil { throw .invalid }
    if let sinceSeconds {
      guard sinceSeconds >= 1 else { throw .invalid }
      options.since = LogTimestamp(seconds: now - Int64(sinceSeconds), nanoseconds: 0)
    } else if let sinceTime {
      options.since = sinceTime
    }
    return options
  }

  /// Go's `strconv.ParseBool`; an empty value is false (the codec skips it).
  private static func bool(_ value: String) throws(Failure) -> Bool {
    switch value {
    case "", "0", "f", "F", "false", "FALSE", "False": return false
    case "1", "t", "T", "true", "TRUE", "True": return true
    default: throw .undecodable
    }
  }

  private static func int(_ value: String) throws(Failure) -> Int {
    guard let number = Int(value) else { throw .undecodable }
    return number
  }
}

/// Turns CRI records into what the client reads, as the kubelet's `logWriter`: the timestamp (fixed to
/// nine fraction digits) and a space before each line when asked, records before `since` skipped, and
/// output cut at `limitBytes`.
struct ContainerLogFormatter {
  let timestamps: Bool
  let since: LogTimestamp?
  private(set) var remaining: Int
  /// True when the next record starts a line (a partial record's continuation gets no timestamp).
  private var atLineStart = true

  init(options: ContainerLogOptions) {
    timestamps = options.timestamps
    since = options.since
    remaining = options.limitBytes ?? Int.max
  }

  /// The limit is reached: nothing more will be written.
  var isExhausted: Bool { remaining <= 0 }

  mutating func append(_ record: CRILogRecord, to output: inout [UInt8]) {
    guard remaining > 0 else { return }
    let startsLine = atLineStart
    atLineStart = !record.partial
    if let since, let time = LogTimestamp(rfc3339: record.timestamp), time < since { return }
    var line: [UInt8] = []
    if timestamps && startsLine {
      line += Array(LogTimestamp.fixedNano(record.timestamp).utf8)
      line.append(UInt8(ascii: " "))
    }
    line += record.content
    if line.count > remaining { line = Array(line.prefix(remaining)) }
    remaining -= line.count
    output += line
  }
}
