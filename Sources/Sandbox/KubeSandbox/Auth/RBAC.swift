/// What a request asks to do, as kube-apiserver's `authorizer.Attributes`.
public struct RequestAttributes: Sendable, Equatable {
  public var user: UserInfo
  public var verb: String
  public var isResourceRequest: Bool
  public var apiGroup: String = ""
  public var apiVersion: String = ""
  public var namespace: String = ""
  public var resource: String = ""
  public var subresource: String = ""
  public var name: String = ""
  /// For non-resource requests.
  public var path: String = ""

  public static func resource(
    user: UserInfo, verb: String, group: String = "", version: String = "v1", namespace: String = "",
    resource: String, subresource: String = "", name: String = ""
  ) -> RequestAttributes {
    RequestAttributes(
      user: user, verb: verb, isResourceRequest: true, apiGroup: group, apiVersion: version, namespace: namespace,
      resource: resource, subresource: subresource, name: name)
  }

  public static func nonResource(user: UserInfo, verb: String, path: String) -> RequestAttributes {
    RequestAttributes(user: user, verb: verb, isResourceRequest: false, path: path)
  }
}

/// An RBAC `PolicyRule`.
public struct PolicyRule: Sendable, Equatable {
  public var verbs: [String]
  public var apiGroups: [String] = []
  public var resources: [String] = []
  public var resourceNames: [String] = []
  public var nonResourceURLs: [String] = []

  /// `rbac/v1/evaluation_helpers.go` semantics.
  func allows(_ attributes: RequestAttributes) -> Bool {
    guard verbs.contains("*") || verbs.contains(attributes.verb) else { return false }
    if !attributes.isResourceRequest {
      return nonResourceURLs.contains { rule in
        rule == "*" || rule == attributes.path
          || (rule.hasSuffix("*") && attributes.path.hasPrefix(String(rule.dropLast())))
      }
    }
    guard apiGroups.contains("*") || apiGroups.contains(attributes.apiGroup) else { return false }
    let combined = attributes.subresource.isEmpty
      ? attributes.resource : "\(attributes.resource)/\(attributes.subresource)"
    let resourceMatches = resources.contains { rule in
      if rule == "*" || rule == combined { return true }
      guard !attributes.subresource.isEmpty else { return false }
      return rule == "*/\(attributes.subresource)"
    }
    guard resourceMatches else { return false }
    return resourceNames.isEmpty || resourceNames.contains(attributes.name)
  }
}

/// A subject of a binding.
public enum Subject: Sendable, Equatable {
  case user(String)
  case group(String)

  func matches(_ user: UserInfo) -> Bool {
    switch self {
    case .user(let name): return user.name == name
    case .group(let name): return user.isMember(of: name)
    }
  }
}

/// A (Cluster)RoleBinding with its role's rules inlined. `namespace == nil` is a ClusterRoleBinding
/// (rules apply everywhere, and to cluster-scoped resources); otherwise a RoleBinding in that namespace.
public struct Binding: Sendable, Equatable {
  public var name: String
  public var namespace: String?
  public var subjects: [Subject]
  public var rules: [PolicyRule]
}

public enum Decision: Sendable, Equatable {
  /// With RBAC's explanation, e.g. `RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "x" to Group "g"`.
  case allow(reason: String)
  /// With the reason RBAC gives (empty when no rule matched, as kube's RBAC authorizer).
  case deny(reason: String)
}

/// Evaluates RBAC bindings: allowed if any rule of any binding whose subjects include the user allows
/// the request (RBAC is purely additive; there are no deny rules).
public struct Authorizer: Sendable {
  public var bindings: [Binding]

  public init(bindings: [Binding]) { self.bindings = bindings }

  public func authorize(_ attributes: RequestAttributes) -> Decision {
    for binding in bindings {
      guard let subject = binding.subjects.first(where: { $0.matches(attributes.user) }) else { continue }
      // A RoleBinding grants only namespaced requests in its own namespace.
      if let namespace = binding.namespace {
        guard attributes.isResourceRequest, attributes.namespace == namespace else { continue }
      }
      if binding.rules.contains(where: { $0.allows(attributes) }) {
        let subjectText: String
        switch subject {
        case .user(let name): subjectText = "User \"\(name)\""
        case .group(let name): subjectText = "Group \"\(name)\""
        }
        let bindingText = binding.namespace.map { "RoleBinding \"\(binding.name)/\($0)\" of Role \"\(binding.name)\"" }
          ?? "ClusterRoleBinding \"\(binding.name)\" of ClusterRole \"\(binding.name)\""
        return .allow(reason: "RBAC: allowed by \(bindingText) to \(subjectText)")
      }
    }
    return .deny(reason: "")
  }

