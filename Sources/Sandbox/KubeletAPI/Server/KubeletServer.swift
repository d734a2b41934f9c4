import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import SandboxHTTP

#if canImport(Glibc)
  import Glibc
#endif

/// A node's kubelet API: HTTPS serving
/// - `/portForward/{namespace}/{pod}` (and the `/{uid}` form) with the SPDY/3.1 upgrade of the
///   container runtimes' streaming server, dialing pod ports through a `PodPortDialer`;
/// - `GET /containerLogs/{namespace}/{pod}/{container}` from the containers' CRI log files.
///
/// Client certificates are required and verified against the configured CA (the TLS handshake fails
/// without one). Only the configured users and groups are authorized; anyone else gets the kubelet's
/// `403 Forbidden (user=…, verb=…, resource=nodes, subresource=proxy)`.
public final class KubeletServer: Sendable {
  /// The identity kube-apiserver uses towards kubelets (`--kubelet-client-certificate`).
  public static let apiServerUser = "kube-apiserver-kubelet-client"

  public let nodeName: String
  let channel: Channel

  private init(nodeName: String, channel: Channel) {
    self.nodeName = nodeName
    self.channel = channel
  }

  /// The port it listens on (the chosen one when the configuration said 0).
  public var port: Int { channel.localAddress?.port ?? 0 }

  public static func start(
    configuration: KubeletConfiguration, pods: any KubeletPodDirectory, dialer: any PodPortDialer,
    group: EventLoopGroup
  ) async throws -> KubeletServer {
    let certificate = try NIOSSLCertificate(bytes: Array(configuration.servingCertificatePEM.utf8), format: .pem)
    let key = try NIOSSLPrivateKey(bytes: Array(configuration.servingKeyPEM.utf8), format: .pem)
    let clientCA = try NIOSSLCertificate.fromPEMBytes(Array(configuration.clientCAPEM.utf8))
    var tls = TLSConfiguration.makeServerConfiguration(
      certificateChain: [.certificate(certificate)], privateKey: .privateKey(key))
    // Required and CA-verified (BoringSSL's FAIL_IF_NO_PEER_CERT); clients are not named by host.
    tls.certificateVerification = .noHostnameVerification
    tls.trustRoots = .certificates(clientCA)
    tls.applicationProtocols = ["http/1.1"]
    tls.minimumTLSVersion = .tlsv12
    let context = try NIOSSLContext(configuration: tls)

    let routes = KubeletRoutes(configuration: configuration, pods: pods, dialer: dialer)
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
      .bind(host: configuration.host, port: configuration.port).get()
    return KubeletServer(nodeName: configuration.nodeName, channel: channel)
  }

  public func close() async {
    try? await channel.close()
  }
}

/// What the kubelet serves, as values (no I/O beyond a look at a log file): the answer to one request.
struct KubeletRoutes: Sendable {
  let configuration: KubeletConfiguration
  let pods: any KubeletPodDirectory
  let dialer: any PodPortDialer

  static let portForwardProtocol = "portforward.k8s.io"

  enum Answer {
    case text(HTTPResponseStatus, String, extraHeaders: [(String, String)])
    /// Switch to SPDY for this pod; the 101 carries the negotiated protocol.
    case portForward(KubeletPod)
    /// 200, then the log as it is read.
    case containerLogs(ContainerLogSource)
  }

