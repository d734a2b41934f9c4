import Foundation

/// The facts and per-kind behaviour the generic REST handlers need (kube's `rest.Strategy` in small).
struct ResourceDefinition: Sendable {
  var resource: String
  var kind: String
  var group = ""
  var version = "v1"
  var namespaced: Bool
  /// Fields usable in `fieldSelector` (all kinds support `metadata.name`, namespaced ones
  /// `metadata.namespace`), and how to read them from an object.
  var selectableFields: Set<String>
  var fieldValues: @Sendable (JSONValue) -> [String: String]
  /// Defaulting and validation of a new object (already carrying name, namespace, uid, timestamps).
  var prepareForCreate: @Sendable (inout JSONValue) throws(StatusError) -> Void
  /// Validation of an update of the main resource (`old` is stored; `new` has old status copied in).
  var validateUpdate: @Sendable (_ old: JSONValue, _ new: inout JSONValue) throws(StatusError) -> Void
  /// The grace period a delete gets (`nil`: remove at once), from the object and the request's
  /// DeleteOptions grace period. Only pods are graceful.
  var gracePeriod: @Sendable (_ object: JSONValue, _ requested: Int64?) -> Int64?
  var table: TableDefinition
  /// How stored objects look in this group version (events.k8s.io/v1 reads the core/v1 events).
  var present: @Sendable (JSONValue) -> JSONValue = { $0 }
  /// Served for get, list and watch only.
  var readOnly = false

  var listKind: String { kind + "List" }
  var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

  static func commonFields(_ object: JSONValue, namespaced: Bool) -> [String: String] {
    var fields = ["metadata.name": object["metadata"]?["name"]?.stringValue ?? ""]
    if namespaced { fields["metadata.namespace"] = object["metadata"]?["namespace"]?.stringValue ?? "" }
    return fields
  }
}

/// What a DELETE asks for (query parameters and/or a `DeleteOptions` body).
struct DeleteOptions: Sendable {
  var gracePeriodSeconds: Int64?
  var dryRun = false
  var preconditionUID: String?
  var preconditionResourceVersion: String?

  init(request: APIRequest) throws(StatusError) {
    if let text = request.query["gracePeriodSeconds"] {
      guard let value = Int64(text) else {
        throw .badRequest("strconv.ParseInt: parsing \"\(text)\": invalid syntax")
      }
      gracePeriodSeconds = value
    }
    dryRun = request.query["dryRun"] == "All"
    guard !request.body.isEmpty else { return }
    let body: JSONValue
    do { body = try JSONValue.parse(request.body) } catch { throw .badRequest(error.description) }
    if let grace = body["gracePeriodSeconds"]?.intValue { gracePeriodSeconds = grace }
    if let values = body["dryRun"]?.arrayValue, values.contains("All") { dryRun = true }
    preconditionUID = body["preconditions"]?["uid"]?.stringValue
    preconditionResourceVersion = body["preconditions"]?["resourceVersion"]?.stringValue
  }
}
