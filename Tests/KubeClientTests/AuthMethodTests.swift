import Foundation
import KubeClient
import TestSupport
import Testing

/// Each way of authenticating, against the sandbox over real TLS, configured through kubeconfig
/// files the way a user would write them.
@Suite struct AuthMethodTests {
  /// A kubeconfig for the sandbox's server and CA with the given user stanza (YAML, indented 4).
  static func kubeconfig(userYAML: String, namespace: String = "dev") async throws -> (path: String, dir: String) {
    let running = try await SandboxCluster.shared.start()
    let admin = try KubeconfigLoader(environment: ["HOME": running.directory]).load(
      ConfigOverrides(kubeconfig: running.kubeconfig, context: "sandbox-admin"))
    let ca = admin.tls.certificateAuthorityPEM!.base64EncodedString()
    let dir = try Teardown.temporaryDirectory("kftray-auth")
    let yaml = """
      apiVersion: v1
      kind: Config
      current-context: test
      clusters:
      - name: sandbox
        cluster:
          server: \(admin.server)
          certificate-authority-data: \(ca)
      contexts:
      - name: test
        context:
          cluster: sandbox
          user: tester
          namespace: \(namespace)
      users:
      - name: tester
        user:
      \(userYAML)
      """
    let path = dir + "/config"
    try yaml.write(toFile: path, atomically: true, encoding: .utf8)
    return (path, dir)
  }

  static func client(_ path: String, dir: String) throws -> KubeAPI {
    let config = try KubeconfigLoader(environment: ["HOME": dir, "PATH": "/usr/bin:/bin"]).load(ConfigOverrides(kubeconfig: path))
    return KubeAPI(config: config, credentials: KubeCredentials(config: config, stdinIsTerminal: false))
  }

  static func script(_ dir: String, _ name: String, _ body: String) throws -> String {
    let path = dir + "/" + name
    try ("#!/bin/sh\n" + body).write(toFile: path, atomically: true, encoding: .utf8)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    return path
  }

  static func credentialJSON(apiVersion: String, status: [String: Any]) throws -> String {
    let object: [String: Any] = ["kind": "ExecCredential", "apiVersion": apiVersion, "status": status]
    return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
  }

  @Test func tokenFileIsPreferredOverInlineToken() async throws {
    let running = try await SandboxCluster.shared.start()
    let token = try running.token(for: "sandbox-dev")
    let (path, dir) = try await Self.kubeconfig(userYAML: "    token: wrong-inline-token\n    tokenFile: dev-token")
    try token.write(toFile: dir + "/dev-token", atomically: true, encoding: .utf8)
    let api = try Self.client(path, dir: dir)
    defer { api.shutdown() }
    let pods = try await api.listPods(namespace: "dev")
    #expect(pods.metadata.resourceVersion != nil)
  }

  @Test func execPluginV1Token() async throws {
    let running = try await SandboxCluster.shared.start()
    let token = try running.token(for: "sandbox-dev")
    let (path, dir) = try await Self.kubeconfig(userYAML: """
          exec:
            apiVersion: client.authentication.k8s.io/v1
            command: ./get-token
            interactiveMode: Never
      """)
    try Self.credentialJSON(apiVersion: "client.authentication.k8s.io/v1", status: ["token": token])
      .write(toFile: dir + "/credential.json", atomically: true, encoding: .utf8)
    _ = try Self.script(dir, "get-token", "cat \"$(dirname \"$0\")/credential.json\"\n")
    let api = try Self.client(path, dir: dir)
    defer { api.shutdown() }
    let review = try await api.accessReview(ResourceAttributes(namespace: "dev", verb: "create", resource: "pods"))
    #expect(review.allowed, "the exec token is sandbox-dev's, which may create pods in dev")
  }

  @Test func execPluginV1beta1ClientCertificate() async throws {
    let running = try await SandboxCluster.shared.start()
    let admin = try KubeconfigLoader(environment: ["HOME": running.directory]).load(
      ConfigOverrides(kubeconfig: running.kubeconfig, context: "sandbox-admin"))
    let (path, dir) = try await Self.kubeconfig(userYAML: """
          exec:
            apiVersion: client.authentication.k8s.io/v1beta1
            command: ./get-cert
      """)
    try Self.credentialJSON(
      apiVersion: "client.authentication.k8s.io/v1beta1",
      status: [
        "clientCertificateData": String(decoding: admin.tls.clientCertificatePEM!, as: UTF8.self),
        "clientKeyData": String(decoding: admin.tls.clientKeyPEM!, as: UTF8.self),
      ]
    ).write(toFile: dir + "/credential.json", atomically: true, encoding: .utf8)
    _ = try Self.script(dir, "get-cert", "cat \"$(dirname \"$0\")/credential.json\"\n")
    let api = try Self.client(path, dir: dir)
    defer { api.shutdown() }
    let review = try await api.accessReview(ResourceAttributes(namespace: "kube-system", verb: "delete", resource: "pods"))
    #expect(review.allowed, "the exec certificate is sandbox-admin's")
  }

