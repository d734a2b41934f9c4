#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The `Date` header in RFC 7231 IMF-fixdate form, as both sandbox servers (the API server and the
/// kubelet API) send it.
public enum HTTPDate {
  public static func now() -> String {
    var now = time_t(0)
    _ = withUnsafeMutablePointer(to: &now) { time($0) }
    var parts = tm()
    gmtime_r(&now, &parts)
    var buffer = [Int8](repeating: 0, count: 64)
    let count = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
    return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }
}
