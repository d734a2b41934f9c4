import Foundation

/// Writes the sandbox kubeconfig: cluster `kftray-sandbox`, contexts `sandbox-admin` (client
/// certificate, current), `sandbox-dev` (token, namespace `dev`) and `sandbox-readonly` (token).
/// Credentials are inlined (`*-data`, `token`) so the file works from anywhere.
enum Kubeconfig {
  static let clusterName = "kftray-sandbox"

  static func render(server: String, pki: PKI, tokens: [StaticToken]) -> String {
    func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
    var lines = [
      "apiVersion: v1",
      "kind: Config",
      "preferences: {}",
      "current-context: sandbox-admin",
      "clusters:",
      "- name: \(clusterName)",
      "  cluster:",
      "    server: \(server)",
      "    certificate-authority-data: \(base64(pki.ca.certificatePEM))",
      "users:",
      "- name: sandbox-admin",
      "  user:",
      "    client-certificate-data: \(base64(pki.admin.certificatePEM))",
      "    client-key-data: \(base64(pki.admin.keyPEM))",
    ]
    var contexts = [
      "contexts:",
      "- name: sandbox-admin",
      "  context:",
      "    cluster: \(clusterName)",
      "    user: sandbox-admin",
    ]
    for token in tokens where ["sandbox-dev", "sandbox-readonly"].contains(token.user) {
      // Tokens are hex, so they need no YAML quoting.
      lines += ["- name: \(token.user)", "  user:", "    token: \(token.token)"]
      contexts += ["- name: \(token.user)", "  context:", "    cluster: \(clusterName)", "    user: \(token.user)"]
      if token.user == "sandbox-dev" { contexts.append("    namespace: dev") }
    }
    return (lines + contexts).joined(separator: "\n") + "\n"
  }

  /// The node agent's kubeconfig: one context `kftray-node` with the node's client certificate.
  static func renderNode(server: String, pki: PKI) -> String {
    func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
    return [
      "apiVersion: v1",
      "kind: Config",
      "preferences: {}",
      "current-context: kftray-node",
      "clusters:",
      "- name: \(clusterName)",
      "  cluster:",
      "    server: \(server)",
      "    certificate-authority-data: \(base64(pki.ca.certificatePEM))",
      "users:",
      "- name: kftray-node",
      "  user:",
      "    client-certificate-data: \(base64(pki.node.certificatePEM))",
      "    client-key-data: \(base64(pki.node.keyPEM))",
      "contexts:",
      "- name: kftray-node",
      "  context:",
      "    cluster: \(clusterName)",
      "    user: kftray-node",
    ].joined(separator: "\n") + "\n"
  }
}
