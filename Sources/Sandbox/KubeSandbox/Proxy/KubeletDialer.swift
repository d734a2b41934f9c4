import NIOCore
import NIOPosix
import NIOSSL
import SandboxHTTP

/// Where a node's kubelet listens, read from its Node object as kube-apiserver's `GetConnectionInfo`
/// does: the InternalIP address and `status.daemonEndpoints.kubeletEndpoint.Port`.
struct KubeletEndpoint: Sendable, Equatable {
  var host: String
  var port: Int

  static func of(node: JSONValue) throws(StatusError) -> KubeletEndpoint {
    let name = node["metadata"]?["name"]?.stringValue ?? ""
    let addresses = node["status"]?["addresses"]?.arrayValue ?? []
    let preferred = ["InternalIP", "ExternalIP", "Hostname"]
    var host: String?
    for type in preferred where host == nil {
      host = addresses.first { $0["type"]?.stringValue == type }?["address"]?.stringValue
    }
    guard let host, !host.isEmpty else {
      throw .internalError("no preferred addresses found; known addresses: [] (node \(name))")
    }
    guard let port = node["status"]?["daemonEndpoints"]?["kubeletEndpoint"]?["Port"]?.intValue, port > 0, port < 65536
    else { throw .internalError("node \(name) reports no kubelet port") }
    return KubeletEndpoint(host: host, port: Int(port))
  }
}

/// Opens TLS connections from the API server to kubelets: the kubelet client certificate
/// (`kube-apiserver-kubelet-client`) and the sandbox CA to verify the kubelet's serving certificate
/// (including its IP SAN, since kubelets are dialed by address).
struct KubeletDialer: Sendable {
  let context: NIOSSLContext

  init(pki: PKI) throws {
    var configuration = TLSConfiguration.makeClientConfiguration()
    configuration.certificateChain = [
      .certificate(try NIOSSLCertificate(bytes: Array(pki.kubeletClient.certificatePEM.utf8), format: .pem))
    ]
    configuration.privateKey = .privateKey(
      try NIOSSLPrivateKey(bytes: Array(pki.kubeletClient.keyPEM.utf8), format: .pem))
    configuration.trustRoots = .certificates([
      try NIOSSLCertificate(bytes: Array(pki.ca.certificatePEM.utf8), format: .pem)
    ])
    configuration.certificateVerification = .fullVerification
    configuration.applicationProtocols = ["http/1.1"]
    context = try NIOSSLContext(configuration: configuration)
  }

  /// Connects on `eventLoop` (the client connection's loop, so both ends of a proxy share one thread).
  func connect(
    to endpoint: KubeletEndpoint, on eventLoop: EventLoop,
    initializer: @escaping @Sendable (Channel) throws -> Void
  ) -> EventLoopFuture<Channel> {
    let context = self.context
    return ClientBootstrap(group: eventLoop)
      .channelOption(.socketOption(.tcp_nodelay), value: 1)
      .connectTimeout(.seconds(10))
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
          try initializer(channel)
        }
      }
      .connect(host: endpoint.host, port: endpoint.port)
  }
}

/// What a proxy handler learns from its kubelet connection.
protocol KubeletConnectionOwner: AnyObject, SendableMetatype {
  /// The kubelet could not be dialed (nothing was sent to it).
  func kubeletDialFailed(_ error: Error)
  func kubeletRead(_ buffer: ByteBuffer)
  func kubeletReadComplete()
  func kubeletWritabilityChanged(_ writable: Bool)
  func kubeletClosed()
}

/// The kubelet end of a proxied upgrade: hands everything to its owner (on the same event loop).
final class KubeletConnectionHandler<Owner: KubeletConnectionOwner>: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer

  private let owner: NIOLoopBound<Owner>

  init(owner: NIOLoopBound<Owner>) { self.owner = owner }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    owner.value.kubeletRead(unwrapInboundIn(data))
  }

  func channelReadComplete(context: ChannelHandlerContext) { owner.value.kubeletReadComplete() }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    owner.value.kubeletWritabilityChanged(context.channel.isWritable)
  }

  func channelInactive(context: ChannelHandlerContext) { owner.value.kubeletClosed() }

  func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
}

