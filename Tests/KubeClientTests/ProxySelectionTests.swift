import Foundation
import Testing

@testable import KubeClient

@Suite("Proxy selection with Go's rules")
struct ProxySelectionTests {
  struct Row: Sendable, CustomTestStringConvertible {
    var server: String
    var env: [String: String]
    var proxyURL = ""
    var expected: ProxyRoute
    var testDescription: String { "\(server) env=\(env.sorted { $0.key < $1.key }) proxy-url=\(proxyURL)" }
  }

  static let https = ["HTTPS_PROXY": "http://proxy.corp:3128"]

  static let rows: [Row] = [
    Row(server: "https://api.example.com", env: [:], expected: .direct),
    Row(server: "https://api.example.com", env: https, expected: .proxy("http://proxy.corp:3128")),
    Row(server: "https://api.example.com", env: ["https_proxy": "proxy.lower:8080"], expected: .proxy("http://proxy.lower:8080")),
    // An https server does not fall back to HTTP_PROXY, and an http server does not use HTTPS_PROXY.
    Row(server: "https://api.example.com", env: ["HTTP_PROXY": "http://p:1"], expected: .direct),
    Row(server: "http://api.example.com", env: ["HTTP_PROXY": "http://p:1"], expected: .proxy("http://p:1")),
    Row(server: "http://api.example.com", env: https, expected: .direct),
    Row(server: "http://api.example.com", env: ["HTTP_PROXY": "http://p:1", "REQUEST_METHOD": "GET"], expected: .direct),
    // Uppercase wins over lowercase, as in Go.
    Row(server: "https://a.b", env: ["HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:1"], expected: .proxy("http://upper:1")),
    // Loopback and localhost are never proxied.
    Row(server: "https://127.0.0.1:6443", env: https, expected: .direct),
    Row(server: "https://127.8.9.10:6443", env: https, expected: .direct),
    Row(server: "https://[::1]:6443", env: https, expected: .direct),
    Row(server: "https://localhost:6443", env: https, expected: .direct),
    Row(server: "https://LOCALHOST:6443", env: https, expected: .direct),
    // NO_PROXY forms.
    Row(server: "https://10.1.2.3:6443", env: https.merging(["NO_PROXY": "10.0.0.0/8"]) { $1 }, expected: .direct),
    Row(server: "https://11.1.2.3:6443", env: https.merging(["NO_PROXY": "10.0.0.0/8"]) { $1 }, expected: .proxy("http://proxy.corp:3128")),
    Row(server: "https://[fd00::5]:6443", env: https.merging(["NO_PROXY": "fd00::/8"]) { $1 }, expected: .direct),
    Row(server: "https://10.1.2.3:6443", env: https.merging(["NO_PROXY": "fd00::/8"]) { $1 }, expected: .proxy("http://proxy.corp:3128")),
    Row(server: "https://api.corp.example", env: https.merging(["no_proxy": ".corp.example"]) { $1 }, expected: .direct),
    Row(server: "https://corp.example", env: https.merging(["no_proxy": ".corp.example"]) { $1 }, expected: .proxy("http://proxy.corp:3128")),
    Row(server: "https://corp.example", env: https.merging(["NO_PROXY": "corp.example"]) { $1 }, expected: .direct),
    Row(server: "https://x.corp.example", env: https.merging(["NO_PROXY": "*.corp.example"]) { $1 }, expected: .direct),
    Row(server: "https://notcorp.example", env: https.merging(["NO_PROXY": "corp.example"]) { $1 }, expected: .proxy("http://proxy.corp:3128")),
    Row(server: "https://api.corp.example:6443", env: https.merging(["NO_PROXY": "corp.example:6443"]) { $1 }, expected: .direct),
    Row(server: "https://api.corp.example:443", env: https.merging(["NO_PROXY": "corp.example:6443"]) { $1 }, expected: .proxy("http://proxy.corp:3128")),
    Row(server: "https://10.9.9.9", env: https.merging(["NO_PROXY": " other , 10.9.9.9 "]) { $1 }, expected: .direct),
    Row(server: "https://10.9.9.9:6443", env: https.merging(["NO_PROXY": "10.9.9.9:443"]) { $1 }, expected: .proxy("http://proxy.corp:3128")),
    Row(server: "https://anything", env: https.merging(["NO_PROXY": "*"]) { $1 }, expected: .direct),
    // kubeconfig proxy-url: used for everything, NO_PROXY and loopback included; socks5 → socks5h.
    Row(server: "https://10.1.2.3", env: ["NO_PROXY": "*"], proxyURL: "http://kp:3128", expected: .proxy("http://kp:3128")),
    Row(server: "https://127.0.0.1", env: [:], proxyURL: "socks5://127.0.0.1:1080", expected: .proxy("socks5h://127.0.0.1:1080")),
    Row(server: "https://a", env: ["HTTPS_PROXY": "socks5://s:1080"], expected: .proxy("socks5h://s:1080")),
  ]

  @Test(arguments: rows)
  func route(_ row: Row) throws {
    let server = try ServerURLParser.parse(row.server, location: nil)
    #expect(ProxySelector(environment: row.env).route(for: server, proxyURL: row.proxyURL) == row.expected)
  }

  @Test func loaderAppliesEnvironmentProxy() throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    try box.write([
      "k": "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: {server: \"https://10.0.0.1:6443\"}}]\n"
    ])
    let loader = KubeconfigLoader(
      environment: ["KUBECONFIG": box.path("k"), "HTTPS_PROXY": "http://p:3128", "NO_PROXY": "10.0.0.0/24"],
      homeDirectory: box.dir, workingDirectory: box.dir)
    #expect(try loader.load().proxy == .direct)
    var noRule = loader
    noRule.environment["NO_PROXY"] = nil
    #expect(try noRule.load().proxy == .proxy("http://p:3128"))
  }
}
