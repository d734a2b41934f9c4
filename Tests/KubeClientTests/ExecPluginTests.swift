import Foundation
import Synchronization
import Testing

@testable import KubeClient

/// Exec credential plugins run for real: small `/bin/sh` scripts that count their runs, record
/// their environment and print an ExecCredential.
@Suite("Exec credential plugins")
struct ExecPluginTests {
  /// A plugin script that bumps `count`, saves `env.txt` and `info.json`, then prints `output`
  /// (where `$N` is the run number) to stdout and `stderr` to stderr, and exits with `exit`.
  static func plugin(_ box: KubeconfigSandbox, name: String = "plugin", output: String, stderr: String = "", exit: Int = 0)
    throws -> String
  {
    let script = """
      #!/bin/sh
      N=$(cat '\(box.dir)/count' 2>/dev/null || echo 0)
      N=$((N+1))
      echo $N > '\(box.dir)/count'
      env > '\(box.dir)/env.txt'
      printf '%s' "$KUBERNETES_EXEC_INFO" > '\(box.dir)/info.json'
      printf '%s' '\(stderr)' >&2
      cat <<EOF
      \(output)
      EOF
      exit \(exit)
      """
    try box.writeExecutable("bin/\(name)", script)
    return box.path("bin/\(name)")
  }

  static func tokenOutput(_ version: ExecConfig.APIVersion = .v1, expiration: Date? = nil) -> String {
    let exp = expiration.map { #","expirationTimestamp":"\#(ISO8601DateFormatter().string(from: $0))""# } ?? ""
    return #"{"apiVersion":"\#(version.rawValue)","kind":"ExecCredential","status":{"token":"tok-$N"\#(exp)}}"#
  }

  static func credentials(
    _ exec: ExecConfig, env: [String: String] = ["PATH": "/usr/bin:/bin"], terminal: Bool = false,
    auth: AuthOptions? = nil, tls: TLSOptions = TLSOptions(), stderr: @escaping @Sendable (Data) -> Void = { _ in }
  ) -> KubeCredentials {
    var a = auth ?? AuthOptions()
    a.exec = exec
    let config = ClientConfig(server: ServerURL(scheme: .https, host: "k", port: 443), tls: tls, auth: a)
    return KubeCredentials(config: config, environment: env, stdinIsTerminal: terminal, stderrSink: stderr)
  }

  static func runs(_ box: KubeconfigSandbox) -> Int {
    Int(box.read("count")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "0") ?? 0
  }

  static func info(_ box: KubeconfigSandbox) throws -> [String: Any] {
    let data = try #require(box.read("info.json")).data(using: .utf8)!
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  @Test func v1TokenWithEnvAndExecInfo() async throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    let cmd = try Self.plugin(box, output: Self.tokenOutput())
    let exec = ExecConfig(
      apiVersion: .v1, command: cmd, args: ["get-token"], env: [.init(name: "FROM_KUBECONFIG", value: "yes")],
      interactiveMode: .never)
    let creds = Self.credentials(exec, env: ["PATH": "/usr/bin:/bin", "INHERITED": "from-parent"])
    let c = try await creds.credentials()
    #expect(c.authorization == "Bearer tok-1")
    let env = try #require(box.read("env.txt"))
    #expect(env.contains("FROM_KUBECONFIG=yes"))
    #expect(env.contains("INHERITED=from-parent"))
    let info = try Self.info(box)
    #expect(info["kind"] as? String == "ExecCredential")
    #expect(info["apiVersion"] as? String == "client.authentication.k8s.io/v1")
    let spec = try #require(info["spec"] as? [String: Any])
    #expect(spec["interactive"] as? Bool == false)
    #expect(spec["cluster"] == nil)
  }

  @Test func v1beta1CertificateOutputAndClusterInfo() async throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    let certPEM = PEM.cert("EXEC")
    let keyPEM = PEM.key("EXEC")
    let output = """
      {"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"clientCertificateData":\(ExecInfoEncoder.quote(certPEM)),"clientKeyData":\(ExecInfoEncoder.quote(keyPEM))}}
      """
    let cmd = try Self.plugin(box, output: output)
    let cluster = ExecClusterInfo(
      server: "https://api:6443/prefix", tlsServerName: "api.internal", certificateAuthorityData: Data("CA".utf8),
      proxyURL: "socks5://p:1080", config: Data(#"{"audience":"kube"}"#.utf8))
    let exec = ExecConfig(
      apiVersion: .v1beta1, command: cmd, interactiveMode: .ifAvailable, provideClusterInfo: true, cluster: cluster)
    let c = try await Self.credentials(exec, terminal: true).credentials()
    #expect(c.authorization == nil)
    #expect(c.clientCertificatePEM == Data(certPEM.utf8))
    #expect(c.clientKeyPEM == Data(keyPEM.utf8))
    let info = try Self.info(box)
    #expect(info["apiVersion"] as? String == "client.authentication.k8s.io/v1beta1")
    let spec = try #require(info["spec"] as? [String: Any])
    #expect(spec["interactive"] as? Bool == true)  // IfAvailable + terminal
    let cl = try #require(spec["cluster"] as? [String: Any])
    #expect(cl["server"] as? String == "https://api:6443/prefix")
    #expect(cl["tls-server-name"] as? String == "api.internal")
    #expect(cl["certificate-authority-data"] as? String == Data("CA".utf8).base64EncodedString())
    #expect(cl["proxy-url"] as? String == "socks5://p:1080")
    #expect((cl["config"] as? [String: Any])?["audience"] as? String == "kube")
    #expect(cl["insecure-skip-tls-verify"] == nil)
  }

  @Test func bareCommandFoundInEnvironmentPATH() async throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    _ = try Self.plugin(box, name: "my-auth-plugin", output: Self.tokenOutput())
    let exec = ExecConfig(apiVersion: .v1, command: "my-auth-plugin", interactiveMode: .never)
    let creds = Self.credentials(exec, env: ["PATH": "/nonexistent:\(box.path("bin")):/usr/bin:/bin"])
    #expect(try await creds.credentials().authorization == "Bearer tok-1")
  }

  @Test func cachedForeverWithoutExpiration() async throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    let creds = Self.credentials(
      ExecConfig(apiVersion: .v1, command: try Self.plugin(box, output: Self.tokenOutput()), interactiveMode: .never))
    #expect(try await creds.credentials().authorization == "Bearer tok-1")
    #expect(try await creds.credentials().authorization == "Bearer tok-1")
    #expect(Self.runs(box) == 1)
  }

