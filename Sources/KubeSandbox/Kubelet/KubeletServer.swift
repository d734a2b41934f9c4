import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The sandbox node's kubelet API: HTTPS on loopback, serving `/portForward/{namespace}/{pod}` (and the
/// `/{uid}` form) with the SPDY/3.1 upgrade of the container runtimes' streaming server.
///
/// - Serving certificate: issued by the sandbox CA at start (SANs `localhost`, `127.0.0.1`).
/// - Client certificates are required and verified against the sandbox CA (the TLS handshake fails
///   without one). Only the API server's kubelet client identity (`kube-apiserver-kubelet-client`) is
///   authorized; anyone else gets the kubelet's `403 Forbidden (user=…, verb=…, resource=nodes,
///   subresource=proxy)`.
public final class KubeletServer: Sendable {
  /// The identity the API server uses towards kubelets (`PKI.kubeletClient`).
  public static let apiServerUser = "kube-apiserver-kubelet-client"

  public let nodeName: String
  let channel: Channel

  private init(nodeName: String, channel: Channel) {
    self.nodeName = nodeName
    self.channel = channel
  }

  public var port: Int { channel.localAddress?.port ?? 0 }

  /// Listens on `host:port` (0 picks a free port) on `group`.
  public static func start(
    host: String = "127.0.0.1", port: Int = 0, nodeName: String, pki: PKI, pods: any KubeletPodDirectory,
    dialer: any PodPortDialer = LoopbackPodPortDialer(),
    sessionConfiguration: PortForwardSessionConfiguration = PortForwardSessionConfiguration(),
    group: EventLoopGroup
  ) async throws -> KubeletServer {
    let serving = try KubeletCertificate.issue(nodeName: nodeName, ca: pki.ca)
    let certificate = try NIOSSLCertificate(bytes: Array(serving.certificatePEM.utf8), format: .pem)
    let key = try NIOSSLPrivateKey(bytes: Array(serving.keyPEM.utf8), format: .pem)
    let ca = try NIOSSLCertificate(bytes: Array(pki.ca.certificatePEM.utf8), format: .pem)
    var configuration = TLSConfiguration.makeServerConfiguration(
      certificateChain: [.certificate(certificate)], privateKey: .privateKey(key))
    // Required and CA-verified (BoringSSL's FAIL_IF_NO_PEER_CERT); clients are not named by host.
    configuration.certificateVerification = .noHostnameVerification
    configuration.trustRoots = .certificates([ca])
    configuration.applicationProtocols = ["http/1.1"]
    configuration.minimumTLSVersion = .tlsv12
    let context = try NIOSSLContext(configuration: configuration)

    let routes = KubeletRoutes(pods: pods, dialer: dialer, sessionConfiguration: sessionConfiguration)
    let channel = try await ServerBootstrap(group: group)
      .serverChannelOption(.backlog, value: 256)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          let encoder = HTTPResponseEncoder()
          let decoder = ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes))
          try channel.pipeline.syncOperations.addHandlers([
            NIOSSLServerHandler(context: context), decoder, encoder,
            KubeletRequestHandler(routes: routes, encoder: encoder, decoder: decoder),
          ])
        }
      }
      .bind(host: host, port: port).get()
    return KubeletServer(nodeName: nodeName, channel: channel)
  }

  public func close() async {
    try? await channel.close()
  }
}

/// What the kubelet serves, as values (no I/O): the answer to one request.
struct KubeletRoutes: Sendable {
  let pods: any KubeletPodDirectory
  let dialer: any PodPortDialer
  let sessionConfiguration: PortForwardSessionConfiguration

  static let portForwardProtocol = "portforward.k8s.io"

  enum Answer {
    case text(HTTPResponseStatus, String, extraHeaders: [(String, String)])
    /// Switch to SPDY for this pod; the 101 carries the negotiated protocol.
    case portForward(KubeletPod)
  }