  func answer(method: HTTPMethod, uri: String, headers: HTTPHeaders, identity: PeerIdentity?) -> Answer {
    let split = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
    let path = String(split.first ?? "")
    let parts = path.split(separator: "/", omittingEmptySubsequences: true).map { PercentDecoding.decode($0) }
    let verb: String
    switch method {
    case .GET: verb = "get"
    case .POST: verb = "create"
    default: verb = ""
    }
    switch parts.first {
    case "portForward"? where parts.count == 3 || parts.count == 4:
      guard !verb.isEmpty else { return .text(.methodNotAllowed, "405: Method Not Allowed", extraHeaders: []) }
      if let refusal = authorize(identity, verb: verb) { return refusal }
      return portForward(parts: parts, headers: headers)
    case "containerLogs"? where parts.count == 4:
      guard method == .GET else { return .text(.methodNotAllowed, "405: Method Not Allowed", extraHeaders: []) }
      if let refusal = authorize(identity, verb: verb) { return refusal }
      let query = split.count > 1 ? PercentDecoding.queryItems(split[1]) : []
      return containerLogs(namespace: parts[1], pod: parts[2], container: parts[3], query: query)
    default:
      return .text(.notFound, "404 page not found\n", extraHeaders: [])
    }
  }

  /// The kubelet authorizes `/portForward` and `/containerLogs` as `nodes/proxy`.
  private func authorize(_ identity: PeerIdentity?, verb: String) -> Answer? {
    if let identity, configuration.authorizes(identity) { return nil }
    return .text(
      .forbidden, "Forbidden (user=\(identity?.user ?? "system:anonymous"), verb=\(verb), resource=nodes, subresource=proxy)",
      extraHeaders: [])
  }

  // MARK: - Port-forward

