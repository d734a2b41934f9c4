import NIOHTTP1

/// What a URL addresses, as kube-apiserver's `RequestInfoFactory` derives it (`/api/v1/...` and
/// `/apis/GROUP/VERSION/...`; `namespaces/NS/RESOURCE/NAME/SUBRESOURCE`).
public struct RequestInfo: Sendable, Equatable {
  public var isResourceRequest: Bool
  public var path: String
  public var verb: String
  public var apiGroup = ""
  public var apiVersion = ""
  public var namespace = ""
  public var resource = ""
  public var subresource = ""
  /// The object name from the path; empty for collections.
  public var name = ""
  /// A list or watch narrowed by `fieldSelector=metadata.name=X` is authorized as X, like
  /// kube-apiserver's RequestInfoFactory, but it stays a collection request.
  public var selectedName = ""

  public init(method: HTTPMethod, path: String, query: Query) {
    self.path = path
    isResourceRequest = false
    verb = Self.nonResourceVerb(method)
    var parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    guard let prefix = parts.first, prefix == "api" || prefix == "apis" else { return }
    parts.removeFirst()
    if prefix == "apis" {
      guard parts.count >= 1 else { return }
      apiGroup = parts.removeFirst()
    }
    guard parts.count >= 1 else { return }
    apiVersion = parts.removeFirst()
    guard !parts.isEmpty else { return }
    isResourceRequest = true

    // Legacy `/watch/` prefix is deprecated and not served by the sandbox; `namespaces/NS/...`.
    if parts[0] == "namespaces" {
      if parts.count > 1 {
        namespace = parts[1]
        if parts.count > 2 && !["status", "finalize"].contains(parts[2]) {
          parts.removeFirst(2)
        } else if parts.count > 2 {
          // `namespaces/NS/status` and `/finalize` are subresources of the namespace.
          namespace = ""
        } else {
          // `/api/v1/namespaces/NS` is the namespace object itself.
          parts = ["namespaces", parts[1]]
          namespace = ""
        }
      }
    }
    resource = parts[0]
    if parts.count > 1 { name = parts[1] }
    if parts.count > 2 { subresource = parts[2] }

    switch method {
    case .POST: verb = "create"
    case .GET, .HEAD: verb = "get"
    case .PUT: verb = "update"
    case .PATCH: verb = "patch"
    case .DELETE: verb = "delete"
    default: verb = ""
    }
    if name.isEmpty {
      if verb == "get" { verb = "list" }
      if verb == "delete" { verb = "deletecollection" }
    }
    if query.flag("watch") && (verb == "list" || verb == "get") { verb = "watch" }
    // A list or watch narrowed to one name is authorized as that name (RequestInfoFactory does the same).
    if (verb == "list" || verb == "watch"), name.isEmpty, let selector = query["fieldSelector"] {
      for requirement in selector.split(separator: ",") {
        let pair = requirement.split(separator: "=", omittingEmptySubsequences: false).filter { !$0.isEmpty }
        if pair.count == 2, pair[0] == "metadata.name" { selectedName = String(pair[1]) }
      }
    }
  }

  static func nonResourceVerb(_ method: HTTPMethod) -> String {
    switch method {
    case .GET, .HEAD: return "get"
    case .POST: return "post"
    case .PUT: return "put"
    case .PATCH: return "patch"
    case .DELETE: return "delete"
    default: return method.rawValue.lowercased()
    }
  }

  public func attributes(for user: UserInfo) -> RequestAttributes {
    if isResourceRequest {
      return .resource(
        user: user, verb: verb, group: apiGroup, version: apiVersion, namespace: namespace, resource: resource,
        subresource: subresource, name: name.isEmpty ? selectedName : name)
    }
    return .nonResource(user: user, verb: verb, path: path)
  }
}
