/// One line of a CRI container log file (`<RFC3339Nano timestamp> <stdout|stderr> <P|F>[:tags] <text>`),
/// as the kubelet's `parseCRILog` reads it (`pkg/kubelet/kuberuntime/logs/logs.go`).
struct CRILogRecord: Equatable {
  enum Stream: String { case stdout, stderr }

  /// As written in the file.
  var timestamp: String
  var stream: Stream
  /// `P`: the text continues in the next record; `F`: the text ends a line.
  var partial: Bool
  /// The text the container wrote: with its `\n` for a full line, without for a partial one.
  var content: [UInt8]

  enum ParseError: Error, Equatable {
    case missingTimestamp
    case unexpectedStream(String)
    case missingTag
  }

  /// Parses one line (with or without its trailing `\n`).
  static func parse(_ line: ArraySlice<UInt8>) throws(ParseError) -> CRILogRecord {
    let space = UInt8(ascii: " ")
    var rest = line
    if rest.last == UInt8(ascii: "\n") { rest = rest.dropLast() }
    guard let afterTime = rest.firstIndex(of: space) else { throw .missingTimestamp }
    let timestamp = String(decoding: rest[rest.startIndex..<afterTime], as: UTF8.self)
    rest = rest[(afterTime + 1)...]
    guard let afterStream = rest.firstIndex(of: space) else { throw .unexpectedStream(String(decoding: rest, as: UTF8.self)) }
    let streamText = String(decoding: rest[rest.startIndex..<afterStream], as: UTF8.self)
    guard let stream = Stream(rawValue: streamText) else { throw .unexpectedStream(streamText) }
    rest = rest[(afterStream + 1)...]
    // The tag field may carry more tags after `:`; the first says partial or full. A record with an
    // empty text may end right after the tag.
    let afterTag = rest.firstIndex(of: space) ?? rest.endIndex
    let tags = rest[rest.startIndex..<afterTag]
    guard let first = tags.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false).first, !first.isEmpty
    else { throw .missingTag }
    let partial = first.elementsEqual("P".utf8)
    var content = Array(afterTag < rest.endIndex ? rest[(afterTag + 1)...] : [])
    if !partial { content.append(UInt8(ascii: "\n")) }
    return CRILogRecord(timestamp: timestamp, stream: stream, partial: partial, content: content)
  }
}

/// The instant of a CRI timestamp, for `sinceTime`/`sinceSeconds`, and its output form.
struct LogTimestamp: Comparable {
  /// Seconds since the Unix epoch (UTC) and nanoseconds within that second.
  var seconds: Int64
  var nanoseconds: Int64

  static func < (lhs: LogTimestamp, rhs: LogTimestamp) -> Bool {
    (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
  }

  /// RFC 3339 with optional fraction and `Z` or `±hh:mm` (Go's `RFC3339Nano` parsing, lenient on the
  /// fraction's length).
  init?(rfc3339 text: String) {
    let bytes = Array(text.utf8)
    func number(_ start: Int, _ count: Int) -> Int64? {
      guard start + count <= bytes.count else { return nil }
      var value: Int64 = 0
      for byte in bytes[start..<(start + count)] {
        guard byte >= 48, byte <= 57 else { return nil }
        value = value * 10 + Int64(byte - 48)
      }
      return value
    }
    guard bytes.count >= 20, let year = number(0, 4), bytes[4] == 45, let month = number(5, 2), bytes[7] == 45,
      let day = number(8, 2), bytes[10] == 84 || bytes[10] == 116, let hour = number(11, 2), bytes[13] == 58,
      let minute = number(14, 2), bytes[16] == 58, let second = number(17, 2)
    else { return nil }
    var index = 19
    var nanoseconds: Int64 = 0
    if index < bytes.count, bytes[index] == 46 {
      index += 1
      var digits = 0
      while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
        if digits < 9 { nanoseconds = nanoseconds * 10 + Int64(bytes[index] - 48) }
        digits += 1
        index += 1
      }
      guard digits > 0 else { return nil }
      for _ in digits..<max(digits, 9) { nanoseconds *= 10 }
    }
    guard index < bytes.count else { return nil }
    var offset: Int64 = 0
    if bytes[index] == 90 || bytes[index] == 122 {
      index += 1
    } else if bytes[index] == 43 || bytes[index] == 45, let hours = number(index + 1, 2), bytes.count > index + 3,
      bytes[index + 3] == 58, let minutes = number(index + 4, 2)
    {
      offset = (hours * 60 + minutes) * 60 * (bytes[index] == 45 ? -1 : 1)
      index += 6
    } else {
      return nil
    }
    guard index == bytes.count else { return nil }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    let days = era * 146_097 + dayOfEra - 719_468
    self.seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
    self.nanoseconds = nanoseconds
  }

  init(seconds: Int64, nanoseconds: Int64) {
    self.seconds = seconds
    self.nanoseconds = nanoseconds
  }

  /// The kubelet writes timestamps as `RFC3339NanoFixed` (`2006-01-02T15:04:05.000000000Z07:00`):
  /// always nine fraction digits. The zone is kept as written (the node agent writes UTC `Z`).
  static func fixedNano(_ text: String) -> String {
    guard text.count >= 20 else { return text }
    let bytes = Array(text.utf8)
    var fractionEnd = 19
    var fraction: [UInt8] = []
    if bytes[19] == UInt8(ascii: ".") {
      fractionEnd = 20
      while fractionEnd < bytes.count, bytes[fractionEnd] >= 48, bytes[fractionEnd] <= 57 { fractionEnd += 1 }
      fraction = Array(bytes[20..<fractionEnd].prefix(9))
    }
    fraction += [UInt8](repeating: UInt8(ascii: "0"), count: 9 - fraction.count)
    return String(decoding: bytes[0..<19] + [UInt8(ascii: ".")] + fraction + bytes[fractionEnd...], as: UTF8.self)
  }
}
