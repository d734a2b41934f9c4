import Foundation
import KubeletAPI
import NIOCore
import NIOPosix

/// Settings of one sandbox API server.
public struct SandboxOptions: Sendable {
  /// 0 picks a free port.
  public var port: Int = 0
  /// How many past events the store keeps for watches that resume from a resourceVersion; older ones
  /// get `410 Expired`.
  public var watchHistory: Int = 1000
  /// Seconds between the periodic BOOKMARK events of watches that allow them (kube: 60; tests shorten it).
  public var watchBookmarkInterval: Double = 60
  /// Receives one line per request (method, path and query, status, user, protocol); `serve` prints them
  /// to its log.
  public var requestLog: (@Sendable (String) -> Void)?
  /// A process whose end stops the sandbox (and removes its files).
  public var owner: OwnerProcess?
  /// Run the real node: cluster network, node agent and its kubelet API (Linux, root). Without it the
  /// API server gets the in-process stand-in node (`SandboxNode`), which runs no pods: enough for tests
  /// of the API server alone, which can then run many sandboxes side by side without root.
  public var cluster = false
  /// Where `kftray-relay` and `kftray-testserver` are (the programs behind the sandbox images).
  public var binDirectory: String?
  /// `up --join`: no API server; the node registers with the one this names (see `JoinedNode`).
  public var join: JoinOptions?
  /// Lines from the node agent (`serve` prints them to its log).
  public var nodeLog: @Sendable (String) -> Void = { _ in }

  public init(
    port: Int = 0, watchHistory: Int = 1000, requestLog: (@Sendable (String) -> Void)? = nil, owner: OwnerProcess? = nil
  ) {
    self.port = port
    self.watchHistory = watchHistory
    self.requestLog = requestLog
    self.owner = owner
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

    // A store saved by the previous server in this directory (`kftray-sandbox restart`) is taken up
    // once, then removed: a later crash must not bring back state older than what clients saw since.
    let store: ObjectStore
    if let snapshot = try StoreSnapshot.read(from: files.store) {
      store = ObjectStore(historyLimit: options.watchHistory, restoring: snapshot)
      try? FileManager.default.removeItem(at: files.store)
    } else {
      store = ObjectStore(historyLimit: options.watchHistory)
      Seed.populate(store)
    }
    let nodeLifecycle = NodeLifecycleController(store: store)
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let server: HTTPSServer
    let node: RunningSandbox.Node
    do {
      let proxy = KubeletProxy(store: store, dialer: try KubeletDialer(pki: pki), group: group)
      var standIn: SandboxNode?
      if !options.cluster {
        // The stand-in's kubelet first: it registers its Node in the store directly.
        standIn = try await SandboxNode.start(store: store, pki: pki, group: group)
      }
      let router = Router(
        authenticator: Authenticator(tokens: tokens), authorizer: .sandboxDefault,
        resources: ResourceAPI(
          store: store, authorizer: .sandboxDefault, nodeStreams: proxy,
          bookmarkInterval: options.watchBookmarkInterval),
        version: VersionInfo(), requestLog: options.requestLog)
      server = try await HTTPSServer.start(host: "127.0.0.1", port: options.port, pki: pki, router: router, group: group)
      try SandboxFiles.writePrivate(
        Kubeconfig.renderNode(server: "https://127.0.0.1:\(server.port)", pki: pki), to: files.nodeKubeconfig)
      if let standIn {
        node = .standIn(standIn.kubelet)
      } else {
        do {
          let name = NodeRegistration.defaultNodeName
          let settings = ClusterNode.Settings(
            nodeName: name, api: try NodeIdentity.api(kubeconfig: files.nodeKubeconfig.path),
            kubelet: try KubeletConfiguration.sandbox(nodeName: name, pki: pki), directory: files.directory,
            binDirectory: options.binDirectory ?? Self.ownDirectory(), logRoot: files.podLogs.path,
            stateDirectory: files.nodeState.path, log: options.nodeLog)
          node = .cluster(try await ClusterNode.start(settings, group: group))
        } catch {
          await server.close()
          throw error
        }
      }
    } catch {
      nodeLifecycle.stop()
      try? await group.shutdownGracefully()
      throw error
    }
    // Written last: `up` takes the kubeconfig (and /readyz) as the sign that everything is ready.
    let kubeconfig = Kubeconfig.render(server: "https://127.0.0.1:\(server.port)", pki: pki, tokens: tokens)
    try SandboxFiles.writePrivate(kubeconfig, to: files.kubeconfig)
    return RunningSandbox(
      files: files, port: server.port, tokens: tokens, store: store, server: server, node: node, group: group,
      nodeLifecycle: nodeLifecycle)
  }

  /// Shorthand for `start(directory:options:)` with only a port (0: pick a free one).
  public static func start(directory: URL, port: Int) async throws -> RunningSandbox {
    try await start(directory: directory, options: SandboxOptions(port: port))
  }

  /// The running executable (`serve` runs the same build as `up`).
  public static func executablePath() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
  }

  /// The directory of the running executable (its sibling programs are there).
  public static func ownDirectory() -> String {
    URL(fileURLWithPath: executablePath()).deletingLastPathComponent().path
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
  private let node: Node
  private let group: MultiThreadedEventLoopGroup
  private let nodeLifecycle: NodeLifecycleController

  /// The sandbox's node: the real one, or the in-process stand-in (no pods run).
  enum Node: Sendable {
    case cluster(ClusterNode)
    case standIn(KubeletServer)
  }

  init(
    files: SandboxFiles, port: Int, tokens: [StaticToken], store: ObjectStore, server: HTTPSServer,
    node: Node, group: MultiThreadedEventLoopGroup, nodeLifecycle: NodeLifecycleController
  ) {
    self.nodeLifecycle = nodeLifecycle
    self.files = files
    self.port = port
    self.tokens = tokens
    self.store = store
    self.server = server
    self.node = node
    self.group = group
  }

  /// The node's kubelet API (pods/log and pods/portforward are proxied to it).
  public var kubelet: KubeletServer {
    switch node {
    case .cluster(let cluster): cluster.kubelet
    case .standIn(let kubelet): kubelet
    }
  }

  public var kubeconfigPath: String { files.kubeconfig.path }
  public var serverURL: String { "https://127.0.0.1:\(port)" }

  public func token(for user: String) -> String? { tokens.first { $0.user == user }?.token }

  /// Resolves when the listener closes (for the foreground `serve`).
  public func waitUntilClosed() async {
    try? await server.channel.closeFuture.get()
  }

  /// Refuses further writes and saves the store to `DIR/store.json` for the next `serve` in this
  /// directory. Synchronous and independent of the event loops and the cooperative pool, so that a
  /// stop that hangs later cannot lose the state. Returns how many objects at which resourceVersion.
  @discardableResult
  public func saveStore() throws -> (objects: Int, resourceVersion: UInt64) {
    let snapshot = store.freeze()
    try snapshot.write(to: files.store)
    return (snapshot.objects.count, snapshot.revision)
  }

  public func shutdown() async {
    switch node {
    case .cluster(let cluster): await cluster.shutdown()
    case .standIn(let kubelet): await kubelet.close()
    }
    await server.close()
    nodeLifecycle.stop()
    try? await group.shutdownGracefully()
  }
}
