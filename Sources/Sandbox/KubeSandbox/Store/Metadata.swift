import Foundation

/// Object metadata helpers shared by the resources.
enum Metadata {
  static func newUID() -> String { UUID().uuidString.lowercased() }

  /// RFC 3339 in UTC with second precision, as `metav1.Time` serializes.
  static func timestamp(_ date: Date = Date()) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: date)
  }

  static func parseTimestamp(_ text: String) -> Date? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    if let date = formatter.date(from: text) { return date }
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.date(from: text)
  }
}

/// The objects a fresh sandbox has: the namespaces `default`, `kube-system`, `dev` and `restricted`
/// (the last labelled for Pod Security `restricted` enforcement), and the Services of `Services.seeded`.
enum Seed {
  static func populate(_ store: ObjectStore) {
    for name in ["default", "kube-system", "kube-public", "kube-node-lease", "dev", "restricted"] {
      var labels: JSONValue = ["kubernetes.io/metadata.name": .string(name)]
      if name == "restricted" {
        labels["pod-security.kubernetes.io/enforce"] = "restricted"
        labels["pod-security.kubernetes.io/enforce-version"] = "latest"
      }
      _ = try? store.create(resource: "namespaces", namespace: "", object: Namespaces.newObject(name: name, labels: labels))
    }
    for service in Services.seeded {
      let namespace = service["metadata"]?["namespace"]?.stringValue ?? ""
      _ = try? store.create(resource: "services", namespace: namespace, object: service)
    }
  }
}