  @Test func execPluginIsRunAgainAfterUnauthorized() async throws {
    let running = try await SandboxCluster.shared.start()
    let token = try running.token(for: "sandbox-dev")
    let (path, dir) = try await Self.kubeconfig(userYAML: """
          exec:
            apiVersion: client.authentication.k8s.io/v1
            command: ./rotating
            interactiveMode: Never
      """)
    let v1 = "client.authentication.k8s.io/v1"
    try Self.credentialJSON(apiVersion: v1, status: ["token": "stale-token"]).write(
      toFile: dir + "/first.json", atomically: true, encoding: .utf8)
    try Self.credentialJSON(apiVersion: v1, status: ["token": token]).write(
      toFile: dir + "/second.json", atomically: true, encoding: .utf8)
    _ = try Self.script(dir, "rotating", """
      d="$(dirname "$0")"
      if [ -e "$d/ran-once" ]; then cat "$d/second.json"; else touch "$d/ran-once"; cat "$d/first.json"; fi
      echo run >> "$d/runs"

      """)
    let api = try Self.client(path, dir: dir)
    defer { api.shutdown() }
    do {
      _ = try await api.listPods(namespace: "dev")
      Issue.record("the stale token must be refused")
    } catch {
      #expect(error.isUnauthorized)
    }
    // Like client-go: the failed request is not retried, the next one uses fresh credentials.
    _ = try await api.listPods(namespace: "dev")
    _ = try await api.listPods(namespace: "dev")
    let runs = try String(contentsOfFile: dir + "/runs", encoding: .utf8).split(separator: "\n").count
    #expect(runs == 2, "the plugin runs once, then once more after the 401, then its credential is cached")
  }

  @Test func tlsServerNameSelectsTheCertificateName() async throws {
    let running = try await SandboxCluster.shared.start()
    var overrides = ConfigOverrides(kubeconfig: running.kubeconfig, context: "sandbox-admin")
    overrides.tlsServerName = "kubernetes.default.svc"
    let good = try KubeconfigLoader(environment: ["HOME": running.directory]).load(overrides)
    let api = KubeAPI(config: good, credentials: KubeCredentials(config: good))
    defer { api.shutdown() }
    _ = try await api.version()

    overrides.tlsServerName = "not-in-the-certificate.example"
    let bad = try KubeconfigLoader(environment: ["HOME": running.directory]).load(overrides)
    let badAPI = KubeAPI(config: bad, credentials: KubeCredentials(config: bad))
    defer { badAPI.shutdown() }
    do {
      _ = try await badAPI.version()
      Issue.record("a name outside the certificate must fail verification")
    } catch {
      #expect(error.description.contains("cannot verify the TLS certificate"))
    }
  }

  @Test func onlyTheConfiguredCAIsTrusted() async throws {
    let running = try await SandboxCluster.shared.start()
    // Another sandbox's CA (a fresh PKI) must not verify this sandbox's server.
    let otherDir = try Teardown.temporaryDirectory("kftray-ca")
    let up = try Binaries.run(Binaries.path("kftray-sandbox"), ["up", "--api-only", "--dir", otherDir, "--owner-pid", String(getpid())])
    try #require(up.status == 0, "\(up.stderr)")
    defer { _ = try? Binaries.run(Binaries.path("kftray-sandbox"), ["down", "--dir", otherDir]) }
    var overrides = ConfigOverrides(kubeconfig: running.kubeconfig, context: "sandbox-admin")
    overrides.certificateAuthority = otherDir + "/ca.crt"
    let config = try KubeconfigLoader(environment: ["HOME": running.directory]).load(overrides)
    let api = KubeAPI(config: config, credentials: KubeCredentials(config: config))
    defer { api.shutdown() }
    do {
      _ = try await api.version()
      Issue.record("a server certificate from another CA must be refused")
    } catch {
      #expect(error.description.contains("cannot verify the TLS certificate"))
    }

    overrides.certificateAuthority = nil
    overrides.insecureSkipTLSVerify = true
    let insecure = try KubeconfigLoader(environment: ["HOME": running.directory]).load(overrides)
    let insecureAPI = KubeAPI(config: insecure, credentials: KubeCredentials(config: insecure))
    defer { insecureAPI.shutdown() }
    _ = try await insecureAPI.version()
  }
}
