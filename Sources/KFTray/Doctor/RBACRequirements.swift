import KubeClient

/// One permission the plugin needs in the relay namespace.
public struct PluginPermission: Sendable, Equatable, Hashable {
  public var resource: String
  public var subresource: String?
  public var verb: String
  /// Which command needs it and for what, for the hint.
  public var use: String

  public var resourceName: String { subresource.map { "\(resource)/\($0)" } ?? resource }
  public var description: String { "\(resourceName) \(verb)" }

  public func attributes(namespace: String) -> ResourceAttributes {
    ResourceAttributes(namespace: namespace, verb: verb, resource: resource, subresource: subresource)
  }

  /// Everything `proxy`, `doctor` and `cleanup` do with pods.
  public static let required: [PluginPermission] = [
    .init(resource: "pods", verb: "create", use: "to create relay and doctor pods"),
    .init(resource: "pods", verb: "get", use: "to read a pod's status"),
    .init(resource: "pods", verb: "list", use: "to find pods (watch, cleanup)"),
    .init(resource: "pods", verb: "watch", use: "to wait for a pod to start"),
    .init(resource: "pods", verb: "delete", use: "to remove pods on exit and in cleanup"),
    .init(resource: "pods", verb: "patch", use: "for --patch"),
    .init(resource: "pods", subresource: "portforward", verb: "create", use: "to forward traffic to the relay"),
    .init(resource: "pods", subresource: "log", verb: "get", use: "to read doctor results and relay logs"),
  ]

  init(resource: String, subresource: String? = nil, verb: String, use: String) {
    self.resource = resource
    self.subresource = subresource
    self.verb = verb
    self.use = use
  }
}

/// A Role granting the given permissions, as YAML to hand to a cluster administrator, with the
/// RoleBinding that gives it to a user.
public struct GrantingRole: Sendable, Equatable {
  public var namespace: String
  public var permissions: [PluginPermission]
  public var name = "kubectl-kftray"

  public init(namespace: String, permissions: [PluginPermission]) {
    self.namespace = namespace
    self.permissions = permissions
  }

  /// One rule per resource, verbs in the order of `PluginPermission.required`.
  public var yaml: String {
    var resources: [String] = []
    var verbs: [String: [String]] = [:]
    for permission in permissions {
      if verbs[permission.resourceName] == nil { resources.append(permission.resourceName) }
      verbs[permission.resourceName, default: []].append(permission.verb)
    }
    var lines = [
      "apiVersion: rbac.authorization.k8s.io/v1",
      "kind: Role",
      "metadata:",
      "  name: \(name)",
      "  namespace: \(namespace)",
      "rules:",
    ]
    for resource in resources {
      lines += [
        "- apiGroups: [\"\"]",
        "  resources: [\"\(resource)\"]",
        "  verbs: [\(verbs[resource]!.map { "\"\($0)\"" }.joined(separator: ", "))]",
      ]
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// How to bind it (the user name is the administrator's to fill in: the API does not tell us ours).
  public var bindCommand: String {
    "kubectl create rolebinding \(name) --role=\(name) --user=USER -n \(namespace)"
  }
}
