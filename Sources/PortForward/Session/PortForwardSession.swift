import Foundation
import PortForwardCodecs
import KubeClient

/// How the port-forward request reaches the pod.
public enum PortForwardTransport: Sendable, Equatable, CustomStringConvertible {
  /// The WebSocket tunnel first, the SPDY POST if the server refuses the tunnel (kubectl ≥ 1.31).
  /// `KUBECTL_PORT_FORWARD_WEBSOCKETS=false` forces SPDY, as with kubectl.
  case auto
  /// KEP-4006 "SPDY over WebSocket" (`SPDY/3.1+portforward.k8s.io`), GET.
  case webSocket
  /// SPDY/3.1 upgrade, POST.
  case spdy

  public var description: String {
    switch self {
    case .auto: return "auto"
    case .webSocket: return "websocket"
    case .spdy: return "spdy"
    }
  }
}

public struct PortForwardSessionOptions: Sendable {
  /// How often we PING. kubectl's tunnel pings every 10 s but never gives up (spec §A.7); ours
  /// does, and a frozen API server (a stopped process, a dead NAT entry) must be noticed well within
  /// 15 s: 4 s × 3 missed = 12 s. A PING is a 12-byte frame (plus the WebSocket header), so the
  /// shorter interval costs nothing that matters, and every other frame received also counts.
  public var pingInterval: Duration = .seconds(4)
  /// The session is dead when nothing at all arrived for this many intervals.
  public var missedPingLimit = 3
  /// Received bytes a connection may hold before the local side reads them. Beyond it the session
  /// stops reading its socket (TCP backpressure, so a fast pod and a slower local reader still
  /// move every byte); a connection that stays beyond it with no local progress for
  /// `stalledStreamTimeout` is reset alone and reading resumes, so one stalled stream cannot
  /// freeze the session (spec §E.5). Sharding bounds whom such a pause touches.
  public var receiveBufferLimit = 4 << 20
  /// `.zero`: reset at once when the limit is passed (no pause).
  public var stalledStreamTimeout: Duration = .seconds(2)
  /// After the data stream ended, how long to wait for the error stream before reporting EOF.
  public var errorStreamGrace: Duration = .seconds(2)
  public var handshakeTimeout: Duration = .seconds(30)
  /// Where `KUBECTL_PORT_FORWARD_WEBSOCKETS` is read from (the process environment by default).
  public var environment: [String: String] = ProcessInfo.processInfo.environment

  public init() {}
}

/// One port-forward session to one pod: a single upgraded connection carrying any number of
/// forwarded TCP connections (stream pairs).
public final class PortForwardSession: Sendable {
  public let namespace: String
  public let pod: String
  /// The transport actually in use (`.webSocket` or `.spdy`).
  public let transport: PortForwardTransport
  private let core: SessionCore
  private let connection: UpgradedConnection

  private init(namespace: String, pod: String, transport: PortForwardTransport, core: SessionCore, connection: UpgradedConnection) {
    self.namespace = namespace
    self.pod = pod
    self.transport = transport
    self.core = core
    self.connection = connection
  }

  deinit { core.close() }

  public static func open(
    api: KubeAPI, namespace: String, pod: String, transport: PortForwardTransport = .auto,
    options: PortForwardSessionOptions = PortForwardSessionOptions()
  ) async throws(PortForwardOpenError) -> PortForwardSession {
    let credentials: RequestCredentials
    do {
      credentials = try await api.credentials.credentials()
    } catch {
      throw .credentials("\(error)")
    }
    return try await open(
      config: api.config, credentials: credentials, identity: api.identity, namespace: namespace, pod: pod,
      transport: transport, options: options)
  }

  public static func open(
    config: ClientConfig, credentials: RequestCredentials, identity: ClientIdentity = .default,
    namespace: String, pod: String, transport: PortForwardTransport = .auto,
    options: PortForwardSessionOptions = PortForwardSessionOptions()
  ) async throws(PortForwardOpenError) -> PortForwardSession {
    let dialer = SessionDialer(
      config: config, credentials: credentials, identity: identity, namespace: namespace, pod: pod, options: options)
    var effective = transport
    if transport == .auto, options.environment["KUBECTL_PORT_FORWARD_WEBSOCKETS"]?.lowercased() == "false" {
      effective = .spdy
    }
    switch effective {
    case .spdy:
      let (core, connection) = try await dialer.spdy()
      return PortForwardSession(namespace: namespace, pod: pod, transport: .spdy, core: core, connection: connection)
    case .webSocket:
      let (core, connection) = try await dialer.webSocket(fallbackAllowed: false)!
      return PortForwardSession(namespace: namespace, pod: pod, transport: .webSocket, core: core, connection: connection)
    case .auto:
      // nil: the tunnel was refused in a way kubectl falls back on (any non-101, or no subprotocol).
      if let opened = try await dialer.webSocket(fallbackAllowed: true) {
        return PortForwardSession(namespace: namespace, pod: pod, transport: .webSocket, core: opened.0, connection: opened.1)
      }
      let (core, connection) = try await dialer.spdy()
      return PortForwardSession(namespace: namespace, pod: pod, transport: .spdy, core: core, connection: connection)
    }
  }

  /// Starts one forwarded connection to `port` in the pod: the pipelined SYN(error), FIN(error),
  /// SYN(data); bytes may be written at once. Never waits for the server.
  public func openStreamPair(port: UInt16) throws(ForwardedStreamError) -> ForwardedStream {
    try core.openStreamPair(port: port)
  }

