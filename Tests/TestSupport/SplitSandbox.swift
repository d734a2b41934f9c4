import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// A sandbox split in two, as a cluster whose API server is its own process: the API server alone
/// (`kftray-sandbox up --api-only`) and the sandbox's node joined to it (`up --join`, root), with
/// the node's identity and kubelet certificates issued from the API server's CA with openssl, as an
/// operator would. The API server can then be restarted (`kftray-sandbox restart`) or stopped with
/// SIGSTOP without touching the node and its pods. Both are stopped when the test process exits.
public struct SplitSandbox: Sendable {
  public var apiDirectory: String
  public var nodeDirectory: String
  public var kubeconfig: String
  public var home: String
  public var nodeName: String

  /// The API server as `SandboxCluster.Running` (for helpers written against the shared sandbox).
  public var api: SandboxCluster.Running { SandboxCluster.Running(directory: apiDirectory, kubeconfig: kubeconfig) }

  /// The API server's process (`apiserver.pid`), which `restart` replaces.
  public func apiServerPID() throws -> pid_t {
    let text = try String(contentsOfFile: apiDirectory + "/apiserver.pid", encoding: .utf8)
    guard let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw TestFailure("no pid in \(text)") }
    return pid
  }

  /// `kftray-sandbox restart`: returns once the new API server answers /readyz.
  public func restartAPIServer() throws {
    let result = try Binaries.run(Binaries.path("kftray-sandbox"), ["restart", "--dir", apiDirectory])
    guard result.status == 0 else { throw TestFailure("kftray-sandbox restart failed (\(result.status)): \(result.stderr)\(result.stdout)") }
  }

  public static func start(nodeName: String) throws -> SplitSandbox {
    let base = try Teardown.temporaryDirectory("kftray-split")
    let api = base + "/api"
    let node = base + "/node"
    let certificates = base + "/certs"
    let home = base + "/home"
    for dir in [certificates, home] { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    // The node first: at exit `down` runs in this order, the node before its API server.
    Teardown.register(node)
    Teardown.register(api)
    let owner = String(getpid())
    let up = try Binaries.run(Binaries.path("kftray-sandbox"), ["up", "--dir", api, "--api-only", "--owner-pid", owner])
    guard up.status == 0 else { throw TestFailure("up --api-only failed: \(up.stderr)\(up.stdout)") }
    let server = try serverURL(kubeconfig: api + "/kubeconfig")

    let issuer = CertificateIssuer(directory: certificates, caCertificate: api + "/ca.crt", caKey: api + "/ca.key")
    try issuer.issue("node", subject: "/O=system:nodes/CN=system:node:\(nodeName)", extensions: "extendedKeyUsage=clientAuth")
    try issuer.issue(
      "kubelet", subject: "/O=system:nodes/CN=system:node:\(nodeName)",
      extensions: "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost")
    let nodeKubeconfig = certificates + "/node.kubeconfig"
    try """
      apiVersion: v1
      kind: Config
      clusters: [{name: foreign, cluster: {server: "\(server)", certificate-authority: "\(api)/ca.crt"}}]
      users: [{name: node, user: {client-certificate: "\(certificates)/node.crt", client-key: "\(certificates)/node.key"}}]
      contexts: [{name: node, context: {cluster: foreign, user: node}}]
      current-context: node
      """.write(toFile: nodeKubeconfig, atomically: true, encoding: .utf8)

    let join = try Binaries.run(
      Binaries.path("kftray-sandbox"),
      [
        "up", "--dir", node, "--owner-pid", owner, "--join", nodeKubeconfig, "--node-name", nodeName,
        "--kubelet-cert", certificates + "/kubelet.crt", "--kubelet-key", certificates + "/kubelet.key",
        "--kubelet-client-ca", api + "/ca.crt",
      ])
    guard join.status == 0, join.stdout.contains("joined node \(nodeName)") else {
      throw TestFailure("up --join failed: \(join.stderr)\(join.stdout)")
    }
    return SplitSandbox(apiDirectory: api, nodeDirectory: node, kubeconfig: api + "/kubeconfig", home: home, nodeName: nodeName)
  }

  public static func serverURL(kubeconfig: String) throws -> String {
    let text = try String(contentsOfFile: kubeconfig, encoding: .utf8)
    guard let line = text.split(separator: "\n").first(where: { $0.contains("server: https://127.0.0.1:") }) else {
      throw TestFailure("no server in \(kubeconfig)")
    }
    return line.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "server: ", with: "")
  }
}

/// Issues a P-256 key and a certificate signed by a cluster CA with openssl (an operator's tools, not
/// the sandbox's), one `NAME.key`/`NAME.crt` pair per call.
public struct CertificateIssuer: Sendable {
  public let directory: String
  public let caCertificate: String
  public let caKey: String

  public init(directory: String, caCertificate: String, caKey: String) {
    self.directory = directory
    self.caCertificate = caCertificate
    self.caKey = caKey
  }

  public func issue(_ name: String, subject: String, extensions: String) throws {
    let key = "\(directory)/\(name).key"
    let request = "\(directory)/\(name).csr"
    let extensionFile = "\(directory)/\(name).ext"
    try "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\(extensions)\n"
      .write(toFile: extensionFile, atomically: true, encoding: .utf8)
    for arguments in [
      ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key],
      ["req", "-new", "-key", key, "-subj", subject, "-out", request],
      [
        "x509", "-req", "-in", request, "-CA", caCertificate, "-CAkey", caKey, "-set_serial", String(Int.random(in: 1...Int(Int32.max))),
        "-days", "2", "-sha256", "-extfile", extensionFile, "-out", "\(directory)/\(name).crt",
      ],
    ] {
      let result = try Binaries.run("/usr/bin/openssl", arguments)
      guard result.status == 0 else { throw TestFailure("openssl \(arguments[0]) failed: \(result.stderr)") }
    }
  }
}