  private func portForward(parts: [String], headers: HTTPHeaders) -> Answer {
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

  // MARK: - Container logs

  /// The kubelet's `getContainerLogs` and `GetContainerLogs`/`validateContainerLogStatus`, with the
  /// texts it answers: 404 for an unknown pod or container, 400 for a container that has no log yet.
  private func containerLogs(namespace: String, pod podName: String, container: String, query: [(name: String, value: String)])
    -> Answer
  {
    let options: ContainerLogOptions
    do {
      options = try ContainerLogOptions.decode(query: query, now: Int64(time(nil)))
    } catch {
      switch error {
      case .undecodable: return .text(.badRequest, #"{"message": "Unable to decode query."}"#, extraHeaders: [])
      case .invalid: return .text(.unprocessableEntity, #"{"message": "Invalid request."}"#, extraHeaders: [])
      }
    }
    guard let pod = pods.pod(namespace: namespace, name: podName) else {
      return .text(.notFound, "pod \(Self.quoted(podName)) does not exist", extraHeaders: [])
    }
    let currentPath: String
    if let path = pod.containerLogPaths[container] {
      currentPath = path
    } else if let reason = pod.waitingReasons[container] {
      return .text(.badRequest, Self.waitingMessage(container: container, pod: podName, reason: reason), extraHeaders: [])
    } else {
      return .text(.notFound, "container \(Self.quoted(container)) not found in pod \(Self.quoted(podName))", extraHeaders: [])
    }
    var path = currentPath
    if options.previous {
      guard let previous = Self.previousLogPath(currentPath), access(previous, R_OK) == 0 else {
        return .text(
          .badRequest, "previous terminated container \(Self.quoted(container)) in pod \(Self.quoted(podName)) not found",
          extraHeaders: [])
      }
      path = previous
    }
    guard access(path, R_OK) == 0 else {
      let reason = String(cString: strerror(errno)).lowercased()
      return .text(
        .badRequest, "failed to try resolving symlinks in path \(Self.quoted(path)): lstat \(path): \(reason)",
        extraHeaders: [])
    }
    let directory = pods
    // The previous instance's file is complete: a follow of it ends at its end, as the kubelet's does.
    var following = options
    if options.previous { following.follow = false }
    return .containerLogs(
      ContainerLogSource(
        path: path, options: following, pollInterval: configuration.logPollInterval,
        stateCheckInterval: configuration.logStateCheckInterval,
        isCurrent: {
          guard let now = directory.pod(namespace: namespace, name: podName), now.uid == pod.uid else { return false }
          return now.containerLogPaths[container] == currentPath
        }))
  }

  /// `validateContainerLogStatus`: the common pull failures get their own words.
  static func waitingMessage(container: String, pod: String, reason: String) -> String {
    let prefix = "container \(quoted(container)) in pod \(quoted(pod)) is waiting to start: "
    switch reason {
    case "ErrImagePull": return prefix + "image can't be pulled"
    case "ImagePullBackOff": return prefix + "trying and failing to pull image"
    default: return prefix + reason
    }
  }

  /// `<dir>/<n>.log` → `<dir>/<n-1>.log` (the kubelet's file of the previous restart).
  static func previousLogPath(_ path: String) -> String? {
    guard let slash = path.lastIndex(of: "/"), path.hasSuffix(".log") else { return nil }
    let name = path[path.index(after: slash)...].dropLast(4)
    guard let restart = Int(name), restart > 0 else { return nil }
    return String(path[...slash]) + "\(restart - 1).log"
  }

  /// Go's `%q` for the plain names used here.
  static func quoted(_ text: String) -> String {
    "\"" + text.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"") + "\""
  }
}

extension String {
  fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
    var result = ""
    for character in self { if character == target { result += replacement } else { result.append(character) } }
    return result
  }
}

/// HTTP/1.1 in front of the kubelet's answers: one request per connection, then an error answer, a
/// log stream, or the switch to SPDY.
final class KubeletRequestHandler: ChannelInboundHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  private let routes: KubeletRoutes
  private let encoder: HTTPResponseEncoder
  private let decoder: ByteToMessageHandler<HTTPRequestDecoder>
  private var head: HTTPRequestHead?
  private var upgraded = false
  private var answered = false

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
    case .body: break  // upgrade and log requests carry none; anything else is ignored
    case .end:
      guard let head, !answered else { return }
      self.head = nil
      answered = true
      respond(to: head, context: context)
    }
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    context.close(promise: nil)
  }

  private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
    let identity = peerIdentity(context)
    switch routes.answer(method: head.method, uri: head.uri, headers: head.headers, identity: identity) {
    case .text(let status, let text, let extra):
      var headers = HTTPHeaders()
      headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
      headers.add(name: "X-Content-Type-Options", value: "nosniff")
      for (name, value) in extra { headers.add(name: name, value: value) }
      headers.add(name: "Content-Length", value: String(text.utf8.count))
      headers.add(name: "Date", value: HTTPDate.now())
      // One request per connection (an upgrade or a log stream); after a refusal nothing more follows.
      headers.add(name: "Connection", value: "close")
      context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
      context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
      let channel = context.channel
      context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    case .portForward(let pod):
      switchToSPDY(pod: pod, context: context)
    case .containerLogs(let source):
      streamLogs(source, context: context)
    }
  }

  /// 200 with a chunked body written as the file is read (`ContainerLogStream`).
  private func streamLogs(_ source: ContainerLogSource, context: ChannelHandlerContext) {
    var headers = HTTPHeaders()
    headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
    headers.add(name: "Transfer-Encoding", value: "chunked")
    headers.add(name: "Date", value: HTTPDate.now())
    headers.add(name: "Connection", value: "close")
    context.writeAndFlush(
      wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
    ContainerLogStream(source: source, channel: context.channel).start()
  }

  /// Drops the HTTP encoder, writes the raw 101, installs the session, then drops the decoder (which
  /// forwards any bytes it read past the request to the session).
  private func switchToSPDY(pod: KubeletPod, context: ChannelHandlerContext) {
    upgraded = true
    let pipeline = context.pipeline.syncOperations
    let session = KubeletPortForwardSession(
      pod: pod, directory: routes.pods, dialer: routes.dialer, configuration: routes.configuration.portForward,
      idleTimeout: routes.configuration.streamIdleTimeout)
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

  private func peerIdentity(_ context: ChannelHandlerContext) -> PeerIdentity? {
    guard let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
      let certificate = tls.peerCertificate
    else { return nil }
    return PeerIdentity(certificate: certificate)
  }
}

