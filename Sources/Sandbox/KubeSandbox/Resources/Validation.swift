import Foundation

/// Name and value checks of `k8s.io/apimachinery/pkg/util/validation`, with their messages.
enum Validation {
  static let dns1123SubdomainMessage =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
  static let dns1123LabelMessage =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"

  private static func isAlphanumeric(_ byte: UInt8) -> Bool {
    (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
  }

  static func isDNS1123Label(_ text: String) -> Bool {
    let bytes = Array(text.utf8)
    guard let first = bytes.first, let last = bytes.last, bytes.count <= 63 else { return false }
    return isAlphanumeric(first) && isAlphanumeric(last)
      && bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") }
  }

  static func isDNS1123Subdomain(_ text: String) -> Bool {
    guard !text.isEmpty, text.utf8.count <= 253 else { return false }
    return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { part in
      let bytes = Array(part.utf8)
      guard let first = bytes.first, let last = bytes.last else { return false }
      return isAlphanumeric(first) && isAlphanumeric(last)
        && bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") }
    }
  }

  /// Errors for an object name that must be a DNS-1123 subdomain (`metadata.name`).
  static func subdomainErrors(_ name: String, field: String) -> [FieldError] {
    var errors: [FieldError] = []
    if name.utf8.count > 253 {
      errors.append(.invalid(field, value: .string(name), "must be no more than 253 characters"))
    }
    if !isDNS1123Subdomain(name) { errors.append(.invalid(field, value: .string(name), dns1123SubdomainMessage)) }
    return errors
  }

  static func labelErrors(_ name: String, field: String) -> [FieldError] {
    var errors: [FieldError] = []
    if name.utf8.count > 63 { errors.append(.invalid(field, value: .string(name), "must be no more than 63 characters")) }
    if !isDNS1123Label(name) { errors.append(.invalid(field, value: .string(name), dns1123LabelMessage)) }
    return errors
  }

  /// A label key: optional DNS subdomain prefix and `/`, then a name of alphanumerics, `-`, `_`, `.`.
  static func isQualifiedName(_ text: String) -> Bool {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count <= 2, let name = parts.last else { return false }
    if parts.count == 2 && !isDNS1123Subdomain(String(parts[0])) { return false }
    let bytes = Array(name.utf8)
    guard let first = bytes.first, let last = bytes.last, bytes.count <= 63 else { return false }
    func alnum(_ byte: UInt8) -> Bool {
      isAlphanumeric(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }
    return alnum(first) && alnum(last)
      && bytes.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
  }

  /// A label value: empty, or up to 63 alphanumerics, `-`, `_`, `.` starting and ending alphanumeric.
  static func isLabelValue(_ text: String) -> Bool {
    text.isEmpty || isQualifiedName(text) && !text.contains("/")
  }

  /// `metadata.labels` checks (keys and values), kube's messages.
  static func labelsErrors(_ labels: JSONValue?, field: String) -> [FieldError] {
    guard let labels = labels?.objectValue else { return [] }
    var errors: [FieldError] = []
    for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
      if !isQualifiedName(key) {
        errors.append(
          .invalid(
            field, value: .string(key),
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
          ))
      }
      let text = value.stringValue ?? ""
      if !isLabelValue(text) {
        errors.append(
          .invalid(
            field, value: .string(text),
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
          ))
      }
    }
    return errors
  }
}
