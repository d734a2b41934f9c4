import Foundation
import KubeletAPI
import NIOPosix

/// What `up --join` needs to run the sandbox's node against an API server it did not start. The API
/// server must trust the kubelet's serving certificate, and its kubelet client certificate must chain to
/// `clientCAFile` (kube-apiserver's `--kubelet-certificate-authority` and `--kubelet-client-certificate`).
public struct JoinOptions: Sendable, Equatable {
  /// A kubeconfig with the node's identity (kube: `system:node:<name>` in group `system:nodes`).
  public var kubeconfig: String
  public var context: String?
  public var nodeName: String
  /// The kubelet port on 127.0.0.1 (the Node's InternalIP); 0 picks a free one.
  public var kubeletPort: Int = 0
  /// The kubelet API's serving certificate and key (PEM), as a kubelet's `--tls-cert-file`/`--tls-private-key-file`.
  public var servingCertificateFile: String
  public var servingKeyFile: String
  /// The CA of the API server's kubelet client certificate (a kubelet's `--client-ca-file`).
  public var clientCAFile: String
  /// Client certificate CommonNames the kubelet API serves (the API server's kubelet client identity).
  public var authorizedUsers: [String] = JoinOptions.defaultAuthorizedUsers

  /// kube-apiserver's usual kubelet client CommonName (the sandbox API server's too).
  public static let defaultAuthorizedUsers = [KubeletServer.apiServerUser]

  public init(
    kubeconfig: String, nodeName: String, servingCertificateFile: String, servingKeyFile: String, clientCAFile: String
  ) {
    self.kubeconfig = kubeconfig
    self.nodeName = nodeName
    self.servingCertificateFile = servingCertificateFile
    self.servingKeyFile = servingKeyFile
    self.clientCAFile = clientCAFile
  }

  /// The same options as `serve` arguments (paths made absolute: the daemon may run elsewhere).
  var serveArguments: [String] {
    func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
    var arguments = [
      "--join", absolute(kubeconfig), "--node-name", nodeName, "--kubelet-port", String(kubeletPort),
      "--kubelet-cert", absolute(servingCertificateFile), "--kubelet-key", absolute(servingKeyFile),
      "--kubelet-client-ca", absolute(clientCAFile),
    ]
    if let context { arguments += ["--join-context", context] }
    for user in authorizedUsers { arguments += ["--kubelet-authorized-user", user] }
    return arguments
  }
}

/// The sandbox without its API server, registered with one it did not start: cluster network, cluster
/// DNS, seeded services, the node agent with the given identity and its kubelet API. It writes
/// `DIR/node.joined` once the API server has its Node (what `up` waits for); `down` removes it all.
public final class JoinedNode: Sendable {
  public let nodeName: String
  public let kubeletPort: Int
  private let node: ClusterNode
  private let group: MultiThreadedEventLoopGroup

  private init(nodeName: String, kubeletPort: Int, node: ClusterNode, group: MultiThreadedEventLoopGroup) {
    self.nodeName = nodeName
    self.kubeletPort = kubeletPort
    self.node = node
    self.group = group
  }

  public static func start(
    files: SandboxFiles, options: JoinOptions, binDirectory: String, log: @escaping @Sendable (String) -> Void
  ) async throws -> JoinedNode {
    try files.createDirectory()
    let kubelet = KubeletConfiguration(
      nodeName: options.nodeName, port: options.kubeletPort,
      servingCertificatePEM: try String(contentsOfFile: options.servingCertificateFile, encoding: .utf8),
      servingKeyPEM: try String(contentsOfFile: options.servingKeyFile, encoding: .utf8),
      clientCAPEM: try String(contentsOfFile: options.clientCAFile, encoding: .utf8),
      authorizedUsers: Set(options.authorizedUsers))
    let settings = ClusterNode.Settings(
      nodeName: options.nodeName, api: try NodeIdentity.api(kubeconfig: options.kubeconfig, context: options.context),
      kubelet: kubelet, directory: files.directory, binDirectory: binDirectory, logRoot: files.podLogs.path,
      stateDirectory: files.nodeState.path, log: log)
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let node: ClusterNode
    do {
      node = try await ClusterNode.start(settings, group: group)
    } catch {
      try? await group.shutdownGracefully()
      throw error
    }
    let joined = JoinedNode(nodeName: options.nodeName, kubeletPort: node.kubelet.port, node: node, group: group)
    // Written last: `up --join` takes it as the sign that the node is registered and serving.
    try Data("\(options.nodeName) \(node.kubelet.port)\n".utf8).write(to: files.joinedNode, options: .atomic)
    return joined
  }

  /// Stops the pods and the kubelet API and removes the network. The Node stays in the API server, as
  /// when a kubelet stops.
  public func shutdown() async {
    await node.shutdown()
    try? await group.shutdownGracefully()
  }
}
