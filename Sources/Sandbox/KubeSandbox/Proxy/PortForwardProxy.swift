import Foundation
import NIOCore
import NIOHTTP1
import PortForwardCodecs

/// The API server side of `pods/portforward` and `pods/log`: reaches the node's kubelet over TLS as
/// kube-apiserver does.
///
/// - `pods/log`: `GET /containerLogs/{ns}/{pod}/{container}` with the log options (`KubeletLogRelay`).
/// - SPDY (`Upgrade: SPDY/3.1`, normally POST): the request is re-issued to the kubelet with the
///   client's `X-Stream-Protocol-Version` values; the kubelet's answer is relayed byte for byte, and
///   after a 101 the connection is a byte pipe (`SPDYUpgradeProxy`, no SPDY parsing), as
///   `UpgradeAwareHandler` does.
/// - WebSocket with `Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io` (KEP-4006): unwrapped into a
///   SPDY upgrade towards the kubelet (`WebSocketTunnel`).
/// - WebSocket without a `SPDY/3.1+…` protocol (the legacy channel protocol): 400 with a Status, which
///   kubectl treats as an upgrade failure and falls back to SPDY.
struct KubeletProxy: NodeStreamProvider {
  let store: ObjectStore
  let dialer: KubeletDialer
  /// Where log requests dial from (upgrades use the client connection's own loop).
  let group: any EventLoopGroup

  static let tunnelPrefix = "SPDY/3.1+"

  func log(_ request: APIRequest, pod: JSONValue, container: String, node: String) throws(StatusError) -> APIResponse {
    let endpoint = try endpoint(node: node)
    let namespace = pod["metadata"]?["namespace"]?.stringValue ?? ""
    let name = pod["metadata"]?["name"]?.stringValue ?? ""
    let path = "/containerLogs/\(Self.escaped(namespace))/\(Self.escaped(name))/\(Self.escaped(container))"
    let query = KubeletLogRelay.kubeletQuery(request.query)
    return KubeletLogRelay.response(
      endpoint: endpoint, dialer: dialer, eventLoop: group.next(), uri: query.isEmpty ? path : path + "?" + query,
      podName: name)
  }

  private func endpoint(node: String) throws(StatusError) -> KubeletEndpoint {
    guard let nodeObject = store.get(ObjectKey(resource: "nodes", name: node)) else {
      throw .notFound(resource: "nodes", name: node)
    }
    return try KubeletEndpoint.of(node: nodeObject)
  }

  /// Path segments are object names (DNS labels and subdomains); escape anything else anyway.
  static func escaped(_ segment: String) -> String {
    segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#")))
      ?? segment
  }

  func portForward(_ request: APIRequest, pod: JSONValue, node: String) throws(StatusError) -> APIResponse {
    let endpoint = try endpoint(node: node)
    let namespace = pod["metadata"]?["namespace"]?.stringValue ?? ""
    let name = pod["metadata"]?["name"]?.stringValue ?? ""
    let path = "/portForward/\(namespace)/\(name)"
    let userAgent = request.headers.first(name: "user-agent")
    let dialer = self.dialer

    if request.isUpgrade(to: "websocket") {
      let protocols = Self.tunnelProtocols(request.headers)
      guard !protocols.isEmpty else {
        throw .badRequest(
          "the sandbox serves port-forward over SPDY/3.1 and the \(WebSocketHandshake.portForwardSubprotocol) "
            + "WebSocket tunnel, not the legacy WebSocket channel protocol")
      }
      guard let key = request.headers.first(name: "sec-websocket-key"), !key.isEmpty else {
        throw .badRequest("missing Sec-WebSocket-Key")
      }
      let upgrade = KubeletUpgradeRequest.bytes(
        method: "POST", path: path, endpoint: endpoint, protocols: protocols, userAgent: userAgent)
      return .upgrade(
        UpgradeResponse(
          head: nil, initialBytes: [],
          makeHandler: {
            WebSocketTunnel(
              endpoint: endpoint, dialer: dialer, upgradeRequest: upgrade,
              acceptValue: WebSocketHandshake.acceptValue(forKey: key))
          }))
    }
    // kube-apiserver's portforward handler requires an upgrade.
    guard request.isUpgrade(to: "spdy/3.1") else { throw .badRequest("Upgrade request required") }
    let upgrade = KubeletUpgradeRequest.bytes(
      method: request.method.rawValue, path: path, endpoint: endpoint,
      protocols: request.headers[canonicalForm: "x-stream-protocol-version"].map(String.init),
      userAgent: userAgent)
    return .upgrade(
      UpgradeResponse(
        head: nil, initialBytes: [],
        makeHandler: { SPDYUpgradeProxy(endpoint: endpoint, dialer: dialer, upgradeRequest: upgrade) }))
  }

