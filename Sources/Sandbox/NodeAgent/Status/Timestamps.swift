import Foundation

/// Times as the API writes them (UTC, RFC 3339).
enum Timestamps {
  /// `2026-11-26T23:59:01Z`: metav1.Time, whole seconds.
  static func now() -> String { rfc3339(Date()) }

  static func rfc3339(_ date: Date) -> String {
    rfc3339(seconds: Int(date.timeIntervalSince1970.rounded(.down)), nanoseconds: nil)
  }

  /// With `nanoseconds`, Go's RFC3339Nano: a fraction with trailing zeros trimmed (none when zero).
  static func rfc3339(seconds: Int, nanoseconds: Int?) -> String {
    var time = time_t(seconds)
    var parts = tm()
    gmtime_r(&time, &parts)
    var text = String(
      format: "%04d-%02d-%02dT%02d:%02d:%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    if let nanoseconds, nanoseconds > 0 {
      var fraction = String(format: "%09d", nanoseconds)
      while fraction.hasSuffix("0") { fraction.removeLast() }
      text += "." + fraction
    }
    return text + "Z"
  }

  static func parse(_ text: String?) -> Date? {
    guard let text else { return nil }
    return ISO8601DateFormatter().date(from: text)
  }
}
