import Foundation
import TestSupport
import Testing
import Yams

/// No credential of the kubeconfig appears in anything the plugin prints, at any verbosity, in any
/// output format, on success or failure.
@Suite("no secrets in output")
struct SecretsInOutputTests {
  /// Every token, and a long stretch of every certificate and key, of the sandbox's kubeconfig.
  static func secrets(_ kubeconfig: String) throws -> [String] {
    let config = try #require(try Yams.load(yaml: String(contentsOfFile: kubeconfig, encoding: .utf8)) as? [String: Any])
    var found: [String] = []
    for user in config["users"] as? [[String: Any]] ?? [] {
      let fields = user["user"] as? [String: Any] ?? [:]
      if let token = fields["token"] as? String { found.append(token) }
      for key in ["client-certificate-data", "client-key-data"] {
        guard let data = fields[key] as? String, let pem = Data(base64Encoded: data).map({ String(decoding: $0, as: UTF8.self) })
        else { continue }
        found.append(String(data.prefix(40)))
        // The PEM body, as it would appear if a file were printed.
        let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        found.append(String(body.prefix(40)))
      }
    }
    return found
  }

  @Test func nothingPrintedCarriesACredential() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let secrets = try Self.secrets(sandbox.kubeconfig)
    #expect(secrets.count >= 4)
    let port = try freeLoopbackPort()
    var outputs: [String] = []

    // A proxy at full verbosity and as JSON events, with a connection through it, then stopped.
    for extra in [["-v"], ["-o", "json"]] {
      for context in ["sandbox-admin", "sandbox-dev"] {
        let proxy = try ProxyTests.Proxy(
          sandbox, extra + ["--context", context, "--address", "127.0.0.1", "\(port):echo.default.svc.cluster.local:7000"])
        let deadline = ContinuousClock.now + .seconds(60)
        while !proxy.stdout.contains("orwarding") && !proxy.stdout.contains("\"forwarding\"") {
          guard ContinuousClock.now < deadline, !proxy.exited() else { break }
          try await Task.sleep(for: .milliseconds(100))
        }
        _ = try? ProxyTests.exchange(port: port, Array("x".utf8))
        _ = try await proxy.stop()
        outputs += [proxy.stdout, proxy.stderr]
      }
    }
    // Failures too: a rejected token, a wrong CA, RBAC denial; and the other commands.
    let runs: [[String]] = [
      ["proxy", "--context", "sandbox-dev", "--token", "wrong", "web:80"],
      ["proxy", "--context", "sandbox-readonly", "web:80"],
      ["doctor", "--context", "sandbox-dev", "--skip-image-check", "web.default.svc.cluster.local:80"],
      ["doctor", "--context", "sandbox-readonly", "-o", "json", "--skip-image-check"],
      ["cleanup", "-A", "--dry-run", "-o", "yaml"],
      ["version", "--context", "sandbox-dev", "-o", "json"],
    ]
    for arguments in runs {
      let r = try await Binaries.runOffPool(ClusterTests.kubectlPath, ["kftray"] + arguments, environment: ProxyTests.environment(sandbox))
      outputs += [r.stdout, r.stderr]
    }
    for secret in secrets {
      for output in outputs { #expect(!output.contains(secret), "a credential appears in the output:\n\(output)") }
    }
  }
}