  /// streamtunnel.go: the offered protocols that start with `SPDY/3.1+` and end with `.k8s.io`, prefix
  /// stripped. Like kube's routing predicate, only the first `Sec-WebSocket-Protocol` line counts.
  static func tunnelProtocols(_ headers: HTTPHeaders) -> [String] {
    guard let first = headers.first(name: "sec-websocket-protocol") else { return [] }
    return first.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
      .filter { $0.hasPrefix(tunnelPrefix) && $0.hasSuffix(".k8s.io") }
      .map { String($0.dropFirst(tunnelPrefix.count)) }
  }
}

extension ResourceAPI {
  /// kube 1.35+ (`AuthorizePodWebsocketUpgradeCreatePermission`): a WebSocket GET on pods/portforward
  /// needs `create` as well as the `get` the router already checked.
  func authorizeWebSocketPortForward(_ request: APIRequest, info: RequestInfo, user: UserInfo) throws(StatusError) {
    guard request.method == .GET, request.isUpgrade(to: "websocket") else { return }
    var create = info
    create.verb = "create"
    let attributes = create.attributes(for: user)
    if case .deny(let reason) = authorizer.authorize(attributes) {
      throw Authorizer.forbidden(attributes, reason: reason)
    }
  }
}

/// The SPDY upgrade proxied byte for byte: the kubelet's response (101 or an error) is relayed as it
/// comes, then bytes flow both ways until either side closes. Event-loop confined; the kubelet
/// connection lives on the client connection's loop.
///
/// Towards the client the bytes keep the real API server's write and record sizes (`RealWireShape`):
/// the response head as one write, then one write per kubelet record (`KubeletRecordReader`), each cut
/// into records as Go's TLS does (`GoTLSWriter`).
final class SPDYUpgradeProxy: ChannelInboundHandler, KubeletConnectionOwner {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  private enum Phase {
    /// The kubelet's response head is still coming.
    case head([UInt8])
    /// After a 101: kubelet records, shaped.
    case upgraded
    /// After a refusal: relayed as it comes until the kubelet closes.
    case refused
  }

  private let endpoint: KubeletEndpoint
  private let dialer: KubeletDialer
  private let upgradeRequest: [UInt8]
  private let kubelet = KubeletLeg()
  private var context: ChannelHandlerContext?
  private var closed = false
  private var phase = Phase.head([])
  private var reader = KubeletRecordReader()
  private let writer = GoTLSWriter()

  init(endpoint: KubeletEndpoint, dialer: KubeletDialer, upgradeRequest: [UInt8]) {
    self.endpoint = endpoint
    self.dialer = dialer
    self.upgradeRequest = upgradeRequest
  }

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    kubelet.open(endpoint: endpoint, dialer: dialer, request: upgradeRequest, owner: self, on: context.eventLoop)
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    kubelet.write(unwrapInboundIn(data))
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    kubelet.flush()
    context.fireChannelReadComplete()
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    kubelet.setAutoRead(context.channel.isWritable)
    context.fireChannelWritabilityChanged()
  }

  func channelInactive(context: ChannelHandlerContext) {
    closed = true
    kubelet.close()
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    context.close(promise: nil)
  }

  // MARK: KubeletConnectionOwner

  func kubeletDialFailed(_ error: Error) {
    guard let context, !closed else { return }
    closed = true
    KubeletLeg.refuse(context, dialError: error)
  }

  func kubeletRead(_ buffer: ByteBuffer) {
    guard let context else { return }
    switch phase {
    case .head(var bytes):
      var buffer = buffer
      bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
      guard let end = WebSocketTunnel.headEnd(bytes) else {
        phase = .head(bytes)
        return
      }
      let (status, _) = WebSocketTunnel.parseHead(Array(bytes[..<end]))
      let rest = context.channel.allocator.buffer(bytes: bytes[end...])
      if status == 101 {
        phase = .upgraded
        writer.write(context.channel.allocator.buffer(bytes: bytes[..<end]), to: context)
        reader.append(rest)
        relayRecords(context)
      } else {
        phase = .refused
        context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
      }
    case .upgraded:
      reader.append(buffer)
      relayRecords(context)
    case .refused:
      context.write(wrapOutboundOut(buffer), promise: nil)
    }
  }

  /// One write to the client per kubelet record, as kube-apiserver's io.Copy does.
  private func relayRecords(_ context: ChannelHandlerContext) {
    while let read = reader.nextRead() { writer.write(read, to: context) }
  }

  func kubeletReadComplete() { context?.flush() }

  func kubeletWritabilityChanged(_ writable: Bool) {
    _ = context?.channel.setOption(ChannelOptions.autoRead, value: writable)
  }

  /// Everything the kubelet sent is written before the client connection closes.
  func kubeletClosed() {
    guard let context, !closed else { return }
    closed = true
    let channel = context.channel
    context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
      channel.close(promise: nil)
    }
  }
}
