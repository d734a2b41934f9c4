/// A failed API call, rendered as a `metav1.Status` with the reasons, codes and message formats of
/// `k8s.io/apimachinery/pkg/api/errors`.
public struct StatusError: Error, Sendable, Equatable {
  public var code: Int
  public var reason: String
  public var message: String
  public var details: JSONValue?

  public init(code: Int, reason: String, message: String, details: JSONValue? = nil) {
    self.code = code
    self.reason = reason
    self.message = message
    self.details = details
  }

  /// The `Status` object as JSON.
  public var status: JSONValue {
    var object: JSONValue = [
      "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
      "message": .string(message), "reason": .string(reason), "code": .int(Int64(code)),
    ]
    if let details { object["details"] = details }
    return object
  }
}

extension StatusError {
  private static func details(name: String?, group: String, kind: String) -> JSONValue {
    var details: JSONValue = ["kind": .string(kind)]
    if let name, !name.isEmpty { details["name"] = .string(name) }
    if !group.isEmpty { details["group"] = .string(group) }
    return details
  }

  /// `errors.NewNotFound`: `pods "x" not found`.
  public static func notFound(resource: String, group: String = "", name: String) -> StatusError {
    let qualified = group.isEmpty ? resource : "\(resource).\(group)"
    return StatusError(
      code: 404, reason: "NotFound", message: "\(qualified) \"\(name)\" not found",
      details: details(name: name, group: group, kind: resource))
  }

  /// `errors.NewAlreadyExists`: `pods "x" already exists`.
  public static func alreadyExists(resource: String, group: String = "", name: String) -> StatusError {
    let qualified = group.isEmpty ? resource : "\(resource).\(group)"
    return StatusError(
      code: 409, reason: "AlreadyExists", message: "\(qualified) \"\(name)\" already exists",
      details: details(name: name, group: group, kind: resource))
  }

  /// `errors.NewConflict`: `Operation cannot be fulfilled on pods "x": <why>`.
  public static func conflict(resource: String, group: String = "", name: String, why: String) -> StatusError {
    let qualified = group.isEmpty ? resource : "\(resource).\(group)"
    return StatusError(
      code: 409, reason: "Conflict", message: "Operation cannot be fulfilled on \(qualified) \"\(name)\": \(why)",
      details: details(name: name, group: group, kind: resource))
  }

  /// `errors.NewForbidden`: `pods "x" is forbidden: <why>` or, without a name, `pods is forbidden: <why>`.
  public static func forbidden(resource: String, group: String = "", name: String?, why: String) -> StatusError {
    let qualified = group.isEmpty ? resource : "\(resource).\(group)"
    let subject = (name?.isEmpty ?? true) ? qualified : "\(qualified) \"\(name!)\""
    return StatusError(
      code: 403, reason: "Forbidden", message: "\(subject) is forbidden: \(why)",
      details: details(name: name, group: group, kind: resource))
  }

  /// What kube-apiserver's authentication filter answers (`responsewriters.Unauthorized`).
  public static let unauthorized = StatusError(code: 401, reason: "Unauthorized", message: "Unauthorized")

  public static func badRequest(_ message: String) -> StatusError {
    StatusError(code: 400, reason: "BadRequest", message: message)
  }

  /// The generic 405 of the REST installer for a verb a resource does not serve.
  public static let methodNotAllowed = StatusError(
    code: 405, reason: "MethodNotAllowed", message: "the server does not allow this method on the requested resource",
    details: [:])

  /// The generic 404 for paths nothing serves (`the server could not find the requested resource`).
  public static let pathNotFound = StatusError(
    code: 404, reason: "NotFound", message: "the server could not find the requested resource", details: [:])

  /// `errors.NewResourceExpired`, as sent in a watch ERROR event.
  public static func expired(_ message: String) -> StatusError {
    StatusError(code: 410, reason: "Expired", message: message)
  }

  /// What a kube-apiserver that is shutting down answers a write (`errors.NewServiceUnavailable`).
  public static let shuttingDown = StatusError(
    code: 503, reason: "ServiceUnavailable", message: "the API server is shutting down, try again later")

  public static func internalError(_ message: String) -> StatusError {
    StatusError(
      code: 500, reason: "InternalError", message: "Internal error occurred: \(message)",
      details: ["causes": [["message": .string(message)]]])
  }
}

/// One field error of a 422 Invalid answer (`field.Error`).
public struct FieldError: Sendable, Equatable {
  public enum Kind: String, Sendable {
    case required = "FieldValueRequired"
    case invalid = "FieldValueInvalid"
    case notSupported = "FieldValueNotSupported"
    case duplicate = "FieldValueDuplicate"
    case forbidden = "FieldValueForbidden"
  }

  public var kind: Kind
  public var field: String
  /// The `field.Error.Error()` text without the field path, e.g. `Required value` or
  /// `Invalid value: "X": a lowercase RFC 1123 subdomain must ...`.
  public var detail: String

  public static func required(_ field: String, _ detail: String = "") -> FieldError {
    FieldError(kind: .required, field: field, detail: detail.isEmpty ? "Required value" : "Required value: \(detail)")
  }

  public static func invalid(_ field: String, value: JSONValue, _ detail: String) -> FieldError {
    FieldError(kind: .invalid, field: field, detail: "Invalid value: \(Self.render(value)): \(detail)")
  }

  public static func notSupported(_ field: String, value: JSONValue, supported: [String]) -> FieldError {
    let list = supported.map { "\"\($0)\"" }.joined(separator: ", ")
    return FieldError(
      kind: .notSupported, field: field, detail: "Unsupported value: \(Self.render(value)): supported values: \(list)")
  }

  public static func duplicate(_ field: String, value: JSONValue) -> FieldError {
    FieldError(kind: .duplicate, field: field, detail: "Duplicate value: \(Self.render(value))")
  }

  public static func forbidden(_ field: String, _ detail: String) -> FieldError {
    FieldError(kind: .forbidden, field: field, detail: "Forbidden: \(detail)")
  }

  /// Go's `%#v`-ish rendering that `field.Error` uses for strings and numbers.
  static func render(_ value: JSONValue) -> String {
    switch value {
    case .string(let text): return "\"\(text)\""
    case .int(let number): return String(number)
    case .bool(let flag): return String(flag)
    case .null: return "null"
    default: return value.serializedString()
    }
  }

  var text: String { "\(field): \(detail)" }
}

extension StatusError {
  /// `errors.NewInvalid`: `Pod "x" is invalid: spec.containers: Required value` (several causes joined
  /// as `[a, b]`).
  public static func invalid(kind: String, group: String = "", name: String, errors: [FieldError]) -> StatusError {
    let summary = errors.count == 1 ? errors[0].text : "[" + errors.map(\.text).joined(separator: ", ") + "]"
    var details: JSONValue = ["kind": .string(kind), "name": .string(name)]
    if !group.isEmpty { details["group"] = .string(group) }
    details["causes"] = .array(
      errors.map { ["reason": .string($0.kind.rawValue), "message": .string($0.detail), "field": .string($0.field)] })
    return StatusError(
      code: 422, reason: "Invalid", message: "\(kind) \"\(name)\" is invalid: \(summary)", details: details)
  }
}