  /// The 403 kube-apiserver's authorization filter sends (`responsewriters.Forbidden`).
  public static func forbidden(_ attributes: RequestAttributes, reason: String = "") -> StatusError {
    var message: String
    let user = attributes.user.name
    if !attributes.isResourceRequest {
      message = "User \"\(user)\" cannot \(attributes.verb) path \"\(attributes.path)\""
    } else {
      let resource = attributes.subresource.isEmpty
        ? attributes.resource : "\(attributes.resource)/\(attributes.subresource)"
      if !attributes.namespace.isEmpty {
        message = "User \"\(user)\" cannot \(attributes.verb) resource \"\(resource)\" in API group "
          + "\"\(attributes.apiGroup)\" in the namespace \"\(attributes.namespace)\""
      } else {
        message = "User \"\(user)\" cannot \(attributes.verb) resource \"\(resource)\" in API group "
          + "\"\(attributes.apiGroup)\" at the cluster scope"
      }
    }
    if !reason.isEmpty { message += ": \(reason)" }
    if !attributes.isResourceRequest || attributes.resource.isEmpty {
      return StatusError(code: 403, reason: "Forbidden", message: "forbidden: \(message)", details: [:])
    }
    return .forbidden(
      resource: attributes.resource, group: attributes.apiGroup, name: attributes.name, why: message)
  }
}

extension Authorizer {
  /// The sandbox policy: kube's default discovery/public-info roles, `system:masters` as cluster-admin,
  /// and the two token users of the default `tokens.csv`.
  public static let sandboxDefault = Authorizer(bindings: [
    Binding(
      name: "cluster-admin", namespace: nil, subjects: [.group("system:masters")],
      rules: [
        PolicyRule(verbs: ["*"], apiGroups: ["*"], resources: ["*"]),
        PolicyRule(verbs: ["*"], nonResourceURLs: ["*"]),
      ]),
    // system:public-info-viewer + system:discovery, which kube binds to authenticated and unauthenticated.
    Binding(
      name: "system:public-info-viewer", namespace: nil,
      subjects: [.group("system:authenticated"), .group("system:unauthenticated")],
      rules: [
        PolicyRule(
          verbs: ["get"],
          nonResourceURLs: [
            "/healthz", "/livez", "/readyz", "/version", "/version/", "/api", "/api/*", "/apis", "/apis/*",
            "/openapi", "/openapi/*",
          ])
      ]),
    // system:basic-user: self reviews for everybody who is authenticated.
    Binding(
      name: "system:basic-user", namespace: nil, subjects: [.group("system:authenticated")],
      rules: [
        PolicyRule(
          verbs: ["create"], apiGroups: ["authorization.k8s.io"],
          resources: ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
        PolicyRule(verbs: ["create"], apiGroups: ["authentication.k8s.io"], resources: ["selfsubjectreviews"]),
        // Sandbox-only transport test endpoint.
        PolicyRule(verbs: ["get"], nonResourceURLs: ["/sandbox/echo-upgrade"]),
      ]),
    // What a kubelet needs (kube's system:node role, without the Node authorizer's per-node narrowing),
    // plus pods/binding: the sandbox has no scheduler, its node agent binds pods to itself.
    Binding(
      name: "system:node", namespace: nil, subjects: [.group("system:nodes")],
      rules: [
        PolicyRule(
          verbs: ["get", "list", "watch", "create", "update", "patch"], apiGroups: [""], resources: ["nodes"]),
        PolicyRule(verbs: ["update", "patch"], apiGroups: [""], resources: ["nodes/status"]),
        PolicyRule(verbs: ["get", "list", "watch", "delete"], apiGroups: [""], resources: ["pods"]),
        PolicyRule(verbs: ["update", "patch"], apiGroups: [""], resources: ["pods/status"]),
        PolicyRule(verbs: ["create"], apiGroups: [""], resources: ["pods/binding"]),
        // kube's eventsRule(), in system:node and system:kube-scheduler alike: the agent records events
        // as kubelet and as the scheduler it stands in for.
        PolicyRule(verbs: ["create", "update", "patch"], apiGroups: ["", "events.k8s.io"], resources: ["events"]),
      ]),
    Binding(
      name: "sandbox-dev", namespace: "dev", subjects: [.user("sandbox-dev")],
      rules: [
        PolicyRule(
          verbs: ["get", "list", "watch", "create", "delete", "patch"], apiGroups: [""], resources: ["pods"]),
        PolicyRule(verbs: ["get"], apiGroups: [""], resources: ["pods/log"]),
        PolicyRule(verbs: ["get", "create"], apiGroups: [""], resources: ["pods/portforward"]),
        // What the `view` ClusterRole a developer gets bound in a namespace grants: reading events.
        PolicyRule(verbs: ["get", "list", "watch"], apiGroups: ["", "events.k8s.io"], resources: ["events"]),
      ]),
    Binding(
      name: "sandbox-dev-namespace", namespace: nil, subjects: [.user("sandbox-dev")],
      rules: [PolicyRule(verbs: ["get"], apiGroups: [""], resources: ["namespaces"], resourceNames: ["dev"])]),
    Binding(
      name: "sandbox-readonly", namespace: nil, subjects: [.user("sandbox-readonly")],
      rules: [PolicyRule(verbs: ["get", "list", "watch"], apiGroups: [""], resources: ["pods"])]),
  ])
}
