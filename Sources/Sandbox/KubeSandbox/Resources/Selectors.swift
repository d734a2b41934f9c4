import Foundation

/// A label selector (`k8s.io/apimachinery/pkg/labels`): comma-separated requirements of the forms
/// `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k>n`, `k<n`.
public struct LabelSelector: Sendable, Equatable {
  public enum Requirement: Sendable, Equatable {
    case exists(String)
    case doesNotExist(String)
    case equals(String, String)
    case notEquals(String, String)
    case isIn(String, Set<String>)
    case notIn(String, Set<String>)
    case greaterThan(String, Int64)
    case lessThan(String, Int64)
  }

  public var requirements: [Requirement]

  public static let everything = LabelSelector(requirements: [])

  public init(requirements: [Requirement]) { self.requirements = requirements }

  public init(parsing text: String) throws(StatusError) {
    var requirements: [Requirement] = []
    for part in Self.splitTopLevel(text) {
      let requirement = part.trimmingCharacters(in: .whitespaces)
      if requirement.isEmpty { continue }
      requirements.append(try Self.parseRequirement(requirement))
    }
    self.requirements = requirements
  }

  public func matches(_ labels: [String: String]) -> Bool {
    requirements.allSatisfy { requirement in
      switch requirement {
      case .exists(let key): return labels[key] != nil
      case .doesNotExist(let key): return labels[key] == nil
      case .equals(let key, let value): return labels[key] == value
      case .notEquals(let key, let value): return labels[key] != value
      case .isIn(let key, let values): return labels[key].map(values.contains) ?? false
      case .notIn(let key, let values): return labels[key].map { !values.contains($0) } ?? true
      case .greaterThan(let key, let bound): return labels[key].flatMap { Int64($0) }.map { $0 > bound } ?? false
      case .lessThan(let key, let bound): return labels[key].flatMap { Int64($0) }.map { $0 < bound } ?? false
      }
    }
  }

  /// Splits on commas that are not inside `( )`.
  static func splitTopLevel(_ text: String) -> [String] {
    var parts: [String] = []
    var current = ""
    var depth = 0
    for character in text {
      switch character {
      case "(": depth += 1; current.append(character)
      case ")": depth -= 1; current.append(character)
      case "," where depth == 0: parts.append(current); current = ""
      default: current.append(character)
      }
    }
    parts.append(current)
    return parts
  }

  private static func parseRequirement(_ text: String) throws(StatusError) -> Requirement {
    func invalid(_ why: String) -> StatusError {
      .badRequest("unable to parse requirement: \(why)")
    }
    func checkedKey(_ raw: Substring) throws(StatusError) -> String {
      let key = raw.trimmingCharacters(in: .whitespaces)
      guard Validation.isQualifiedName(key) else {
        throw invalid("<nil>: Invalid value: \"\(key)\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")
      }
      return key
    }
    if text.hasPrefix("!") { return .doesNotExist(try checkedKey(text.dropFirst())) }
    for (token, make) in [
      (" notin ", { (key: String, values: Set<String>) in Requirement.notIn(key, values) }),
      (" in ", { (key: String, values: Set<String>) in Requirement.isIn(key, values) }),
    ] {
      if let range = text.range(of: token) {
        let key = try checkedKey(text[..<range.lowerBound])
        let rest = text[range.upperBound...].trimmingCharacters(in: .whitespaces)
        guard rest.hasPrefix("("), rest.hasSuffix(")") else { throw invalid("found '\(rest)', expected: '('") }
        let values = rest.dropFirst().dropLast().split(separator: ",").map {
          $0.trimmingCharacters(in: .whitespaces)
        }
        return make(key, Set(values))
      }
    }
    for (token, kind) in [("!=", 0), ("==", 1), ("=", 1), (">", 2), ("<", 3)] {
      guard let range = text.range(of: token) else { continue }
      let key = try checkedKey(text[..<range.lowerBound])
      let value = text[range.upperBound...].trimmingCharacters(in: .whitespaces)
      switch kind {
      case 0: return .notEquals(key, value)
      case 1: return .equals(key, value)
      default:
        guard let number = Int64(value) else { throw invalid("for 'Gt', 'Lt' operators, the value must be an integer") }
        return kind == 2 ? .greaterThan(key, number) : .lessThan(key, number)
      }
    }
    return .exists(try checkedKey(Substring(text)))
  }
}

/// A field selector (`k8s.io/apimachinery/pkg/fields`): `f=v`, `f==v`, `f!=v`, comma-separated.
public struct FieldSelector: Sendable, Equatable {
  public struct Requirement: Sendable, Equatable {
    public var field: String
    public var value: String
    public var negated: Bool
  }

  public var requirements: [Requirement]

  public static let everything = FieldSelector(requirements: [])

  public init(requirements: [Requirement]) { self.requirements = requirements }

  /// Parses and checks every field against `supported` (the resource's selectable fields), answering
  /// kube's `field label not supported: X` otherwise.
  public init(parsing text: String, supported: Set<String>) throws(StatusError) {
    var requirements: [Requirement] = []
    for part in text.split(separator: ",") {
      let term = String(part)
      let requirement: Requirement
      if let range = term.range(of: "!=") {
        requirement = Requirement(
          field: String(term[..<range.lowerBound]), value: String(term[range.upperBound...]), negated: true)
      } else if let range = term.range(of: "==") ?? term.range(of: "=") {
        requirement = Requirement(
          field: String(term[..<range.lowerBound]), value: String(term[range.upperBound...]), negated: false)
      } else {
        throw .badRequest("invalid selector: '\(text)'; can't understand '\(term)'")
      }
      guard supported.contains(requirement.field) else {
        throw .badRequest("field label not supported: \(requirement.field)")
      }
      requirements.append(requirement)
    }
    self.requirements = requirements
  }

  public func matches(_ fields: [String: String]) -> Bool {
    requirements.allSatisfy { requirement in
      let actual = fields[requirement.field] ?? ""
      return requirement.negated ? actual != requirement.value : actual == requirement.value
    }
  }
}
