enum Namespaces {
  static func newObject(name: String, labels: JSONValue) -> JSONValue {
    [
      "kind": "Namespace", "apiVersion": "v1",
      "metadata": [
        "name": .string(name), "uid": .string(Metadata.newUID()),
        "creationTimestamp": .string(Metadata.timestamp()), "labels": labels,
      ],
      "spec": ["finalizers": ["kubernetes"]],
      "status": ["phase": "Active"],
    ]
  }
}
