import Foundation

/// Pod Security admission for pod creation, driven by the namespace labels
/// `pod-security.kubernetes.io/{enforce,warn}[-version]` like the built-in plugin: `enforce` rejects with
/// `403 Forbidden` and the full list of violations, `warn` lets the pod in with a `Warning` header.
/// `audit` has no audit log here and is ignored.
struct PodSecurityAdmission {
  /// One mode's policy from the namespace labels.
  struct Policy: Equatable {
    var level: PodSecurityLevel
    /// `latest` or `v1.N`, printed as given.
    var version: String

    var name: String { "\(level.rawValue):\(version)" }
  }

  static let labelPrefix = "pod-security.kubernetes.io/"

  /// The policy for `mode` (`enforce`, `warn`), nil when the namespace sets none. An invalid level or
  /// version fails closed to `restricted:latest`, as the plugin does.
  static func policy(mode: String, labels: JSONValue) -> Policy? {
    guard let levelText = labels[labelPrefix + mode]?.stringValue else { return nil }
    let versionText = labels[labelPrefix + mode + "-version"]?.stringValue ?? "latest"
    guard let level = PodSecurityLevel(rawValue: levelText), isValidVersion(versionText) else {
      return Policy(level: .restricted, version: "latest")
    }
    return Policy(level: level, version: versionText)
  }

  static func isValidVersion(_ text: String) -> Bool {
    if text == "latest" { return true }
    guard text.hasPrefix("v1."), let minor = Int(text.dropFirst(3)), minor >= 0 else { return false }
    return true
  }

  /// Throws the plugin's rejection when `enforce` is violated; returns the warnings otherwise.
  static func admit(pod: JSONValue, namespaceLabels labels: JSONValue) throws(StatusError) -> [String] {
    let name = pod["metadata"]?["name"]?.stringValue
    if let enforce = policy(mode: "enforce", labels: labels) {
      let violations = PodSecurityStandards.violations(of: pod, level: enforce.level)
      if !violations.isEmpty {
        throw .forbidden(
          resource: "pods", name: name, why: "violates PodSecurity \"\(enforce.name)\": \(summary(violations))")
      }
    }
    if let warn = policy(mode: "warn", labels: labels) {
      let violations = PodSecurityStandards.violations(of: pod, level: warn.level)
      if !violations.isEmpty {
        // RFC 7234 warn-text: a quoted-string, so every `"` and `\` inside is escaped.
        let text = "would violate PodSecurity \"\(warn.name)\": \(summary(violations))"
        let escaped = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return ["299 - \"\(escaped)\""]
      }
    }
    return []
  }

  static func summary(_ violations: [PodSecurityViolation]) -> String {
    violations.map(\.description).joined(separator: ", ")
  }
}
