import Foundation

/// Typed calls to the Kubernetes API over libcurl. One value per configured cluster; copies share
/// the same transport, and so the same connections.
public struct KubeAPI: Sendable {
  public let config: ClientConfig
  public let credentials: any CredentialSource
  public let identity: ClientIdentity
  let transport: HTTPTransport
  /// Marks objects this plugin created or changed (server-side field ownership).
  public var fieldManager = "kubectl-kftray"

  public init(config: ClientConfig, credentials: any CredentialSource, identity: ClientIdentity = .default) {
    self.config = config
    self.credentials = credentials
    self.identity = identity
    self.transport = HTTPTransport(config: config, identity: identity)
  }

  /// Requests made and connections opened so far by this client.
  public var transportStatistics: TransportStatistics { transport.statistics }

  /// Stops the I/O thread. Calls in flight fail; the value must not be used afterwards.
  public func shutdown() { transport.shutdown() }

  // MARK: Calls

  public func version() async throws(KubeError) -> ServerVersion {
    try await call("GET", APIPath("/version"), as: ServerVersion.self, what: "the server version")
  }

  /// The names of every namespace (`kubectl get namespaces`).
  public func namespaceNames() async throws(KubeError) -> [String] {
    struct List: Decodable { var items: [Namespace] }
    let list = try await call("GET", APIPath("/api/v1/namespaces"), as: List.self, what: "namespace list")
    return list.items.compactMap(\.metadata.name)
  }

  public func namespace(_ name: String) async throws(KubeError) -> Namespace {
    try await call("GET", APIPath("/api/v1/namespaces/\(APIPath.segment(name))"), as: Namespace.self, what: "namespace \(name)")
  }

  /// Creates a pod. With `dryRun` the server validates, defaults and admits it but stores nothing.
  public func createPod(_ pod: Pod, namespace: String, dryRun: Bool = false) async throws(KubeError) -> Pod {
    let body = try encode(pod)
    let path = APIPath.pods(namespace: namespace).adding("dryRun", dryRun ? "All" : nil).adding("fieldManager", fieldManager)
    return try await call("POST", path, body: body, contentType: "application/json", as: Pod.self, what: "pod creation")
  }

  /// Creates a pod from a JSON manifest, sent as given: fields the `Pod` model does not carry
  /// (probes, a user's merge patch) reach the server too.
  public func createPod(manifest: Data, namespace: String, dryRun: Bool = false) async throws(KubeError) -> Pod {
    let path = APIPath.pods(namespace: namespace).adding("dryRun", dryRun ? "All" : nil).adding("fieldManager", fieldManager)
    return try await call("POST", path, body: manifest, contentType: "application/json", as: Pod.self, what: "pod creation")
  }

  /// The core/v1 Events about one object, oldest first, as `kubectl describe` shows them.
  public func events(namespace: String, involvedObjectName name: String, kind: String = "Pod") async throws(KubeError) -> [Event] {
    let path = APIPath("/api/v1/namespaces/\(APIPath.segment(namespace))/events")
      .adding("fieldSelector", "involvedObject.name=\(name),involvedObject.kind=\(kind)")
    let list = try await call("GET", path, as: EventList.self, what: "event list")
    return list.items.sorted { ($0.lastTimestamp ?? $0.eventTime ?? "") < ($1.lastTimestamp ?? $1.eventTime ?? "") }
  }

  public func pod(_ name: String, namespace: String) async throws(KubeError) -> Pod {
    try await call("GET", APIPath.pod(name, namespace: namespace), as: Pod.self, what: "pod \(name)")
  }

  /// Lists pods in one namespace, or in all when `namespace` is nil.
  public func listPods(namespace: String?, labelSelector: String? = nil, fieldSelector: String? = nil) async throws(KubeError) -> PodList {
    let path = APIPath.pods(namespace: namespace).adding("labelSelector", labelSelector).adding("fieldSelector", fieldSelector)
    return try await call("GET", path, as: PodList.self, what: "pod list")
  }

  /// Deletes a pod. Returns the pod as the server last saw it (with `deletionTimestamp` while it
  /// terminates), or nil when the server answered with a Status instead.
  @discardableResult
  /// With `preconditionUID` only that incarnation of the pod is deleted (409 Conflict otherwise).
  public func deletePod(
    _ name: String, namespace: String, gracePeriodSeconds: Int? = nil, preconditionUID: String? = nil
  ) async throws(KubeError) -> Pod? {
    var options: [String: Any] = ["kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"]
    if let gracePeriodSeconds { options["gracePeriodSeconds"] = gracePeriodSeconds }
    if let preconditionUID { options["preconditions"] = ["uid": preconditionUID] }
    let body = try! JSONSerialization.data(withJSONObject: options, options: [.sortedKeys])
    let response = try await send("DELETE", APIPath.pod(name, namespace: namespace), body: body, contentType: "application/json")
    return try? JSONDecoder().decode(Pod.self, from: response.body)
  }