  func answer(method: HTTPMethod, uri: String, headers: HTTPHeaders, user: String?) -> Answer {
    let path = String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
    let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    guard parts.first == "portForward", parts.count == 3 || parts.count == 4 else {
      return .text(.notFound, "404 page not found\n", extraHeaders: [])
    }
    let verb: String
    switch method {
    case .GET: verb = "get"
    case .POST: verb = "create"
    default: return .text(.methodNotAllowed, "405: Method Not Allowed", extraHeaders: [])
    }
    // The kubelet authorizes /portForward as `nodes/proxy`.
    guard let user, user == KubeletServer.apiServerUser else {
      return .text(
        .forbidden, "Forbidden (user=\(user ?? "system:anonymous"), verb=\(verb), resource=nodes, subresource=proxy)",
        extraHeaders: [])
    }
    guard let pod = pods.pod(namespace: parts[1], name: parts[2]) else {
      return .text(.notFound, "pod does not exist", extraHeaders: [])
    }
    if parts.count == 4, parts[3] != pod.uid { return .text(.notFound, "pod not found", extraHeaders: []) }

    // httpstream.Handshake: the client must offer portforward.k8s.io.
    let offered = headers[canonicalForm: "x-stream-protocol-version"].map { String($0) }
    guard !offered.isEmpty else {
      return .text(
        .badRequest, "unable to upgrade: header X-Stream-Protocol-Version does not exist in request",
        extraHeaders: [])
    }
    guard offered.contains(Self.portForwardProtocol) else {
      let client = "[" + offered.joined(separator: " ") + "]"
      return .text(
        .forbidden,
        "unable to upgrade: unable to negotiate protocol: client supports \(client), server accepts [\(Self.portForwardProtocol)]",
        extraHeaders: [("X-Accepted-Stream-Protocol-Versions", Self.portForwardProtocol)])
    }
    // spdy/upgrade.go: both headers, case-insensitively.
    let connection = headers[canonicalForm: "connection"].map { $0.lowercased() }
    let upgrade = headers[canonicalForm: "upgrade"].map { $0.lowercased() }
    guard connection.contains("upgrade"), upgrade.contains("spdy/3.1") else {
      return .text(.badRequest, "unable to upgrade: missing upgrade headers in request", extraHeaders: [])
    }
    return .portForward(pod)
  }
}

/// HTTP/1.1 in front of the SPDY session: one request, then either an error answer or the switch.
final class KubeletRequestHandler: ChannelInboundHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  private let routes: KubeletRoutes
  private let encoder: HTTPResponseEncoder
  private let decoder: ByteToMessageHandler<HTTPRequestDecoder>
  private var head: HTTPRequestHead?
  private var upgraded = false

  init(routes: KubeletRoutes, encoder: HTTPResponseEncoder, decoder: ByteToMessageHandler<HTTPRequestDecoder>) {
    self.routes = routes
    self.encoder = encoder
    self.decoder = decoder
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    if upgraded {
      // Bytes the HTTP decoder had read past the request, handed on when it is removed.
      context.fireChannelRead(data)
      return
    }
    switch unwrapInboundIn(data) {
    case .head(let head): self.head = head
    case .body: break  // upgrade requests carry none; anything else is ignored
    case .end:
      guard let head else { return }
      self.head = nil
      respond(to: head, context: context)
    }
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    context.close(promise: nil)
  }

  private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
    switch routes.answer(method: head.method, uri: head.uri, headers: head.headers, user: peerUser(context)) {
    case .text(let status, let text, let extra):
      var headers = HTTPHeaders()
      headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
      headers.add(name: "X-Content-Type-Options", value: "nosniff")
      for (name, value) in extra { headers.add(name: name, value: value) }
      headers.add(name: "Content-Length", value: String(text.utf8.count))
      headers.add(name: "Date", value: HTTPDate.now())
      // Every kubelet connection is for one upgrade; after a refusal there is nothing more to do.
      headers.add(name: "Connection", value: "close")
      context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
      context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
      let channel = context.channel
      context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    case .portForward(let pod):
      switchToSPDY(pod: pod, context: context)
    }
  }

  /// Drops the HTTP encoder, writes the raw 101, installs the session, then drops the decoder (which
  /// forwards any bytes it read past the request to the session).
  private func switchToSPDY(pod: KubeletPod, context: ChannelHandlerContext) {
    upgraded = true
    let pipeline = context.pipeline.syncOperations
    let session = SPDYPortForwardSession(
      pod: pod, directory: routes.pods, dialer: routes.dialer, configuration: routes.sessionConfiguration)
    do {
      pipeline.removeHandler(encoder, promise: nil)
      try pipeline.addHandler(session, position: .after(self))
    } catch {
      context.close(promise: nil)
      return
    }
    var bytes = context.channel.allocator.buffer(capacity: 256)
    bytes.writeString(
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
        + "X-Stream-Protocol-Version: \(KubeletRoutes.portForwardProtocol)\r\nDate: \(HTTPDate.now())\r\n\r\n")
    context.writeAndFlush(NIOAny(bytes), promise: nil)
    pipeline.removeHandler(decoder, promise: nil)
  }

  private func peerUser(_ context: ChannelHandlerContext) -> String? {
    guard let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
      let certificate = tls.peerCertificate
    else { return nil }
    return Authenticator.user(fromCertificate: certificate)?.name
  }
}
