/// Legacy (unaggregated) discovery documents.
///
/// kubectl first asks for aggregated discovery (`Accept: application/json;g=apidiscovery.k8s.io;v=v2;
/// as=APIGroupDiscoveryList,...,application/json`); these answers carry `Content-Type:
/// application/json`, which client-go takes as "no aggregated discovery" and falls back to reading
/// `/api`, `/api/v1`, `/apis` and each group version, which is all the sandbox serves.
enum Discovery {
  static func document(for path: String, request: APIRequest) -> APIResponse? {
    switch path {
    case "/api":
      return .json([
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": .string(serverAddress(request))]],
      ])
    case "/api/v1":
      return .json(resourceList(groupVersion: "v1", resources: coreResources))
    case "/apis":
      return .json(["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(groups.map(\.group))])
    default:
      for entry in groups {
        if path == "/apis/\(entry.name)" {
          var group = entry.group
          group["kind"] = "APIGroup"
          group["apiVersion"] = "v1"
          return .json(group)
        }
        if path == "/apis/\(entry.name)/v1" {
          return .json(resourceList(groupVersion: "\(entry.name)/v1", resources: entry.resources))
        }
      }
      return nil
    }
  }

  private static func serverAddress(_ request: APIRequest) -> String {
    request.headers.first(name: "host") ?? request.headers.first(name: ":authority") ?? "127.0.0.1"
  }

  private static func resourceList(groupVersion: String, resources: [JSONValue]) -> JSONValue {
    ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(groupVersion), "resources": .array(resources)]
  }

  private static func resource(
    _ name: String, singular: String, namespaced: Bool, kind: String, verbs: [String], shortNames: [String] = [],
    categories: [String] = [], group: String? = nil, version: String? = nil
  ) -> JSONValue {
    var resource: JSONValue = [
      "name": .string(name), "singularName": .string(singular), "namespaced": .bool(namespaced),
      "kind": .string(kind), "verbs": .array(verbs.map { .string($0) }),
    ]
    if !shortNames.isEmpty { resource["shortNames"] = .array(shortNames.map { .string($0) }) }
    if !categories.isEmpty { resource["categories"] = .array(categories.map { .string($0) }) }
    if let group { resource["group"] = .string(group) }
    if let version { resource["version"] = .string(version) }
    return resource
  }

  static let crudVerbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

  static let coreResources: [JSONValue] = [
    resource("events", singular: "event", namespaced: true, kind: "Event", verbs: crudVerbs, shortNames: ["ev"]),
    resource(
      "namespaces", singular: "namespace", namespaced: false, kind: "Namespace",
      verbs: ["create", "delete", "get", "list", "patch", "update", "watch"], shortNames: ["ns"]),
    resource("namespaces/status", singular: "", namespaced: false, kind: "Namespace", verbs: ["get"]),
    resource("nodes", singular: "node", namespaced: false, kind: "Node", verbs: crudVerbs, shortNames: ["no"]),
    resource("nodes/status", singular: "", namespaced: false, kind: "Node", verbs: ["get", "patch", "update"]),
    resource(
      "pods", singular: "pod", namespaced: true, kind: "Pod", verbs: crudVerbs, shortNames: ["po"], categories: ["all"]),
    resource("pods/binding", singular: "", namespaced: true, kind: "Binding", verbs: ["create"]),
    resource("pods/log", singular: "", namespaced: true, kind: "Pod", verbs: ["get"]),
    resource("pods/portforward", singular: "", namespaced: true, kind: "PodPortForwardOptions", verbs: ["create", "get"]),
    resource("pods/status", singular: "", namespaced: true, kind: "Pod", verbs: ["get", "patch", "update"]),
    // Read-only in the sandbox (see Services).
    resource(
      "services", singular: "service", namespaced: true, kind: "Service", verbs: ["get", "list", "watch"], shortNames: ["svc"],
      categories: ["all"]),
  ]

  struct Group {
    var name: String
    var resources: [JSONValue]

    var group: JSONValue {
      let version: JSONValue = ["groupVersion": .string("\(name)/v1"), "version": "v1"]
      return ["name": .string(name), "versions": [version], "preferredVersion": version]
    }
  }

  static let groups = [
    // The same events as core/v1, read-only here (kube serves writes too; nothing in the sandbox needs them).
    Group(
      name: "events.k8s.io",
      resources: [
        resource("events", singular: "event", namespaced: true, kind: "Event", verbs: ["get", "list", "watch"], shortNames: ["ev"])
      ]),
    Group(
      name: "authentication.k8s.io",
      resources: [
        resource("selfsubjectreviews", singular: "selfsubjectreview", namespaced: false, kind: "SelfSubjectReview", verbs: ["create"])
      ]),
    Group(
      name: "authorization.k8s.io",
      resources: [
        resource(
          "selfsubjectaccessreviews", singular: "selfsubjectaccessreview", namespaced: false,
          kind: "SelfSubjectAccessReview", verbs: ["create"])
      ])
  ]
}
