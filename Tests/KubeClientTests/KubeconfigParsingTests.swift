import Foundation
import Testing

@testable import KubeClient

@Suite("Kubeconfig value parsing")
struct KubeconfigParsingTests {
  @Test(arguments: [
    ("0", nil), ("", nil), ("5", Duration.seconds(5)), ("5s", .seconds(5)), ("1m30s", .seconds(90)),
    ("1h", .seconds(3600)), ("250ms", .milliseconds(250)), ("1.5s", .milliseconds(1500)), ("0s", nil),
  ] as [(String, Duration?)])
  func requestTimeout(_ text: String, _ expected: Duration?) throws {
    #expect(try RequestTimeout.parse(text) == expected)
  }

  @Test(arguments: ["5 minutes", "1x", "-5s", "s", "1.2.3s", "abc"])
  func invalidRequestTimeout(_ text: String) {
    #expect(throws: KubeconfigError.invalidRequestTimeout(text)) { try RequestTimeout.parse(text) }
  }

  @Test(arguments: [
    ("https://h", ServerURL(scheme: .https, host: "h", port: 443)),
    ("http://h", ServerURL(scheme: .http, host: "h", port: 80)),
    ("h:6443", ServerURL(scheme: .http, host: "h", port: 6443)),
    ("localhost:8080", ServerURL(scheme: .http, host: "localhost", port: 8080)),
    ("https://H.Example.COM:6443/", ServerURL(scheme: .https, host: "h.example.com", port: 6443)),
    ("https://h/a/b/?q=1#frag", ServerURL(scheme: .https, host: "h", port: 443, pathPrefix: "/a/b")),
    ("https://[2001:db8::1]", ServerURL(scheme: .https, host: "2001:db8::1", port: 443)),
    ("[::1]:8080", ServerURL(scheme: .http, host: "::1", port: 8080)),
  ])
  func serverURL(_ text: String, _ expected: ServerURL) throws {
    #expect(try ServerURLParser.parse(text, location: nil) == expected)
  }

  @Test(arguments: ["ftp://h", "https://", "https://h:99999", "https://h:abc", "https://::1:6443"])
  func invalidServerURL(_ text: String) {
    #expect(throws: KubeconfigError.self) { try ServerURLParser.parse(text, location: nil) }
  }

  /// Found by the kubeconfig fuzz target: Yams traps on a mapping key that is itself a mapping or a
  /// sequence, and expands aliases without limit. kubectl refuses both; so does the loader, by file.
  @Test(arguments: [
    ("contexts: [?{name: z}]\n", "is not a string"),
    ("clusters:\n- ? [a, b]\n  : x\n", "a mapping key at line 2"),
    ("users: !!set {? {a: b}}\n", "is not a string"),
    (Self.aliasBomb(levels: 7), "excessive aliasing"),
  ] as [(String, String)])
  func yamlKubectlRefusesIsRefused(_ yaml: String, _ reason: String) throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    try box.write(["k": yaml])
    let loader = KubeconfigLoader(environment: ["KUBECONFIG": box.path("k")], homeDirectory: box.dir, workingDirectory: box.dir)
    do {
      _ = try loader.contextNames()
      Issue.record("loaded \(yaml.debugDescription)")
    } catch {
      guard case .invalidYAML(let path, let why) = error else {
        Issue.record("\(error)")
        return
      }
      #expect(path == box.path("k"))
      #expect(why.contains(reason), "\(why)")
    }
  }

  /// `l0: &l0 [x, x, ...]`, `l1: &l1 [*l0, *l0, ...]`: 10^levels values once expanded.
  static func aliasBomb(levels: Int) -> String {
    var lines: [String] = []
    for level in 0..<levels {
      let item: String = level == 0 ? "x" : "*l\(level - 1)"
      let items: String = Array(repeating: item, count: 10).joined(separator: ", ")
      lines.append("l\(level): &l\(level) [\(items)]")
    }
    return lines.joined(separator: "\n") + "\n"
  }

  @Test func completionHelpersNeedNoValidUser() throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    // The user is broken (token + basic, missing cert file): loading fails, completion helpers do not.
    try box.write([
      "k1": """
      current-context: b
      contexts: [{name: b, context: {cluster: c, user: broken, namespace: team-b}}, {name: a, context: {cluster: c}}]
      clusters: [{name: c, cluster: {server: "https://x"}}]
      users: [{name: broken, user: {token: t, username: u, client-certificate: nope.crt}}]
      """,
      "k2": "contexts: [{name: z, context: {cluster: c, namespace: team-z}}]\n",
    ])
    let loader = KubeconfigLoader(
      environment: ["KUBECONFIG": box.path("k1") + ":" + box.path("k2")], homeDirectory: box.dir, workingDirectory: box.dir)
    #expect(throws: KubeconfigError.self) { try loader.load() }
    #expect(try loader.contextNames() == ["a", "b", "z"])
    #expect(try loader.currentContext() == "b")
    #expect(try loader.currentContext(ConfigOverrides(context: "z")) == "z")
    #expect(try loader.namespace() == "team-b")
    #expect(try loader.namespace(ConfigOverrides(context: "z")) == "team-z")
    #expect(try loader.namespace(ConfigOverrides(context: "a")) == "default")
    #expect(try loader.namespace(ConfigOverrides(namespace: "flag")) == "flag")
  }

  @Test func errorMessagesNameFileAndStanza() throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    try box.write([
      "k": "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: \"https://x\"}}]\nusers: [{name: u, user: {client-certificate-data: \(PEM.b64("C"))}}]\n"
    ])
    let loader = KubeconfigLoader(environment: ["KUBECONFIG": box.path("k")], homeDirectory: box.dir, workingDirectory: box.dir)
    do {
      _ = try loader.load()
      Issue.record("expected an error")
    } catch {
      #expect(error.description.contains("user \"u\" in \(box.path("k"))"))
      #expect(error.description.contains("client-key"))
    }
  }
}
