import Foundation
import NIOHTTP1

/// The request pipeline of kube-apiserver in miniature: authenticate, derive the request attributes,
/// authorize, then dispatch to the endpoint. Pure value logic over thread-safe parts, so any event loop
/// may call it.
public final class Router: Sendable {
  let authenticator: Authenticator
  let authorizer: Authorizer
  let resources: ResourceAPI
  let version: VersionInfo
  let requestLog: (@Sendable (String) -> Void)?

  init(
    authenticator: Authenticator, authorizer: Authorizer, resources: ResourceAPI, version: VersionInfo,
    requestLog: (@Sendable (String) -> Void)? = nil
  ) {
    self.authenticator = authenticator
    self.authorizer = authorizer
    self.resources = resources
    self.version = version
    self.requestLog = requestLog
  }

  /// Paths served to requests without credentials (kube 1.32's anonymous `conditions` style: only the
  /// health, version and discovery endpoints accept anonymous requests; everything else is 401).
  static func isPublic(_ path: String) -> Bool {
    if ["/healthz", "/livez", "/readyz", "/version", "/version/", "/api", "/api/v1", "/apis"].contains(path) {
      return true
    }
    if path.hasPrefix("/healthz/") || path.hasPrefix("/livez/") || path.hasPrefix("/readyz/") { return true }
    // Group discovery (`/apis/GROUP` and `/apis/GROUP/VERSION`), never resources below it.
    if path.hasPrefix("/apis/") { return path.split(separator: "/").count <= 3 }
    return false
  }

  public func handle(_ request: APIRequest) -> APIResponse {
    let (response, user) = authenticateAndServe(request)
    if let requestLog {
      let status: String
      switch response {
      case .full(let code, _, _): status = String(code.code)
      case .stream(let streaming): status = "\(streaming.status.code) (stream)"
      case .upgrade(let upgrade): status = upgrade.head.map { String($0.status.code) } ?? "(proxied upgrade)"
      case .deferred: status = "(deferred)"
      }
      let query = request.query.items.isEmpty ? "" : "?" + request.query.items.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
      requestLog(
        "\(request.method.rawValue) \(request.path)\(query) \(status) user=\(user?.name ?? "-") proto=\(request.isHTTP2 ? "h2" : "http/1.1")")
    }
    return response
  }

  private func authenticateAndServe(_ request: APIRequest) -> (APIResponse, UserInfo?) {
    let user: UserInfo
    switch authenticator.authenticate(
      certificateUser: request.certificateUser, authorization: request.headers.first(name: "authorization"))
    {
    case .authenticated(let authenticated):
      do {
        user = try Impersonation.apply(headers: request.headers, to: authenticated, authorizer: authorizer)
      } catch {
        return (.error(error), authenticated)
      }
    case .failed: return (.error(.unauthorized), nil)
    case .anonymous:
      guard Self.isPublic(request.path) else { return (.error(.unauthorized), nil) }
      user = Authenticator.anonymous
    }

    let info = RequestInfo(method: request.method, path: request.path, query: request.query)
    let attributes = info.attributes(for: user)
    if case .deny(let reason) = authorizer.authorize(attributes) {
      return (.error(Authorizer.forbidden(attributes, reason: reason)), user)
    }

    if info.isResourceRequest {
      return (resources.handle(request, info: info, user: user), user)
    }
    return (handleNonResource(request, info: info), user)
  }

  private func handleNonResource(_ request: APIRequest, info: RequestInfo) -> APIResponse {
    let path = request.path
    if path == EchoUpgrade.path { return EchoUpgrade.respond(to: request) }
    guard request.method == .GET || request.method == .HEAD else { return .error(.methodNotAllowed) }
    switch path {
    case "/healthz", "/livez", "/readyz":
      return .text("ok")
    case "/version", "/version/":
      return .json(version.json)
    default:
      if let document = Discovery.document(for: path, request: request) { return document }
      if let document = OpenAPI.document(for: path) { return .json(document) }
      return .error(.pathNotFound)
    }
  }
}

/// `/version`, as `k8s.io/apimachinery/pkg/version.Info`.
public struct VersionInfo: Sendable {
  public var major = "1"
  public var minor = "32"
  public var gitVersion = "v1.32.0-kftray-sandbox"

  var json: JSONValue {
    #if arch(arm64)
      let architecture = "arm64"
    #else
      let architecture = "amd64"
    #endif
    return [
      "major": .string(major), "minor": .string(minor), "gitVersion": .string(gitVersion), "gitCommit": "0000000000000000000000000000000000000000",
      "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "swift6.3", "compiler": "swiftc",
      "platform": .string("linux/\(architecture)"),
    ]
  }
}
