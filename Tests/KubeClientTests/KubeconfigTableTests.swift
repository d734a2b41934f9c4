import Foundation
import Testing

@testable import KubeClient

/// One kubeconfig scenario: files on disk, environment, flags, and what must come out. Each case is
/// also run through the real kubectl where kubectl can show the same decision.
struct KubeconfigCase: Sendable, CustomTestStringConvertible {
  enum Expectation: Sendable {
    case config(@Sendable (ClientConfig, KubeconfigSandbox) -> Void)
    case error(@Sendable (KubeconfigError) -> Bool)
  }
  enum KubectlAgreement: Sendable {
    /// `kubectl config view --minify --flatten` must pick the same context, cluster, user, server,
    /// namespace and file contents (or fail too, for error cases).
    case compare
    /// kubectl only checks this later, when it builds a client; `config view` cannot show it.
    case notApplicable(String)
  }

  var name: String
  var files: [String: String] = [:]
  /// KUBECONFIG entries relative to the sandbox (nil: unset).
  var kubeconfigEnv: [String]? = nil
  var env: [String: String] = [:]
  /// Files of a service-account directory `sa/`; with KUBERNETES_SERVICE_HOST/PORT in `env` this
  /// makes in-cluster configuration possible.
  var serviceAccount: [String: String]? = nil
  var overrides = ConfigOverrides()
  var expect: Expectation
  var kubectl: KubectlAgreement = .compare

  var testDescription: String { name }

  func resolvedOverrides(_ box: KubeconfigSandbox) -> ConfigOverrides {
    var o = overrides
    func sub(_ s: String?) -> String? { s?.replacingOccurrences(of: "{dir}", with: box.dir) }
    o.kubeconfig = sub(o.kubeconfig)
    o.certificateAuthority = sub(o.certificateAuthority)
    o.clientCertificate = sub(o.clientCertificate)
    o.clientKey = sub(o.clientKey)
    return o
  }

  func kubeconfigEnvValue(_ box: KubeconfigSandbox) -> String? {
    kubeconfigEnv.map { $0.map { $0.isEmpty ? "" : box.path($0) }.joined(separator: ":") }
  }

  func loader(_ box: KubeconfigSandbox) -> KubeconfigLoader {
    var e = env
    e["HOME"] = box.dir
    if let k = kubeconfigEnvValue(box) { e["KUBECONFIG"] = k }
    return KubeconfigLoader(
      environment: e, homeDirectory: box.dir, serviceAccountDirectory: box.path("sa"), workingDirectory: box.dir)
  }
}

// MARK: - fixtures

private let caA = PEM.cert("CA-A")
private let caB = PEM.cert("CA-B")
private let certA = PEM.cert("CLIENT-A")
private let keyA = PEM.key("KEY-A")

/// A one-context kubeconfig with the given cluster and user bodies (flow-style YAML maps).
private func single(
  cluster: String = "server: https://k8s.example.com:6443", user: String = "token: tok-a",
  context: String = "cluster: c1, user: u1, namespace: ns-a", current: String = "ctx-a",
  extraClusters: String = ""
) -> String {
  """
  apiVersion: v1
  kind: Config
  current-context: \(current)
  contexts:
  - name: ctx-a
    context: {\(context)}
  clusters:
  - name: c1
    cluster: {\(cluster)}
  \(extraClusters)
  users:
  - name: u1
    user: {\(user)}
  """
}

private func isError(_ match: @escaping @Sendable (KubeconfigError) -> Bool) -> KubeconfigCase.Expectation {
  .error(match)
}

