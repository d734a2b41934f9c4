import Foundation
import Kubelet
import NIOCore
import NIOPosix

/// Settings of one sandbox API server.
public struct SandboxOptions: Sendable {
  /// 0 picks a free port.
  public var port: Int = 0
  /// How many past events the store keeps for watches that resume from a resourceVersion; older ones
  /// get `410 Expired`.
  public var watchHistory: Int = 1000
  /// Receives one line per request (method, path and query, status, user, protocol); `serve` prints them
  /// to its log.
  public var requestLog: (@Sendable (String) -> Void)?
  /// A process whose end stops the sandbox (and removes its files), so that a test run killed from
  /// outside, which never reaches its teardown, leaves no daemon behind.
  public var ownerPID: Int32?

  public init(
    port: Int = 0, watchHistory: Int = 1000, requestLog: (@Sendable (String) -> Void)? = nil, ownerPID: Int32? = nil
  ) {
    self.port = port
    self.watchHistory = watchHistory
    self.requestLog = requestLog
    self.ownerPID = ownerPID
  }
}

/// Starts the sandbox API server in-process.
///
/// ```swift
/// let sandbox = try await SandboxServer.start(directory: dir, port: 0)
/// // KUBECONFIG=sandbox.kubeconfigPath kubectl get pods
/// await sandbox.shutdown()
/// ```
///
/// What it serves (HTTPS on 127.0.0.1, ALPN `h2` and `http/1.1`):
/// - `/version`, `/healthz`, `/readyz`, `/livez` (also anonymous), legacy discovery (`/api`, `/api/v1`,
///   `/apis`, `/apis/GROUP[/v1]`), `/openapi/v3` (see `OpenAPI`).
/// - `namespaces`, `pods` (+ `status`, `binding`, `log`, `portforward`), `nodes` (+ `status`):
///   get, list, watch, create, update, patch (merge, strategic, JSON), delete, deletecollection;
///   Tables for `kubectl get`.
/// - `authorization.k8s.io/v1` `selfsubjectaccessreviews`, `authentication.k8s.io/v1` `selfsubjectreviews`.
/// - `GET /sandbox/echo-upgrade` (see `EchoUpgrade`).
/// Users: client certificates of the sandbox CA (CN = user, O = groups) and the tokens of
/// `DIR/tokens.csv`; RBAC as in `Authorizer.sandboxDefault`.
public enum SandboxServer {
  /// Prepares `directory` (PKI and `tokens.csv` are created when missing, reused otherwise), listens on
  /// `127.0.0.1`, and writes `directory/kubeconfig` pointing at the bound port.
  public static func start(directory: URL, options: SandboxOptions = SandboxOptions()) async throws
    -> RunningSandbox
  {
    let files = SandboxFiles(directory: directory)
    try files.createDirectory()
    let pki = try PKI.loadOrCreate(in: files)
    let tokens = try loadOrCreateTokens(files)

    let store = ObjectStore(historyLimit: options.watchHistory)
    Seed.populate(store)
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let server: HTTPSServer
    let node: SandboxNode
    do {
      // The node's kubelet first: the API server proxies pods/portforward to it (Kubelet/SandboxNode.swift).
      node = try await SandboxNode.start(store: store, pki: pki, group: group)
      let router = Router(
        authenticator: Authenticator(tokens: tokens), authorizer: .sandboxDefault,
        resources: ResourceAPI(store: store, authorizer: .sandboxDefault, nodeStreams: node.proxy),
        version: VersionInfo(), requestLog: options.requestLog)
      server = try await HTTPSServer.start(host: "127.0.0.1", port: options.port, pki: pki, router: router, group: group)
    } catch {
      try? await group.shutdownGracefully()
      throw error
    }
    let kubeconfig = Kubeconfig.render(server: "https://127.0.0.1:\(server.port)", pki: pki, tokens: tokens)
    try SandboxFiles.writePrivate(kubeconfig, to: files.kubeconfig)
    try SandboxFiles.writePrivate(
      Kubeconfig.renderNode(server: "https://127.0.0.1:\(server.port)", pki: pki), to: files.nodeKubeconfig)
    return RunningSandbox(
      files: files, port: server.port, tokens: tokens, store: store, server: server, kubelet: node.kubelet,
      group: group)
  }

  /// Shorthand for `start(directory:options:)` with only a port (0: pick a free one).
  public static func start(directory: URL, port: Int) async throws -> RunningSandbox {
    try await start(directory: directory, options: SandboxOptions(port: port))
  }

  static func loadOrCreateTokens(_ files: SandboxFiles) throws -> [StaticToken] {
    if let text = try? String(contentsOf: files.tokens, encoding: .utf8) {
      return try TokenFile.parse(text)
    }
    let tokens = TokenFile.defaultTokens()
    try SandboxFiles.writePrivate(TokenFile.render(tokens), to: files.tokens)
    return tokens
  }
}

/// A started sandbox. `shutdown()` closes the listener and its event loops; files stay (tests delete
/// their temporary directory; `kftray-sandbox down` removes them).
public final class RunningSandbox: Sendable {
  public let files: SandboxFiles
  public let port: Int
  public let tokens: [StaticToken]
  /// The cluster state (tests look at it, e.g. to see that watches end with their clients).
  let store: ObjectStore
  private let server: HTTPSServer
  /// The node's kubelet API (pods/portforward is proxied to it).
  public let kubelet: KubeletServer
  private let group: MultiThreadedEventLoopGroup

  init(
    files: SandboxFiles, port: Int, tokens: [StaticToken], store: ObjectStore, server: HTTPSServer,
    kubelet: KubeletServer, group: MultiThreadedEventLoopGroup
  ) {
    self.files = files
    self.port = port
    self.tokens = tokens
    self.store = store
    self.server = server
    self.kubelet = kubelet
    self.group = group
  }

  public var kubeconfigPath: String { files.kubeconfig.path }
  public var serverURL: String { "https://127.0.0.1:\(port)" }

  public func token(for user: String) -> String? { tokens.first { $0.user == user }?.token }

  /// Resolves when the listener closes (for the foreground `serve`).
  public func waitUntilClosed() async {
    try? await server.channel.closeFuture.get()
  }

  public func shutdown() async {
    await server.close()
    await kubelet.close()
    try? await group.shutdownGracefully()
  }
}
