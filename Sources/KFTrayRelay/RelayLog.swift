#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the relay's log lines go. Each line gets a UTC timestamp; the default sink writes each
/// line with a single write(2) to stderr, so lines from concurrent connections do not interleave.
public struct RelayLog: Sendable {
  private let sink: @Sendable (String) -> Void

  /// `sink` receives complete lines (timestamp included, no trailing newline).
  public init(sink: @escaping @Sendable (String) -> Void) { self.sink = sink }

  public static let standardError = RelayLog { line in
    var bytes = Array((line + "\n").utf8)
    bytes.withUnsafeMutableBytes { buffer in
      var offset = 0
      while offset < buffer.count {
        let n = write(2, buffer.baseAddress! + offset, buffer.count - offset)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        offset += n
      }
    }
  }

  public static let discard = RelayLog { _ in }

  public func info(_ message: String) { sink("\(Self.timestamp()) INFO  \(message)") }
  public func warning(_ message: String) { sink("\(Self.timestamp()) WARN  \(message)") }
  public func error(_ message: String) { sink("\(Self.timestamp()) ERROR \(message)") }

  /// RFC 3339 UTC with milliseconds, e.g. `2026-11-26T21:48:24.123Z`.
  static func timestamp() -> String {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    var seconds = now.tv_sec
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func pad(_ value: Int, _ width: Int) -> String {
      let digits = String(value)
      return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
    return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))"
      + "T\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2))"
      + ".\(pad(Int(now.tv_nsec) / 1_000_000, 3))Z"
  }
}