let kubeconfigCases: [KubeconfigCase] = [
  // MARK: file selection
  KubeconfigCase(
    name: "KUBECONFIG single file: current-context, server, namespace, token",
    files: ["k1": single()], kubeconfigEnv: ["k1"],
    expect: .config { c, _ in
      #expect(c.origin.contextName == "ctx-a")
      #expect(c.origin.clusterName == "c1")
      #expect(c.origin.userName == "u1")
      #expect(c.server == ServerURL(scheme: .https, host: "k8s.example.com", port: 6443))
      #expect(c.namespace == "ns-a")
      #expect(c.auth.bearerToken == "tok-a")
    }),
  KubeconfigCase(
    name: "no KUBECONFIG: ~/.kube/config", files: [".kube/config": single()],
    expect: .config { c, box in
      #expect(c.origin.files == [box.path(".kube/config")])
      #expect(c.origin.contextName == "ctx-a")
    }),
  KubeconfigCase(
    name: "empty KUBECONFIG falls back to ~/.kube/config", files: [".kube/config": single()],
    kubeconfigEnv: [""],
    expect: .config { c, _ in #expect(c.origin.contextName == "ctx-a") }),
  KubeconfigCase(
    name: "--kubeconfig reads only that file, KUBECONFIG ignored",
    files: ["k1": single(current: "ctx-a"), "k2": single(cluster: "server: https://other:1")],
    kubeconfigEnv: ["k1"], overrides: ConfigOverrides(kubeconfig: "{dir}/k2"),
    expect: .config { c, box in
      #expect(c.origin.files == [box.path("k2")])
      #expect(c.server.host == "other")
    }),
  KubeconfigCase(
    name: "--kubeconfig missing is an error", files: ["k1": single()], kubeconfigEnv: ["k1"],
    overrides: ConfigOverrides(kubeconfig: "{dir}/nope"),
    expect: isError { if case .explicitFileMissing = $0 { true } else { false } }),
  KubeconfigCase(
    name: "KUBECONFIG: missing and duplicate entries skipped",
    files: ["k1": single()], kubeconfigEnv: ["missing1", "k1", "missing2", "k1"],
    expect: .config { c, box in
      #expect(c.origin.files == [box.path("k1")])
      #expect(c.origin.contextName == "ctx-a")
    }),
  KubeconfigCase(
    name: "empty file is an empty config, next file still used",
    files: ["empty": "", "k1": single()], kubeconfigEnv: ["empty", "k1"],
    expect: .config { c, _ in #expect(c.origin.contextName == "ctx-a") }),

  // MARK: merging
  KubeconfigCase(
    name: "same cluster name in two files: the first wins as a whole",
    files: [
      "k1": single(cluster: "server: https://first:6443"),
      "k2": """
      clusters:
      - name: c1
        cluster: {server: "https://second:6443", certificate-authority-data: \(PEM.b64(caB)), tls-server-name: second}
      """,
    ],
    kubeconfigEnv: ["k1", "k2"],
    expect: .config { c, _ in
      #expect(c.server.host == "first")
      #expect(c.tls.certificateAuthorityPEM == nil)
      #expect(c.tls.serverName == nil)
    }),
  KubeconfigCase(
    name: "current-context from the first file that sets one",
    files: [
      "k1": """
      clusters:
      - name: c1
        cluster: {server: "https://one:1"}
      - name: c2
        cluster: {server: "https://two:2"}
      """,
      "k2": """
      current-context: ctx-b
      contexts:
      - name: ctx-b
        context: {cluster: c2}
      - name: ctx-c
        context: {cluster: c1}
      """,
      "k3": "current-context: ctx-c\n",
    ],
    kubeconfigEnv: ["k1", "k2", "k3"],
    expect: .config { c, _ in
      #expect(c.origin.contextName == "ctx-b")
      #expect(c.server.host == "two")
      #expect(c.namespace == "default")
    }),
  KubeconfigCase(
    name: "context, cluster and user may come from different files",
    files: [
      "a/k": "current-context: x\ncontexts:\n- name: x\n  context: {cluster: cb, user: ua, namespace: nsx}\n",
      "b/k": "clusters:\n- name: cb\n  cluster: {server: \"https://b:443\", certificate-authority: ca.crt}\n",
      "b/ca.crt": caB,
      "c/k": "users:\n- name: ua\n  user: {client-certificate: certs/c.crt, client-key: ../c/certs/c.key}\n",
      "c/certs/c.crt": certA, "c/certs/c.key": keyA,
    ],
    kubeconfigEnv: ["a/k", "b/k", "c/k"],
    expect: .config { c, _ in
      #expect(c.tls.certificateAuthorityPEM == Data(caB.utf8))
      #expect(c.tls.clientCertificatePEM == Data(certA.utf8))
      #expect(c.tls.clientKeyPEM == Data(keyA.utf8))
      #expect(c.namespace == "nsx")
    }),
  KubeconfigCase(
    name: "relative paths resolve against each stanza's own file, not the first file",
    files: [
      "a/k": single(cluster: "server: https://a:6443, certificate-authority: ca.crt", user: "tokenFile: tok"),
      "a/ca.crt": caA, "a/tok": "file-token\n",
      "b/k": "clusters:\n- name: c1\n  cluster: {server: \"https://b\", certificate-authority: ca.crt}\n",
      "b/ca.crt": caB,
    ],
    kubeconfigEnv: ["a/k", "b/k"],
    expect: .config { c, box in
      #expect(c.tls.certificateAuthorityPEM == Data(caA.utf8))
      #expect(c.auth.bearerTokenFile == box.path("a/tok"))
      #expect(c.auth.bearerToken == "file-token")
    }),
  KubeconfigCase(
    name: "exec command: path resolved against the file, bare name left for PATH",
    files: [
      "cfg/k": single(
        user:
          "exec: {apiVersion: client.authentication.k8s.io/v1, command: ./bin/plugin, interactiveMode: Never}"),
      "cfg2/k": """
      users:
      - name: u2
        user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: gke-gcloud-auth-plugin}}
      """,
    ],
    kubeconfigEnv: ["cfg/k", "cfg2/k"],
    expect: .config { c, box in
      #expect(c.auth.exec?.command == box.path("cfg/bin/plugin"))
      let other = try? KubeconfigLoader(
        environment: ["KUBECONFIG": box.path("cfg/k") + ":" + box.path("cfg2/k")], homeDirectory: box.dir,
        serviceAccountDirectory: box.path("sa"), workingDirectory: box.dir
      ).load(ConfigOverrides(user: "u2"))
      #expect(other?.auth.exec?.command == "gke-gcloud-auth-plugin")
      #expect(other?.auth.exec?.interactiveMode == .ifAvailable)
    }),
  KubeconfigCase(
    name: "relative --kubeconfig: paths resolve against its directory",
    files: ["sub/k": single(cluster: "server: https://x, certificate-authority: ../ca/root.pem"), "ca/root.pem": caA],
    overrides: ConfigOverrides(kubeconfig: "sub/k"),
    expect: .config { c, _ in #expect(c.tls.certificateAuthorityPEM == Data(caA.utf8)) }),

  // MARK: selection and flags
  KubeconfigCase(
    name: "--context picks another context",
    files: [
      "k": single(extraClusters: "- {name: c2, cluster: {server: \"https://two\"}}"),
      "k2": "contexts:\n- name: other\n  context: {cluster: c2, user: u1, namespace: ns-o}\n",
    ],
    kubeconfigEnv: ["k", "k2"], overrides: ConfigOverrides(context: "other"),
    expect: .config { c, _ in
      #expect(c.origin.contextName == "other")
      #expect(c.server.host == "two")
      #expect(c.namespace == "ns-o")
    }),
  KubeconfigCase(
    name: "--context that does not exist", files: ["k": single()], kubeconfigEnv: ["k"],
    overrides: ConfigOverrides(context: "ghost"),
    expect: isError { if case .contextNotFound("ghost", true, let files) = $0 { files.count == 1 } else { false } }),
  KubeconfigCase(
    name: "current-context names a missing context", files: ["k": single(current: "ghost")], kubeconfigEnv: ["k"],
    expect: isError { if case .contextNotFound(let n, false, _) = $0 { n == "ghost" } else { false } }),
  KubeconfigCase(
    name: "context names a missing cluster", files: ["k": single(context: "cluster: nope, user: u1")],
    kubeconfigEnv: ["k"],
    expect: isError { if case .clusterNotFound("nope", "ctx-a", _) = $0 { true } else { false } }),
  KubeconfigCase(
    name: "context names a missing user", files: ["k": single(context: "cluster: c1, user: nobody")],
    kubeconfigEnv: ["k"],
    expect: isError { if case .userNotFound("nobody", "ctx-a", _) = $0 { true } else { false } }),
  KubeconfigCase(
    name: "--cluster and --user replace the context's", 
    files: [
      "k": single(extraClusters: "- {name: c2, cluster: {server: \"https://two:2\"}}"),
      "k2": "users:\n- name: u2\n  user: {token: tok-2}\n",
    ],
    kubeconfigEnv: ["k", "k2"], overrides: ConfigOverrides(cluster: "c2", user: "u2"),
    expect: .config { c, _ in
      #expect(c.origin.clusterName == "c2")
      #expect(c.server.port == 2)
      #expect(c.auth.bearerToken == "tok-2")
      #expect(c.namespace == "ns-a")
    }),
  KubeconfigCase(
    name: "--cluster that does not exist", files: ["k": single()], kubeconfigEnv: ["k"],
    overrides: ConfigOverrides(cluster: "nope"),
    expect: isError { if case .clusterNotFound("nope", nil, _) = $0 { true } else { false } },
    kubectl: .notApplicable("kubectl config view ignores --cluster")),
  KubeconfigCase(
    name: "--namespace beats the context's namespace", files: ["k": single()], kubeconfigEnv: ["k"],
    overrides: ConfigOverrides(namespace: "flag-ns"),
    expect: .config { c, _ in #expect(c.namespace == "flag-ns") }),
  KubeconfigCase(
    name: "context without namespace: default", files: ["k": single(context: "cluster: c1, user: u1")],
    kubeconfigEnv: ["k"],
    expect: .config { c, _ in #expect(c.namespace == "default") }),
  KubeconfigCase(
    name: "--server clears the file's tls-server-name",
    files: ["k": single(cluster: "server: https://a:1, tls-server-name: from-file")], kubeconfigEnv: ["k"],
    overrides: ConfigOverrides(server: "https://b:2"),
    expect: .config { c, _ in
      #expect(c.server == ServerURL(scheme: .https, host: "b", port: 2))
      #expect(c.tls.serverName == nil)
    }),
  KubeconfigCase(
    name: "--server with --tls-server-name keeps the flag's name",
    files: ["k": single(cluster: "server: https://a:1, tls-server-name: from-file")], kubeconfigEnv: ["k"],
    overrides: ConfigOverrides(server: "https://b:2", tlsServerName: "from-flag"),
    expect: .config { c, _ in #expect(c.tls.serverName == "from-flag") }),
  KubeconfigCase(
    name: "tls-server-name from the file without --server",
    files: ["k": single(cluster: "server: https://a:1, tls-server-name: from-file")], kubeconfigEnv: ["k"],
    expect: .config { c, _ in #expect(c.tls.serverName == "from-file") }),
  KubeconfigCase(
    name: "--insecure-skip-tls-verify clears the file's CA",
    files: ["k": single(cluster: "server: https://a:1, certificate-authority: ca.crt"), "ca.crt": caA],
    kubeconfigEnv: ["k"], overrides: ConfigOverrides(insecureSkipTLSVerify: true),
    expect: .config { c, _ in
      #expect(c.tls.insecureSkipVerify)
      #expect(c.tls.certificateAuthorityPEM == nil)
    }),
  KubeconfigCase(
    name: "--certificate-authority replaces CA data and insecure",
    files: [
      "k": single(cluster: "server: https://a:1, certificate-authority-data: \(PEM.b64(caA))"), "flag-ca.pem": caB,
    ],
    kubeconfigEnv: ["k"], overrides: ConfigOverrides(certificateAuthority: "{dir}/flag-ca.pem"),
    expect: .config { c, _ in
      #expect(c.tls.certificateAuthorityPEM == Data(caB.utf8))
      #expect(!c.tls.insecureSkipVerify)
    }),
  KubeconfigCase(
    name: "--client-certificate/--client-key replace the *-data fields",
    files: [
      "k": single(user: "client-certificate-data: \(PEM.b64(certA)), client-key-data: \(PEM.b64(keyA))"),
      "flag.crt": PEM.cert("FLAG"), "flag.key": PEM.key("FLAG"),
    ],
    kubeconfigEnv: ["k"], overrides: ConfigOverrides(clientCertificate: "flag.crt", clientKey: "{dir}/flag.key"),
    expect: .config { c, _ in
      #expect(c.tls.clientCertificatePEM == Data(PEM.cert("FLAG").utf8))
      #expect(c.tls.clientKeyPEM == Data(PEM.key("FLAG").utf8))
    }),
  KubeconfigCase(
    name: "client certificate data decoded from base64",
    files: ["k": single(user: "client-certificate-data: \(PEM.b64(certA)), client-key-data: \(PEM.b64(keyA))")],
    kubeconfigEnv: ["k"],
    expect: .config { c, _ in
      #expect(c.tls.clientCertificatePEM == Data(certA.utf8))
      #expect(c.tls.clientKeyPEM == Data(keyA.utf8))
    }),
  KubeconfigCase(
    name: "--token replaces the file's token; tokenFile stays preferred at request time",
    files: ["k": single(user: "token: file-tok, tokenFile: t"), "t": "from-file"], kubeconfigEnv: ["k"],
    overrides: ConfigOverrides(token: "flag-tok"),
    expect: .config { c, box in
      #expect(c.auth.bearerToken == "flag-tok")
      #expect(c.auth.bearerTokenFile == box.path("t"))
    }),
  KubeconfigCase(
    name: "--username/--password on a token user: both methods is an error", files: ["k": single()],
    kubeconfigEnv: ["k"], overrides: ConfigOverrides(username: "bob", password: "pw"),
    expect: isError { if case .tokenAndBasicAuth(let l) = $0 { l.name == "u1" } else { false } },
    kubectl: .notApplicable("kubectl config view ignores credential flags")),
  KubeconfigCase(
    name: "basic auth from flags on a user without token", files: ["k": single(user: "")], kubeconfigEnv: ["k"],
    overrides: ConfigOverrides(username: "bob", password: "pw"),
    expect: .config { c, _ in
      #expect(c.auth.username == "bob")
      #expect(c.auth.password == "pw")
      #expect(c.auth.bearerToken == nil)
    }),
  KubeconfigCase(
    name: "impersonation flags override the file's as/as-groups",
    files: ["k": single(user: "token: t, as: file-user, as-groups: [g0], as-user-extra: {scopes: [a, b]}")],
    kubeconfigEnv: ["k"],
    overrides: ConfigOverrides(impersonateUser: "alice", impersonateGroups: ["g1", "g2"], impersonateUID: "42"),
    expect: .config { c, _ in
      #expect(c.impersonation == Impersonation(user: "alice", uid: "42", groups: ["g1", "g2"], extra: ["scopes": ["a", "b"]]))
    }),
  KubeconfigCase(
    name: "--request-timeout 1m30s and --disable-compression", files: ["k": single()], kubeconfigEnv: ["k"],
    overrides: ConfigOverrides(requestTimeout: "1m30s", disableCompression: true),
    expect: .config { c, _ in
      #expect(c.requestTimeout == .seconds(90))
      #expect(c.disableCompression)
    }),
  KubeconfigCase(
    name: "--request-timeout bare integer is seconds; cluster disable-compression",
    files: ["k": single(cluster: "server: https://a, disable-compression: true")], kubeconfigEnv: ["k"],
    overrides: ConfigOverrides(requestTimeout: "5"),
    expect: .config { c, _ in
      #expect(c.requestTimeout == .seconds(5))
      #expect(c.disableCompression)
    }),
  KubeconfigCase(
    name: "--request-timeout 0 means none", files: ["k": single()], kubeconfigEnv: ["k"],
    overrides: ConfigOverrides(requestTimeout: "0"),
    expect: .config { c, _ in #expect(c.requestTimeout == nil) }),
  KubeconfigCase(
    name: "--request-timeout invalid", files: ["k": single()], kubeconfigEnv: ["k"],
    overrides: ConfigOverrides(requestTimeout: "5 minutes"),
    expect: isError { $0 == .invalidRequestTimeout("5 minutes") },
    kubectl: .notApplicable("flag parsing")),

  // MARK: server forms
  KubeconfigCase(
    name: "server path prefix kept, query and fragment dropped",
    files: ["k": single(cluster: "server: \"https://rancher.example.com/k8s/clusters/c-1/?x=1#f\"")],
    kubeconfigEnv: ["k"],
    expect: .config { c, _ in
      #expect(c.server == ServerURL(scheme: .https, host: "rancher.example.com", port: 443, pathPrefix: "/k8s/clusters/c-1"))
    }),
  KubeconfigCase(
    name: "scheme-less host:port is http, and http gets no credentials or TLS",
    files: ["k": single(cluster: "server: \"10.0.0.1:8080\", certificate-authority-data: \(PEM.b64(caA))")],
    kubeconfigEnv: ["k"],
    expect: .config { c, _ in
      #expect(c.server == ServerURL(scheme: .http, host: "10.0.0.1", port: 8080))
      #expect(c.auth == AuthOptions())
      #expect(c.tls == TLSOptions())
    }),
  KubeconfigCase(
    name: "IPv6 server literal", files: ["k": single(cluster: "server: \"https://[fd00::1]:6443\"")],
    kubeconfigEnv: ["k"],
    expect: .config { c, _ in
      #expect(c.server.host == "fd00::1")
      #expect(c.server.authority == "[fd00::1]:6443")
    }),

  // MARK: validation
  KubeconfigCase(
    name: "cluster without server", files: ["k": single(cluster: "insecure-skip-tls-verify: true")],
    kubeconfigEnv: ["k"],
    expect: isError { if case .noServer(let l) = $0 { l.name == "c1" && l.file != nil } else { false } },
    kubectl: .notApplicable("kubectl would silently use http://localhost:8080")),
  KubeconfigCase(
    name: "certificate-authority file and data both set",
    files: ["k": single(cluster: "server: https://a, certificate-authority: ca.crt, certificate-authority-data: \(PEM.b64(caA))"), "ca.crt": caA],
    kubeconfigEnv: ["k"],
    expect: isError { if case .certificateAuthorityFileAndData = $0 { true } else { false } },
    kubectl: .notApplicable("config view does not validate")),
  KubeconfigCase(
    name: "insecure together with a CA",
    files: ["k": single(cluster: "server: https://a, insecure-skip-tls-verify: true, certificate-authority-data: \(PEM.b64(caA))")],
    kubeconfigEnv: ["k"],
    expect: isError {
      if case .insecureWithCertificateAuthority = $0 {
        $0.description.contains("specifying a root certificates file with the insecure flag is not allowed")
      } else { false }
    },
    kubectl: .notApplicable("config view does not validate")),
  KubeconfigCase(
    name: "client certificate without key", files: ["k": single(user: "client-certificate-data: \(PEM.b64(certA))")],
    kubeconfigEnv: ["k"],
    expect: isError { if case .clientCertificateWithoutKey = $0 { true } else { false } },
    kubectl: .notApplicable("config view does not validate")),
  KubeconfigCase(
    name: "client key without certificate", files: ["k": single(user: "client-key-data: \(PEM.b64(keyA))")],
    kubeconfigEnv: ["k"],
    expect: isError { if case .clientKeyWithoutCertificate = $0 { true } else { false } },
    kubectl: .notApplicable("config view does not validate")),
  KubeconfigCase(
    name: "client certificate file and data both set",
    files: ["k": single(user: "client-certificate: c.crt, client-certificate-data: \(PEM.b64(certA)), client-key-data: \(PEM.b64(keyA))"), "c.crt": certA],
    kubeconfigEnv: ["k"],
    expect: isError { if case .clientCertificateFileAndData = $0 { true } else { false } },
    kubectl: .notApplicable("config view does not validate")),
  KubeconfigCase(
    name: "token and username/password in the file", files: ["k": single(user: "token: t, username: u, password: p")],
    kubeconfigEnv: ["k"],
    expect: isError { if case .tokenAndBasicAuth = $0 { true } else { false } },
    kubectl: .notApplicable("config view does not validate")),
  KubeconfigCase(
    name: "exec and auth-provider together",
    files: ["k": single(user: "exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: x}, auth-provider: {name: oidc}")],
    kubeconfigEnv: ["k"],
    expect: isError { if case .execAndAuthProvider = $0 { true } else { false } },
    kubectl: .notApplicable("config view does not validate")),
  KubeconfigCase(
    name: "removed gcp auth-provider says to use gke-gcloud-auth-plugin",
    files: ["k": single(user: "auth-provider: {name: gcp, config: {access-token: x}}")], kubeconfigEnv: ["k"],
    expect: isError {
      if case .removedAuthProvider("gcp", _) = $0 { $0.description.contains("gke-gcloud-auth-plugin") } else { false }
    },
    kubectl: .notApplicable("config view does not validate")),
  KubeconfigCase(
    name: "removed azure auth-provider says to use kubelogin",
    files: ["k": single(user: "auth-provider: {name: azure}")], kubeconfigEnv: ["k"],
    expect: isError {
      if case .removedAuthProvider("azure", _) = $0 { $0.description.contains("kubelogin") } else { false }
    },
    kubectl: .notApplicable("config view does not validate")),
  KubeconfigCase(
    name: "unreadable certificate-authority file names file and cluster",
    files: ["k": single(cluster: "server: https://a, certificate-authority: missing.crt")], kubeconfigEnv: ["k"],
    expect: isError {
      if case .unreadableReferencedFile("certificate-authority", let p, let l, _) = $0 {
        p.hasSuffix("/missing.crt") && l.name == "c1"
      } else { false }
    }),
  KubeconfigCase(
    name: "missing client certificate file", files: ["k": single(user: "client-certificate: nope.crt, client-key: nope.key")],
    kubeconfigEnv: ["k"],
    expect: isError { if case .unreadableReferencedFile("client-certificate", _, _, _) = $0 { true } else { false } }),
  KubeconfigCase(
    name: "kubeconfig that is a directory is unreadable", files: ["d/placeholder": ""], kubeconfigEnv: ["d"],
    expect: isError { if case .unreadableFile = $0 { true } else { false } }),
  KubeconfigCase(
    name: "bad YAML names the file", files: ["k1": single(), "bad": "clusters: [\n"], kubeconfigEnv: ["k1", "bad"],
    expect: isError { if case .invalidYAML(let p, _) = $0 { p.hasSuffix("/bad") } else { false } }),
  KubeconfigCase(
    name: "duplicate name inside one file",
    files: ["k": single(extraClusters: "- {name: c1, cluster: {server: \"https://dup\"}}")], kubeconfigEnv: ["k"],
    expect: isError { if case .duplicateName(_, "clusters", "c1") = $0 { true } else { false } }),
  KubeconfigCase(
    name: "invalid proxy-url scheme", files: ["k": single(cluster: "server: https://a, proxy-url: \"ftp://p:21\"")],
    kubeconfigEnv: ["k"],
    expect: isError { if case .invalidProxyURL("ftp://p:21", _, _) = $0 { true } else { false } },
    kubectl: .notApplicable("config view does not validate")),
  KubeconfigCase(
    name: "exec with an unsupported apiVersion",
    files: ["k": single(user: "exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x}")],
    kubeconfigEnv: ["k"],
    expect: isError { if case .invalidExec = $0 { $0.description.contains("v1alpha1") } else { false } },
    kubectl: .notApplicable("config view does not validate")),
  KubeconfigCase(
    name: "exec v1 without interactiveMode",
    files: ["k": single(user: "exec: {apiVersion: client.authentication.k8s.io/v1, command: x}")],
    kubeconfigEnv: ["k"],
    expect: isError { if case .invalidExec = $0 { $0.description.contains("interactiveMode") } else { false } },
    kubectl: .notApplicable("config view does not validate")),
  KubeconfigCase(
    name: "proxy-url socks5 becomes socks5h and ignores NO_PROXY",
    files: ["k": single(cluster: "server: https://api.internal, proxy-url: \"socks5://127.0.0.1:1080\"")],
    kubeconfigEnv: ["k"], env: ["NO_PROXY": "*"],
    expect: .config { c, _ in #expect(c.proxy == .proxy("socks5h://127.0.0.1:1080")) }),
  KubeconfigCase(
    name: "exec cluster info for provideClusterInfo",
    files: [
      "k": """
      current-context: x
      contexts:
      - name: x
        context: {cluster: c, user: u}
      clusters:
      - name: c
        cluster:
          server: https://api:6443
          certificate-authority: ca.crt
          tls-server-name: api.internal
          proxy-url: http://proxy:3128
          extensions:
          - name: client.authentication.k8s.io/exec
            extension: {audience: kube}
      users:
      - name: u
        user:
          exec:
            apiVersion: client.authentication.k8s.io/v1
            command: plugin
            args: [get-token]
            env: [{name: A, value: b}]
            interactiveMode: Never
            provideClusterInfo: true
            installHint: install plugin
      """,
      "ca.crt": caA,
    ],
    kubeconfigEnv: ["k"],
    expect: .config { c, _ in
      let e = c.auth.exec
      #expect(e?.args == ["get-token"])
      #expect(e?.env == [ExecConfig.EnvVar(name: "A", value: "b")])
      #expect(e?.installHint == "install plugin")
      #expect(e?.cluster?.server == "https://api:6443")
      #expect(e?.cluster?.tlsServerName == "api.internal")
      #expect(e?.cluster?.certificateAuthorityData == Data(caA.utf8))
      #expect(e?.cluster?.proxyURL == "http://proxy:3128")
      #expect(e?.cluster?.config == Data(#"{"audience":"kube"}"#.utf8))
      #expect(c.proxy == .proxy("http://proxy:3128"))
    }),

  // MARK: defaults and in-cluster
  KubeconfigCase(
    name: "nothing configured: kubectl's http://localhost:8080",
    expect: .config { c, _ in
      #expect(c.server == ServerURL(scheme: .http, host: "localhost", port: 8080))
      #expect(c.namespace == "default")
      #expect(c.origin.files.isEmpty)
    },
    kubectl: .notApplicable("minify needs a current context")),
  KubeconfigCase(
    name: "nothing configured: KUBERNETES_MASTER", env: ["KUBERNETES_MASTER": "https://master:6443"],
    expect: .config { c, _ in #expect(c.server == ServerURL(scheme: .https, host: "master", port: 6443)) },
    kubectl: .notApplicable("minify needs a current context")),
  KubeconfigCase(
    name: "in-cluster when no kubeconfig: IPv6 host bracketed, token and CA, POD_NAMESPACE",
    env: ["KUBERNETES_SERVICE_HOST": "fd00::10", "KUBERNETES_SERVICE_PORT": "443", "POD_NAMESPACE": "pod-ns"],
    serviceAccount: ["token": "sa-token\n", "ca.crt": caA, "namespace": "file-ns"],
    expect: .config { c, box in
      #expect(c.server == ServerURL(scheme: .https, host: "fd00::10", port: 443))
      #expect(c.auth.bearerToken == "sa-token")
      #expect(c.auth.bearerTokenFile == box.path("sa/token"))
      #expect(c.tls.certificateAuthorityPEM == Data(caA.utf8))
      #expect(c.namespace == "pod-ns")
      #expect(c.origin.inCluster)
    },
    kubectl: .notApplicable("kubectl reads the real /var/run/secrets path")),
  KubeconfigCase(
    name: "in-cluster: namespace file, --token and --server apply",
    env: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"],
    serviceAccount: ["token": "sa-token", "namespace": "file-ns\n"],
    overrides: ConfigOverrides(token: "flag-token"),
    expect: .config { c, _ in
      #expect(c.server.authority == "10.96.0.1:443")
      #expect(c.auth.bearerToken == "flag-token")
      #expect(c.tls.certificateAuthorityPEM == nil)
      #expect(c.namespace == "file-ns")
    },
    kubectl: .notApplicable("kubectl reads the real /var/run/secrets path")),
  KubeconfigCase(
    name: "kubeconfig wins over in-cluster, but in-cluster namespace fills a context without one",
    files: ["k": single(context: "cluster: c1, user: u1")], kubeconfigEnv: ["k"],
    env: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443", "POD_NAMESPACE": "pod-ns"],
    serviceAccount: ["token": "sa-token"],
    expect: .config { c, _ in
      #expect(!c.origin.inCluster)
      #expect(c.server.host == "k8s.example.com")
      #expect(c.namespace == "pod-ns")
    },
    kubectl: .notApplicable("kubectl reads the real /var/run/secrets path")),
  KubeconfigCase(
    name: "in-cluster not possible without the token file",
    env: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"],
    expect: .config { c, _ in
      #expect(c.server.authority == "localhost:8080")
      #expect(!c.origin.inCluster)
    },
    kubectl: .notApplicable("minify needs a current context")),
]

@Suite("Kubeconfig rules, cross-checked with kubectl")
struct KubeconfigTableTests {
  @Test(arguments: kubeconfigCases)
  func kubeconfigCase(_ tc: KubeconfigCase) throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    try box.write(tc.files)
    if let sa = tc.serviceAccount { try box.write(Dictionary(uniqueKeysWithValues: sa.map { ("sa/\($0)", $1) })) }
    let loader = tc.loader(box)
    let overrides = tc.resolvedOverrides(box)
    let outcome = Result { () throws(KubeconfigError) in try loader.load(overrides) }
    switch (tc.expect, outcome) {
    case (.config(let check), .success(let config)):
      check(config, box)
    case (.error(let match), .failure(let error)):
      #expect(match(error), "unexpected error: \(error)")
      // Every message must say where to look.
      #expect(!error.description.isEmpty)
    case (.config, .failure(let error)):
      Issue.record("expected a configuration, got: \(error)")
    case (.error, .success(let config)):
      Issue.record("expected an error, got a configuration for \(config.server)")
    }
    guard case .compare = tc.kubectl, Kubectl.available else { return }
    try compareWithKubectl(tc, box: box, overrides: overrides, outcome: outcome, loader: loader)
  }

  private func compareWithKubectl(
    _ tc: KubeconfigCase, box: KubeconfigSandbox, overrides: ConfigOverrides,
    outcome: Result<ClientConfig, KubeconfigError>, loader: KubeconfigLoader
  ) throws {
    var args = ["config", "view", "--minify", "--raw", "--flatten", "-o", "json"]
    if let k = overrides.kubeconfig { args += ["--kubeconfig", k] }
    if let c = overrides.context { args += ["--context", c] }
    let kubeconfigEnv = tc.kubeconfigEnvValue(box)
    let view = try Kubectl.run(args, home: box.dir, kubeconfigEnv: kubeconfigEnv)

    // kubectl's own reading of the files: same context names, or both fail to read them.
    var listArgs = ["config", "get-contexts", "-o", "name"]
    if let k = overrides.kubeconfig { listArgs += ["--kubeconfig", k] }
    let list = try Kubectl.run(listArgs, home: box.dir, kubeconfigEnv: kubeconfigEnv)
    switch Result(catching: { () throws(KubeconfigError) in try loader.contextNames(overrides) }) {
    case .success(let names):
      #expect(list.status == 0, "kubectl could not read the files: \(list.stderr)")
      let theirs = String(decoding: list.stdout, as: UTF8.self).split(separator: "\n").map(String.init).sorted()
      #expect(theirs == names)
    case .failure(.explicitFileMissing):
      break  // `config get-contexts` treats --kubeconfig as a file it may create
    case .failure(let error):
      #expect(list.status != 0, "kubectl read files that we rejected with: \(error)")
    }

    guard case .success(let config) = outcome else {
      #expect(view.status != 0, "kubectl accepted a configuration we rejected: \(String(describing: outcome))")
      return
    }
    #expect(view.status == 0, "kubectl failed: \(view.stderr)")
    guard view.status == 0,
      let json = try JSONSerialization.jsonObject(with: view.stdout) as? [String: Any]
    else { return }
    let context = (json["contexts"] as? [[String: Any]])?.first
    let ctx = context?["context"] as? [String: Any] ?? [:]
    let cluster = (json["clusters"] as? [[String: Any]])?.first
    let cl = cluster?["cluster"] as? [String: Any] ?? [:]
    let user = (json["users"] as? [[String: Any]])?.first
    let us = user?["user"] as? [String: Any] ?? [:]

    #expect(context?["name"] as? String == config.origin.contextName)
    if overrides.cluster == nil {
      #expect(cluster?["name"] as? String == config.origin.clusterName)
      if overrides.server == nil, let server = cl["server"] as? String {
        #expect((try? ServerURLParser.parse(server, location: nil)) == config.server)
      }
      // --flatten inlines files, so equal contents prove equal path resolution.
      if config.server.scheme == .https, overrides.certificateAuthority == nil, overrides.insecureSkipTLSVerify == nil {
        let theirs = (cl["certificate-authority-data"] as? String).flatMap { Data(base64Encoded: $0) }
        #expect(theirs == config.tls.certificateAuthorityPEM)
      }
    }
    if overrides.user == nil {
      #expect(user?["name"] as? String == config.origin.userName)
      if config.server.scheme == .https, overrides.clientCertificate == nil {
        let cert = (us["client-certificate-data"] as? String).flatMap { Data(base64Encoded: $0) }
        let key = (us["client-key-data"] as? String).flatMap { Data(base64Encoded: $0) }
        #expect(cert == config.tls.clientCertificatePEM)
        #expect(key == config.tls.clientKeyPEM)
      }
      if config.server.scheme == .https, overrides.token == nil {
        #expect((us["token"] as? String) == (us["tokenFile"] == nil ? config.auth.bearerToken : (us["token"] as? String)))
      }
    }
    if overrides.namespace == nil, tc.env["KUBERNETES_SERVICE_HOST"] == nil {
      let ns = (ctx["namespace"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? "default"
      #expect(ns == config.namespace)
    }
  }
}
