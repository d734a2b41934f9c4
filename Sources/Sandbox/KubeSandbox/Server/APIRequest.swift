import NIOCore
import NIOHTTP1
import SandboxHTTP

/// The query string of a request, in order, percent-decoded (`+` is a space, as Go's `url.ParseQuery`).
public struct Query: Sendable {
  public var items: [(name: String, value: String)]

  public init(_ raw: Substring?) {
    items = raw.map { PercentDecoding.queryItems($0) } ?? []
  }

  public subscript(name: String) -> String? { items.first { $0.name == name }?.value }

  public func has(_ name: String) -> Bool { items.contains { $0.name == name } }

  /// Go's `strconv.ParseBool` set, as used for `watch=1|true` and friends.
  public func flag(_ name: String) -> Bool {
    guard let value = self[name] else { return false }
    return ["1", "t", "T", "true", "TRUE", "True"].contains(value)
  }
}

/// One HTTP request, whole (bodies of API calls are small), as the router sees it.
public struct APIRequest: Sendable {
  public var method: HTTPMethod
  public var path: String
  public var query: Query
  public var headers: HTTPHeaders
  public var body: [UInt8]
  public var isHTTP2: Bool
  /// The user of a verified TLS client certificate on this connection, if any.
  public var certificateUser: UserInfo?

  public init(
    method: HTTPMethod, uri: String, headers: HTTPHeaders, body: [UInt8], isHTTP2: Bool,
    certificateUser: UserInfo?
  ) {
    self.method = method
    let split = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
    self.path = PercentDecoding.decode(split.first ?? "/")
    self.query = Query(split.count > 1 ? split[1] : nil)
    self.headers = headers
    self.body = body
    self.isHTTP2 = isHTTP2
    self.certificateUser = certificateUser
  }

  /// True for an HTTP/1.1 `Connection: Upgrade` request naming `protocolName` in `Upgrade`.
  public func isUpgrade(to protocolName: String) -> Bool {
    guard !isHTTP2 else { return false }
    let connection = headers[canonicalForm: "connection"].map { $0.lowercased() }
    let upgrade = headers[canonicalForm: "upgrade"].map { $0.lowercased() }
    return connection.contains("upgrade") && upgrade.contains(protocolName.lowercased())
  }

  public var accept: String { headers["accept"].joined(separator: ",") }
  public var contentType: String {
    (headers.first(name: "content-type") ?? "").split(separator: ";").first.map {
      $0.trimmingCharacters(in: .whitespaces).lowercased()
    } ?? ""
  }
}

/// What a handler answers.
public enum APIResponse: Sendable {
  /// A complete response.
  case full(status: HTTPResponseStatus, headers: HTTPHeaders, body: [UInt8])
  /// A response whose body is produced over time (watch, log follow).
  case stream(StreamingResponse)
  /// An HTTP/1.1 protocol switch: the connection leaves HTTP after `head` and `initialBytes`.
  case upgrade(UpgradeResponse)
  /// An answer that needs I/O first (e.g. a proxied call whose status comes from a kubelet). Completed
  /// on any event loop; a failure that is not a `StatusError` becomes a 500.
  case deferred(EventLoopFuture<APIResponse>)

  public static func json(_ value: JSONValue, status: HTTPResponseStatus = .ok) -> APIResponse {
    var headers = HTTPHeaders()
    headers.add(name: "Content-Type", value: "application/json")
    headers.add(name: "Cache-Control", value: "no-cache, private")
    return .full(status: status, headers: headers, body: value.serialized())
  }

  public static func text(_ text: String, status: HTTPResponseStatus = .ok) -> APIResponse {
    var headers = HTTPHeaders()
    headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
    headers.add(name: "Cache-Control", value: "no-cache, private")
    headers.add(name: "X-Content-Type-Options", value: "nosniff")
    return .full(status: status, headers: headers, body: Array(text.utf8))
  }

  public static func error(_ error: StatusError) -> APIResponse {
    json(error.status, status: HTTPResponseStatus(statusCode: error.code))
  }
}

/// Writes the chunks of a streaming response. Safe from any thread: every call hops to the connection's
/// event loop in order, so events keep the order in which they were written.
public struct ResponseStreamWriter: Sendable {
  let eventLoop: EventLoop
  let sendChunk: @Sendable ([UInt8]) -> Void
  let sendEnd: @Sendable () -> Void

  public func write(_ bytes: [UInt8]) {
    let send = sendChunk
    eventLoop.execute { send(bytes) }
  }

  /// Ends the response (and, over HTTP/1.1, leaves the connection ready for the next request).
  public func finish() {
    let end = sendEnd
    eventLoop.execute { end() }
  }
}

public struct StreamingResponse: Sendable {
  public var status: HTTPResponseStatus
  public var headers: HTTPHeaders
  /// Runs on the connection's event loop once the head has been sent; returns what stops the producer
  /// when the client goes away first.
  public var start: @Sendable (ResponseStreamWriter) -> @Sendable () -> Void
}

public struct UpgradeResponse: Sendable {
  /// The `101` (or other) head to send. `nil` hands the raw connection over unanswered: the handler
  /// writes the response itself, as a proxy relaying a backend's own answer to an upgrade must
  /// (kube-apiserver's UpgradeAwareHandler does the same to reach a kubelet).
  public var head: HTTPResponseHead?
  /// Sent in the same write as the head (protocols that speak first).
  public var initialBytes: [UInt8]
  /// Builds the handler that owns the raw byte stream after the switch. Called on the event loop.
  public var makeHandler: @Sendable () -> any ChannelHandler
}
