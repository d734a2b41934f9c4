import Foundation

/// Server-side printing (`meta.k8s.io/v1` Table), what `kubectl get` asks for with
/// `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`. Columns and cells follow kube's
/// `pkg/printers/internalversion/printers.go`.
struct TableDefinition: Sendable {
  struct Column: Sendable {
    var name: String
    var type: String = "string"
    var format: String = ""
    var description: String
    var priority: Int64 = 0
  }

  var columns: [Column]
  var cells: @Sendable (JSONValue, Date) -> [JSONValue]

  static let mediaType = "application/json;as=Table;v=v1;g=meta.k8s.io"

  /// Whether the Accept header asks for a v1 Table (kubectl also offers v1beta1 and plain JSON).
  static func isRequested(_ accept: String) -> Bool {
    accept.split(separator: ",").contains { entry in
      let parameters = Set(entry.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) })
      return parameters.contains("as=Table") && parameters.contains("g=meta.k8s.io") && parameters.contains("v=v1")
    }
  }

  enum IncludeObject: String { case none = "None", metadata = "Metadata", object = "Object" }

  func table(
    for objects: [JSONValue], listMetadata: JSONValue, include: IncludeObject, withColumns: Bool = true,
    now: Date = Date()
  ) -> JSONValue {
    var table: JSONValue = ["kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": listMetadata]
    table["columnDefinitions"] = .array(
      withColumns
        ? columns.map {
          [
            "name": .string($0.name), "type": .string($0.type), "format": .string($0.format),
            "description": .string($0.description), "priority": .int($0.priority),
          ]
        } : [])
    table["rows"] = .array(objects.map { row(for: $0, include: include, now: now) })
    return table
  }

  private func row(for object: JSONValue, include: IncludeObject, now: Date) -> JSONValue {
    var row: JSONValue = ["cells": .array(cells(object, now))]
    switch include {
    case .none: break
    case .object: row["object"] = object
    case .metadata:
      row["object"] = [
        "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
        "metadata": object["metadata"] ?? [:],
      ]
    }
    return row
  }

  // MARK: - Common cells

  static let nameColumn = Column(
    name: "Name", format: "name",
    description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
  )
  static let ageColumn = Column(
    name: "Age",
    description: "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
  )

  static func name(_ object: JSONValue) -> JSONValue { object["metadata"]?["name"] ?? "" }

  static func age(_ object: JSONValue, now: Date) -> JSONValue {
    guard let text = object["metadata"]?["creationTimestamp"]?.stringValue,
      let created = Metadata.parseTimestamp(text)
    else { return "<unknown>" }
    return .string(humanDuration(now.timeIntervalSince(created)))
  }

  /// `k8s.io/apimachinery/pkg/util/duration.HumanDuration`.
  static func humanDuration(_ interval: TimeInterval) -> String {
    let seconds = Int(interval)
    if seconds < -1 { return "<invalid>" }
    if seconds < 0 { return "0s" }
    if seconds < 60 * 2 { return "\(seconds)s" }
    let minutes = seconds / 60
    if minutes < 10 {
      let rest = seconds % 60
      return rest == 0 ? "\(minutes)m" : "\(minutes)m\(rest)s"
    }
    if minutes < 60 * 3 { return "\(minutes)m" }
    let hours = seconds / 3600
    if hours < 8 {
      let rest = minutes % 60
      return rest == 0 ? "\(hours)h" : "\(hours)h\(rest)m"
    }
    if hours < 48 { return "\(hours)h" }
    if hours < 24 * 8 {
      let rest = hours % 24
      return rest == 0 ? "\(hours / 24)d" : "\(hours / 24)d\(rest)h"
    }
    if hours < 24 * 365 * 2 { return "\(hours / 24)d" }
    if hours < 24 * 365 * 8 {
      let days = (hours / 24) % 365
      return days == 0 ? "\(hours / 24 / 365)y" : "\(hours / 24 / 365)y\(days)d"
    }
    return "\(hours / 24 / 365)y"
  }
}