  public var state: SessionState { core.state }
  /// A connection is stalled (reading paused for it), or one was reset for stalling in the last
  /// 10 s: a real runtime blocks the whole session behind an unread stream (spec §A.6) and may
  /// not even have read our reset yet, so new connections had better go elsewhere.
  public var hasStalledStream: Bool { core.streams.hasStall(window: .seconds(10)) }
  public var statistics: SessionStatistics { core.streams.statistics }
  /// Not reading now: a connection holds more than its receive limit.
  public var readingPaused: Bool { core.streams.readingPaused }
  /// Bytes queued on the connection, not yet taken by the socket: the forwarder's backpressure.
  public var pendingBytes: Int { connection.pendingBytes }
  /// Calls `handler` once, as soon as `pendingBytes` is below `threshold` (at once if it is):
  /// lets a throttled forwarder resume without polling.
  public func notifyWhenPending(below threshold: Int, _ handler: @escaping @Sendable () -> Void) {
    connection.notifyWhenPending(below: threshold, handler)
  }

  /// The orderly end: RST(CANCEL) for open streams, GOAWAY(0, OK), WebSocket close 1000, close.
  public func close() { core.close() }

  /// Waits until the session has ended and says why.
  public func terminated() async -> SessionTermination { await core.terminated() }
}

/// Performs the two upgrade handshakes.
struct SessionDialer: Sendable {
  let config: ClientConfig
  let credentials: RequestCredentials
  let identity: ClientIdentity
  let namespace: String
  let pod: String
  let options: PortForwardSessionOptions

  static let streamProtocol = "portforward.k8s.io"

  var path: String { "/api/v1/namespaces/\(namespace)/pods/\(pod)/portforward" }

  func spdy() async throws(PortForwardOpenError) -> (SessionCore, UpgradedConnection) {
    let core = SessionCore(tunnel: false, options: options)
    let request = UpgradeRequest(
      method: "POST", path: path,
      headers: [
        HTTPHeader("Connection", "Upgrade"), HTTPHeader("Upgrade", "SPDY/3.1"),
        HTTPHeader("X-Stream-Protocol-Version", Self.streamProtocol),
      ],
      handshakeTimeout: options.handshakeTimeout)
    let connection: UpgradedConnection
    do {
      connection = try await UpgradedConnection.open(
        config: config, credentials: credentials, identity: identity, request: request, events: core.events)
    } catch {
      throw Self.openError(error, transport: .spdy)
    }
    let head = connection.head
    // kubectl: Connection contains upgrade, Upgrade contains spdy/3.1, and ForwardPorts then needs
    // the negotiated X-Stream-Protocol-Version.
    let problem: String? =
      if !(head.header("Upgrade")?.lowercased().contains("spdy/3.1") ?? false) {
        "the 101 does not say Upgrade: SPDY/3.1 (got \(head.header("Upgrade") ?? "nothing"))"
      } else if head.header("X-Stream-Protocol-Version") != Self.streamProtocol {
        "unable to negotiate protocol: client supports \"\(Self.streamProtocol)\", server returned \"\(head.header("X-Stream-Protocol-Version") ?? "")\""
      } else { nil }
    if let problem {
      connection.abort()
      core.terminate(.protocolError(problem))
      throw .handshake(problem, transport: .spdy)
    }
    core.attach(connection)
    return (core, connection)
  }

  /// nil when `fallbackAllowed` and the server refused the tunnel the way kubectl falls back on.
  func webSocket(fallbackAllowed: Bool) async throws(PortForwardOpenError) -> (SessionCore, UpgradedConnection)? {
    let core = SessionCore(tunnel: true, options: options)
    let key = WebSocketHandshake.makeKey()
    let request = UpgradeRequest(
      method: "GET", path: path,
      headers: [
        HTTPHeader("Upgrade", "websocket"), HTTPHeader("Connection", "Upgrade"),
        HTTPHeader("Sec-WebSocket-Version", "13"), HTTPHeader("Sec-WebSocket-Key", key),
        // ONE protocol line: the apiserver's routing only reads the first value (spec §C.1).
        HTTPHeader("Sec-WebSocket-Protocol", WebSocketHandshake.portForwardSubprotocol),
      ],
      handshakeTimeout: options.handshakeTimeout)
    let connection: UpgradedConnection
    do {
      connection = try await UpgradedConnection.open(
        config: config, credentials: credentials, identity: identity, request: request, events: core.events)
    } catch {
      if fallbackAllowed, case .rejected = error { return nil }
      throw Self.openError(error, transport: .webSocket)
    }
    do {
      try WebSocketHandshake.validateResponse(
        status: connection.head.status, headers: connection.head.headers.map { ($0.name, $0.value) }, key: key)
    } catch {
      connection.abort()
      core.terminate(.protocolError("\(error)"))
      if fallbackAllowed, case .subprotocolMismatch = error { return nil }
      throw .handshake("\(error)", transport: .webSocket)
    }
    core.attach(connection)
    return (core, connection)
  }

  static func openError(_ error: UpgradeError, transport: PortForwardTransport) -> PortForwardOpenError {
    switch error {
    case .rejected(let response):
      let status = try? JSONDecoder().decode(APIStatus.self, from: response.body)
      let body = String(decoding: response.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
      let message = status?.message ?? (body.isEmpty ? "HTTP \(response.status)" : body)
      return .rejected(status: response.status, reason: status?.reason, message: message, transport: transport)
    case .connect, .io, .timedOut:
      return .transport("\(error)")
    }
  }
}
