import Foundation

/// The files of one sandbox directory. `down` removes exactly these (and the directory if it is then
/// empty), so everything the sandbox writes must be listed here.
public struct SandboxFiles: Sendable {
  public let directory: URL

  public init(directory: URL) { self.directory = directory.standardizedFileURL }

  private func file(_ name: String) -> URL { directory.appendingPathComponent(name) }

  public var caCertificate: URL { file("ca.crt") }
  public var caKey: URL { file("ca.key") }
  public var serverCertificate: URL { file("apiserver.crt") }
  public var serverKey: URL { file("apiserver.key") }
  public var adminCertificate: URL { file("admin.crt") }
  public var adminKey: URL { file("admin.key") }
  public var kubeletClientCertificate: URL { file("kubelet-client.crt") }
  public var kubeletClientKey: URL { file("kubelet-client.key") }
  /// The node agent's client certificate (`CN=system:node:kftray-node, O=system:nodes`).
  public var nodeCertificate: URL { file("node.crt") }
  public var nodeKey: URL { file("node.key") }
  /// A kubeconfig with the node's identity, for the node agent.
  public var nodeKubeconfig: URL { file("node.kubeconfig") }
  /// kube-apiserver `--token-auth-file` format: `token,user,uid,"group1,group2"`.
  public var tokens: URL { file("tokens.csv") }
  public var kubeconfig: URL { file("kubeconfig") }
  public var log: URL { file("apiserver.log") }
  public var pid: URL { file("apiserver.pid") }
  /// Container logs the node agent writes and the kubelet API serves (`<ns>_<pod>_<uid>/<container>/N.log`).
  public var podLogs: URL { file("pod-logs") }
  /// What the node agent keeps across a crash of its own.
  public var nodeState: URL { file("node") }
  /// `up --join`: the joined node's name and kubelet port, written once its Node is registered.
  public var joinedNode: URL { file("node.joined") }
  /// The API server's objects, saved when it stops on SIGTERM and loaded by the next `serve` (see
  /// `StoreSnapshot`); `up` and `down` remove it, `restart` keeps it.
  public var store: URL { file("store.json") }

  public var all: [URL] {
    [
      caCertificate, caKey, serverCertificate, serverKey, adminCertificate, adminKey, kubeletClientCertificate,
      kubeletClientKey, nodeCertificate, nodeKey, nodeKubeconfig, tokens, kubeconfig, log, pid, podLogs, nodeState,
      joinedNode, store,
    ]
  }

  public func createDirectory() throws {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  }

  /// Removes every sandbox file, then the directory if nothing else is left in it. Missing files are fine.
  public func removeAll() {
    let manager = FileManager.default
    for url in all { try? manager.removeItem(at: url) }
    if let left = try? manager.contentsOfDirectory(atPath: directory.path), left.isEmpty {
      try? manager.removeItem(at: directory)
    }
  }

  /// Writes a secret (key, token file, kubeconfig with credentials) readable by the owner only.
  static func writePrivate(_ text: String, to url: URL) throws {
    let manager = FileManager.default
    try? manager.removeItem(at: url)
    guard manager.createFile(atPath: url.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
    else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path]) }
  }
}
