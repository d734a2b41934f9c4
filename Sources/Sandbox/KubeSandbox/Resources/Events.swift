import Foundation

/// core/v1 Events: what kubelets, schedulers and controllers record about objects. Field selectors,
/// validation and printing follow `pkg/registry/core/event/strategy.go`, `ValidateEvent` (the legacy
/// branch, for events without `eventTime`) and `printEvent`.
enum Events {
  static let definition = ResourceDefinition(
    resource: "events", kind: "Event", namespaced: true,
    selectableFields: [
      "metadata.name", "metadata.namespace", "involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
      "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
      "reason", "reportingComponent", "source", "type",
    ],
    fieldValues: fieldValues,
    prepareForCreate: { (event: inout JSONValue) throws(StatusError) in try validate(event) },
    validateUpdate: { (_: JSONValue, new: inout JSONValue) throws(StatusError) in try validate(new) },
    gracePeriod: { _, _ in nil },
    table: table)

  static func fieldValues(_ event: JSONValue) -> [String: String] {
    var fields = ResourceDefinition.commonFields(event, namespaced: true)
    let involved = event["involvedObject"]
    for key in ["kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"] {
      fields["involvedObject.\(key)"] = involved?[key]?.stringValue ?? ""
    }
    fields["reason"] = event["reason"]?.stringValue ?? ""
    fields["reportingComponent"] = event["reportingComponent"]?.stringValue ?? ""
    // `source` is the legacy component, or the reporting controller of events.k8s.io writers.
    let component = event["source"]?["component"]?.stringValue ?? ""
    fields["source"] = component.isEmpty ? fields["reportingComponent"] : component
    fields["type"] = event["type"]?.stringValue ?? ""
    return fields
  }

  /// The checks a recorder can trip: a name, and an involved object in the event's own namespace.
  static func validate(_ event: JSONValue) throws(StatusError) {
    let name = event["metadata"]?["name"]?.stringValue ?? ""
    let namespace = event["metadata"]?["namespace"]?.stringValue ?? ""
    var errors: [FieldError] = []
    if name.isEmpty { errors.append(.required("metadata.name", "name or generateName is required")) }
    let involvedNamespace = event["involvedObject"]?["namespace"]?.stringValue ?? ""
    let matches = involvedNamespace.isEmpty
      ? namespace.isEmpty || namespace == "default" : involvedNamespace == namespace
    if !matches {
      errors.append(.invalid("involvedObject.namespace", value: .string(involvedNamespace), "does not match event.namespace"))
    }
    if let type = event["type"]?.stringValue, !type.isEmpty, type != "Normal", type != "Warning" {
      errors.append(.notSupported("type", value: .string(type), supported: ["Normal", "Warning"]))
    }
    if !errors.isEmpty { throw .invalid(kind: "Event", name: name, errors: errors) }
  }

  // MARK: - Printing

  static let table = TableDefinition(
    columns: [
      .init(name: "Last Seen", description: "The time at which the most recent occurrence of this event was recorded."),
      .init(name: "Type", description: "Type of this event (Normal, Warning), new types could be added in the future"),
      .init(name: "Reason", description: "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
      .init(name: "Object", description: "The object that this event is about."),
      .init(name: "Subobject", description: "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].", priority: 1),
      .init(name: "Source", description: "The component reporting this event. Should be a short machine understandable string.", priority: 1),
      .init(name: "Message", description: "A human-readable description of the status of this operation."),
      .init(name: "First Seen", description: "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)", priority: 1),
      .init(name: "Count", type: "integer", description: "The number of times this event has occurred.", priority: 1),
      TableDefinition.Column(name: "Name", format: "name", description: TableDefinition.nameColumn.description, priority: 1),
    ],
    cells: { event, now in
      let first = since(event["firstTimestamp"], now: now) ?? since(event["eventTime"], now: now) ?? "<unknown>"
      var last = since(event["lastTimestamp"], now: now) ?? first
      var count = event["count"]?.intValue ?? 0
      if let series = event["series"], series.objectValue != nil {
        last = since(series["lastObservedTime"], now: now) ?? "<unknown>"
        count = series["count"]?.intValue ?? 0
      } else if count == 0 {
        count = 1
      }
      let involved = event["involvedObject"]
      let kind = (involved?["kind"]?.stringValue ?? "").lowercased()
      let name = involved?["name"]?.stringValue ?? ""
      return [
        .string(last), event["type"] ?? "", event["reason"] ?? "", .string(name.isEmpty ? kind : "\(kind)/\(name)"),
        involved?["fieldPath"] ?? "", .string(source(event)),
        .string((event["message"]?.stringValue ?? "").trimmingCharacters(in: .whitespacesAndNewlines)),
        .string(first), .int(count), TableDefinition.name(event),
      ]
    })

  private static func since(_ timestamp: JSONValue?, now: Date) -> String? {
    guard let text = timestamp?.stringValue, let date = Metadata.parseTimestamp(text) else { return nil }
    return TableDefinition.humanDuration(now.timeIntervalSince(date))
  }

  /// `formatEventSource`: component (or reporting controller), then host (or reporting instance).
  static func source(_ event: JSONValue) -> String {
    func first(_ values: String?...) -> String { values.compactMap { $0 }.first { !$0.isEmpty } ?? "" }
    let component = first(event["source"]?["component"]?.stringValue, event["reportingComponent"]?.stringValue)
    let instance = first(event["source"]?["host"]?.stringValue, event["reportingInstance"]?.stringValue)
    if component.isEmpty { return "<unknown>" }
    return instance.isEmpty ? component : "\(component), \(instance)"
  }

  // MARK: - events.k8s.io/v1

  /// The same stored events as `events.k8s.io/v1` shows them (`pkg/apis/events/v1` conversion): the
  /// legacy fields move under `deprecated*`, `involvedObject` becomes `regarding`, `message` `note`.
  static func eventsV1(_ event: JSONValue) -> JSONValue {
    var converted: JSONValue = ["kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": event["metadata"] ?? [:]]
    converted["eventTime"] = event["eventTime"] ?? .null
    let renamed = [
      ("involvedObject", "regarding"), ("message", "note"), ("source", "deprecatedSource"),
      ("firstTimestamp", "deprecatedFirstTimestamp"), ("lastTimestamp", "deprecatedLastTimestamp"),
      ("count", "deprecatedCount"), ("reportingComponent", "reportingController"),
    ]
    for (old, new) in renamed { if let value = event[old] { converted[new] = value } }
    for same in ["series", "reportingInstance", "action", "reason", "related", "type"] {
      if let value = event[same] { converted[same] = value }
    }
    return converted
  }

  static let eventsV1Definition: ResourceDefinition = {
    var definition = Events.definition
    definition.group = "events.k8s.io"
    definition.selectableFields = ["metadata.name", "metadata.namespace"]
    definition.present = eventsV1
    definition.readOnly = true
    return definition
  }()
}