  @Test func futureExpirationIsCachedPastExpirationReruns() async throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    let future = Self.credentials(
      ExecConfig(
        apiVersion: .v1, command: try Self.plugin(box, output: Self.tokenOutput(expiration: Date() + 3600)),
        interactiveMode: .never))
    _ = try await future.credentials()
    _ = try await future.credentials()
    #expect(Self.runs(box) == 1)

    let box2 = try KubeconfigSandbox()
    defer { box2.remove() }
    let past = Self.credentials(
      ExecConfig(
        apiVersion: .v1, command: try Self.plugin(box2, output: Self.tokenOutput(expiration: Date() - 60)),
        interactiveMode: .never))
    #expect(try await past.credentials().authorization == "Bearer tok-1")
    #expect(try await past.credentials().authorization == "Bearer tok-2")
    #expect(Self.runs(box2) == 2)
  }

  @Test func fractionalSecondsExpirationAccepted() async throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    let output = #"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t","expirationTimestamp":"2999-01-02T03:04:05.123456Z"}}"#
    let creds = Self.credentials(
      ExecConfig(apiVersion: .v1, command: try Self.plugin(box, output: output), interactiveMode: .never))
    _ = try await creds.credentials()
    _ = try await creds.credentials()
    #expect(Self.runs(box) == 1)
  }

  @Test func unauthorizedMakesTheNextCallRerun() async throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    let creds = Self.credentials(
      ExecConfig(apiVersion: .v1, command: try Self.plugin(box, output: Self.tokenOutput()), interactiveMode: .never))
    let first = try await creds.credentials()
    // A 401 for a credential that is no longer cached changes nothing.
    await creds.didReceiveUnauthorized(RequestCredentials(authorization: "Bearer stale"))
    #expect(try await creds.credentials() == first)
    await creds.didReceiveUnauthorized(first)
    #expect(try await creds.credentials().authorization == "Bearer tok-2")
    #expect(Self.runs(box) == 2)
  }

  @Test func concurrentRequestsShareOneRun() async throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    let creds = Self.credentials(
      ExecConfig(apiVersion: .v1, command: try Self.plugin(box, output: Self.tokenOutput()), interactiveMode: .never))
    let results = try await withThrowingTaskGroup(of: RequestCredentials.self) { group in
      for _ in 0..<8 { group.addTask { try await creds.credentials() } }
      return try await group.reduce(into: [RequestCredentials]()) { $0.append($1) }
    }
    #expect(Set(results.map { $0.authorization ?? "" }) == ["Bearer tok-1"])
    #expect(Self.runs(box) == 1)
  }

  @Test func nonZeroExitReportsCodeAndStderrTail() async throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    let cmd = try Self.plugin(box, output: "", stderr: "error: please run my-cloud login", exit: 3)
    let seen = StderrRecorder()
    let creds = Self.credentials(
      ExecConfig(apiVersion: .v1, command: cmd, interactiveMode: .never), stderr: { seen.append($0) })
    do {
      _ = try await creds.credentials()
      Issue.record("expected failure")
    } catch {
      guard case .execFailed(_, 3, let tail) = error else { Issue.record("wrong error \(error)"); return }
      #expect(tail.contains("please run my-cloud login"))
      #expect(error.description.contains("exit code 3"))
    }
    #expect(seen.text.contains("please run my-cloud login"))  // passed through, too
  }

  @Test func missingBinaryMentionsInstallHint() async throws {
    let exec = ExecConfig(
      apiVersion: .v1beta1, command: "gke-gcloud-auth-plugin-not-installed", interactiveMode: .ifAvailable,
      installHint: "Install gke-gcloud-auth-plugin for use with kubectl by following https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin"
    )
    await #expect(throws: CredentialError.self) { try await Self.credentials(exec, env: ["PATH": "/nonexistent"]).credentials() }
    do {
      _ = try await Self.credentials(exec, env: ["PATH": "/nonexistent"]).credentials()
    } catch {
      #expect(error == .execNotFound(command: exec.command, installHint: exec.installHint))
      #expect(error.description.contains("not found"))
      #expect(error.description.contains("follow") || error.description.contains("Install gke-gcloud-auth-plugin"))
    }
  }

  @Test func wrongAPIVersionInOutput() async throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    let cmd = try Self.plugin(box, output: Self.tokenOutput(.v1beta1))
    do {
      _ = try await Self.credentials(ExecConfig(apiVersion: .v1, command: cmd, interactiveMode: .never)).credentials()
      Issue.record("expected failure")
    } catch {
      #expect(error == .execAPIVersionMismatch(command: cmd, configured: ExecConfig.APIVersion.v1.rawValue, returned: ExecConfig.APIVersion.v1beta1.rawValue))
    }
  }

  @Test func onlyCertificateWithoutKeyIsRejected() async throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    let cmd = try Self.plugin(
      box, output: #"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":"x"}}"#)
    do {
      _ = try await Self.credentials(ExecConfig(apiVersion: .v1, command: cmd, interactiveMode: .never)).credentials()
      Issue.record("expected failure")
    } catch {
      guard case .execInvalidOutput(_, let reason) = error else { Issue.record("wrong error \(error)"); return }
      #expect(reason.contains("only certificate or key"))
    }
  }

  @Test func alwaysWithoutTerminalFailsWithoutRunning() async throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    let cmd = try Self.plugin(box, output: Self.tokenOutput())
    do {
      _ = try await Self.credentials(ExecConfig(apiVersion: .v1, command: cmd, interactiveMode: .always), terminal: false)
        .credentials()
      Issue.record("expected failure")
    } catch {
      #expect(error == .execNeedsTerminal(command: cmd))
    }
    #expect(Self.runs(box) == 0)
  }

  @Test func staticTokenOrCertificateSkipsExec() async throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    let exec = ExecConfig(apiVersion: .v1, command: try Self.plugin(box, output: Self.tokenOutput()), interactiveMode: .never)
    let withToken = Self.credentials(exec, auth: AuthOptions(bearerToken: "flag-token"))
    #expect(try await withToken.credentials().authorization == "Bearer flag-token")
    let withCert = Self.credentials(
      exec, tls: TLSOptions(clientCertificatePEM: Data("C".utf8), clientKeyPEM: Data("K".utf8)))
    let c = try await withCert.credentials()
    #expect(c.authorization == nil)
    #expect(c.clientCertificatePEM == Data("C".utf8))
    #expect(Self.runs(box) == 0)
  }

  @Test func loaderAndCredentialsEndToEnd() async throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    _ = try Self.plugin(box, output: Self.tokenOutput())
    try box.write([
      "k": """
      current-context: x
      contexts: [{name: x, context: {cluster: c, user: u}}]
      clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
      users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: bin/plugin, interactiveMode: Never, env: [{name: X, value: "1"}]}}}]
      """
    ])
    let env = ["KUBECONFIG": box.path("k"), "PATH": "/usr/bin:/bin"]
    let config = try KubeconfigLoader(environment: env, homeDirectory: box.dir, workingDirectory: "/").load()
    #expect(config.auth.exec?.command == box.path("bin/plugin"))
    let creds = KubeCredentials(config: config, environment: env, stdinIsTerminal: false)
    #expect(try await creds.credentials().authorization == "Bearer tok-1")
    #expect(box.read("env.txt")?.contains("X=1") == true)
  }
}

/// Collects what a plugin wrote to stderr.
final class StderrRecorder: Sendable {
  private let data = Mutex(Data())
  func append(_ d: Data) { data.withLock { $0.append(d) } }
  var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
}