/// The kubelet leg of one proxied upgrade, shared by the SPDY byte proxy and the WebSocket tunnel:
/// dialed on the client connection's loop as soon as the proxy handler is added, the upgrade request
/// written first, client bytes that arrive meanwhile queued behind it. Event-loop confined.
final class KubeletLeg {
  private(set) var channel: Channel?
  private var queued: [ByteBuffer] = []
  private var closed = false

  /// Dials `endpoint`; on success sends `request` and what was queued, on failure tells the owner
  /// (`kubeletDialFailed`). A leg closed while dialing closes the new connection at once.
  func open<Owner: KubeletConnectionOwner>(
    endpoint: KubeletEndpoint, dialer: KubeletDialer, request: [UInt8], owner: Owner, on eventLoop: EventLoop
  ) {
    let boundOwner = NIOLoopBound(owner, eventLoop: eventLoop)
    let leg = NIOLoopBound(self, eventLoop: eventLoop)
    dialer.connect(to: endpoint, on: eventLoop) { channel in
      try channel.pipeline.syncOperations.addHandler(KubeletConnectionHandler(owner: boundOwner))
    }.whenComplete { result in
      switch result {
      case .failure(let error):
        guard !leg.value.closed else { return }
        boundOwner.value.kubeletDialFailed(error)
      case .success(let channel):
        leg.value.connected(channel, request: request)
      }
    }
  }

  private func connected(_ channel: Channel, request: [UInt8]) {
    guard !closed else {
      channel.close(promise: nil)
      return
    }
    self.channel = channel
    channel.write(channel.allocator.buffer(bytes: request), promise: nil)
    for buffer in queued { channel.write(buffer, promise: nil) }
    queued = []
    channel.flush()
  }

  /// To the kubelet, or queued until it is connected.
  func write(_ buffer: ByteBuffer) {
    guard !closed else { return }
    if let channel { channel.write(buffer, promise: nil) } else { queued.append(buffer) }
  }

  func flush() { channel?.flush() }

  /// Stops reading the kubelet while the client cannot take more.
  func setAutoRead(_ on: Bool) { _ = channel?.setOption(ChannelOptions.autoRead, value: on) }

  func close() {
    closed = true
    queued = []
    channel?.close(promise: nil)
  }

  /// kube-apiserver's answer when the kubelet cannot be reached, written raw (no response head was
  /// sent yet) before the client connection closes.
  static func refuse(_ context: ChannelHandlerContext, dialError error: Error) {
    let bytes = RawStatusResponse.bytes(.internalError("error dialing backend: \(error)"))
    let channel = context.channel
    context.writeAndFlush(NIOAny(channel.allocator.buffer(bytes: bytes))).whenComplete { _ in
      channel.close(promise: nil)
    }
  }
}

/// The raw HTTP/1.1 request a proxy sends to the kubelet to open the SPDY upgrade.
enum KubeletUpgradeRequest {
  static func bytes(
    method: String, path: String, endpoint: KubeletEndpoint, protocols: [String], userAgent: String?
  ) -> [UInt8] {
    var text = "\(method) \(path) HTTP/1.1\r\nHost: \(endpoint.host):\(endpoint.port)\r\n"
    if let userAgent { text += "User-Agent: \(userAgent)\r\n" }
    text += "Content-Length: 0\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
    for value in protocols { text += "X-Stream-Protocol-Version: \(value)\r\n" }
    text += "\r\n"
    return Array(text.utf8)
  }
}

/// A raw `metav1.Status` HTTP response, for handlers that own the connection before any head was sent
/// (e.g. `500 error dialing backend: …` when the kubelet cannot be reached).
enum RawStatusResponse {
  static func bytes(_ error: StatusError) -> [UInt8] {
    let body = error.status.serialized()
    let reason = HTTPReason.phrase(error.code)
    var head = "HTTP/1.1 \(error.code) \(reason)\r\nContent-Type: application/json\r\n"
    head += "Cache-Control: no-cache, private\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
    head += "Date: \(HTTPDate.now())\r\n\r\n"
    return Array(head.utf8) + body
  }
}

enum HTTPReason {
  static func phrase(_ code: Int) -> String {
    switch code {
    case 400: return "Bad Request"
    case 403: return "Forbidden"
    case 404: return "Not Found"
    case 500: return "Internal Server Error"
    case 502: return "Bad Gateway"
    case 503: return "Service Unavailable"
    default: return "Error"
    }
  }
}