  /// Applies a JSON merge patch (RFC 7386) to a pod.
  public func mergePatchPod(_ name: String, namespace: String, patch: Data) async throws(KubeError) -> Pod {
    let path = APIPath.pod(name, namespace: namespace).adding("fieldManager", fieldManager)
    return try await call("PATCH", path, body: patch, contentType: "application/merge-patch+json", as: Pod.self, what: "pod \(name)")
  }

  /// Asks whether the current user may do something (`kubectl auth can-i`).
  public func accessReview(_ attributes: ResourceAttributes) async throws(KubeError) -> AccessReviewResult {
    struct Review: Codable {
      var apiVersion = "authorization.k8s.io/v1"
      var kind = "SelfSubjectAccessReview"
      var spec: Spec
      var status: AccessReviewResult?
      struct Spec: Codable { var resourceAttributes: ResourceAttributes }
    }
    let body = try encode(Review(spec: .init(resourceAttributes: attributes)))
    let review = try await call(
      "POST", APIPath("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"), body: body,
      contentType: "application/json", as: Review.self, what: "access review")
    guard let status = review.status else {
      throw .decoding(what: "access review", detail: "the answer has no status")
    }
    return status
  }

  /// Container logs; with `follow` the stream stays open until the container ends or the
  /// consumer stops iterating.
  public func podLogs(
    _ name: String, namespace: String, container: String? = nil, follow: Bool = false, tailLines: Int? = nil,
    timestamps: Bool = false
  ) async throws(KubeError) -> AsyncThrowingStream<Data, any Error> {
    let path = APIPath.pod(name, namespace: namespace, subresource: "log")
      .adding("container", container)
      .adding("follow", follow ? "true" : nil)
      .adding("tailLines", tailLines.map(String.init))
      .adding("timestamps", timestamps ? "true" : nil)
    return try await openStream(path, accept: "*/*").body
  }

  // MARK: Plumbing

  package func call<T: Decodable>(
    _ method: String, _ path: APIPath, body: Data? = nil, contentType: String? = nil, as type: T.Type, what: String
  ) async throws(KubeError) -> T {
    let response = try await send(method, path, body: body, contentType: contentType)
    do {
      return try JSONDecoder().decode(T.self, from: response.body)
    } catch {
      throw .decoding(what: what, detail: "\(error)")
    }
  }

  package func send(_ method: String, _ path: APIPath, body: Data? = nil, contentType: String? = nil) async throws(KubeError) -> HTTPResponse {
    let creds = try await requestCredentials()
    var headers = [HTTPHeader("Accept", "application/json")]
    if let contentType { headers.append(HTTPHeader("Content-Type", contentType)) }
    let request = HTTPRequest(method: method, path: path.string, headers: headers, body: body)
    let response: HTTPResponse
    do {
      response = try await transport.send(request, credentials: creds)
    } catch {
      throw .transport(error, server: config.server.description)
    }
    try await check(response.head, body: response.body, credentials: creds)
    return response
  }

  /// Opens a streaming GET; a non-2xx answer is read whole and thrown as a Status.
  func openStream(_ path: APIPath, accept: String = "application/json") async throws(KubeError) -> HTTPStreamResponse {
    let creds = try await requestCredentials()
    let request = HTTPRequest(path: path.string, headers: [HTTPHeader("Accept", accept)], isStream: true)
    let response: HTTPStreamResponse
    do {
      response = try await transport.stream(request, credentials: creds)
    } catch {
      throw .transport(error, server: config.server.description)
    }
    if !(200..<300).contains(response.head.status) {
      var body = Data()
      do {
        for try await chunk in response.body { body.append(chunk) }
      } catch {}
      try await check(response.head, body: body, credentials: creds)
    }
    return response
  }

  func requestCredentials() async throws(KubeError) -> RequestCredentials {
    do {
      return try await credentials.credentials()
    } catch {
      throw .credentials("\(error)")
    }
  }

  private func check(_ head: HTTPResponseHead, body: Data, credentials creds: RequestCredentials) async throws(KubeError) {
    guard !(200..<300).contains(head.status) else { return }
    if head.status == 401 { await credentials.didReceiveUnauthorized(creds) }
    throw .api(APIStatus.decode(from: body, httpStatus: head.status), httpStatus: head.status)
  }

  package func encode<T: Encodable>(_ value: T) throws(KubeError) -> Data {
    do {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys]
      return try encoder.encode(value)
    } catch {
      throw .decoding(what: "request body", detail: "\(error)")
    }
  }
}
