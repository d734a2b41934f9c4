/// Percent-decoding of request paths and query strings as Go's `url.QueryUnescape` and
/// `url.ParseQuery` do it (`+` is a space; paths from kube clients carry no `+`), so that both
/// sandbox servers read a request as kube-apiserver and the kubelet would.
public enum PercentDecoding {
  /// A malformed escape (`%` not followed by two hex digits) is kept as it is.
  public static func decode(_ text: Substring) -> String {
    var bytes: [UInt8] = []
    var iterator = text.utf8.makeIterator()
    while let byte = iterator.next() {
      switch byte {
      case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
      case UInt8(ascii: "%"):
        if let high = iterator.next(), let low = iterator.next(),
          let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
        {
          bytes.append(value)
        } else {
          bytes.append(byte)
        }
      default: bytes.append(byte)
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// `a=1&b&c=x%20y` → [("a", "1"), ("b", ""), ("c", "x y")], in order, empty pairs skipped.
  public static func queryItems(_ raw: Substring) -> [(name: String, value: String)] {
    raw.split(separator: "&", omittingEmptySubsequences: true).map { pair in
      let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
    }
  }
}
