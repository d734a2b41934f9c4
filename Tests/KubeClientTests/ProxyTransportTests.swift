import Foundation
import KubeClient
import TestSupport
import Testing

/// API calls and upgrades through real proxies on loopback: tinyproxy (HTTP CONNECT) and
/// microsocks (SOCKS5), chosen by a kubeconfig `proxy-url` as kubectl users configure it.
@Suite struct ProxyTransportTests {
  static func config(proxyURL: String) async throws -> ClientConfig {
    let running = try await SandboxCluster.shared.start()
    let base = try KubeconfigLoader(environment: ["HOME": running.directory]).load(
      ConfigOverrides(kubeconfig: running.kubeconfig, context: "sandbox-admin"))
    let dir = try Teardown.temporaryDirectory("kftray-proxy")
    let yaml = """
      apiVersion: v1
      kind: Config
      current-context: via-proxy
      clusters:
      - name: sandbox
        cluster:
          server: \(base.server)
          certificate-authority-data: \(base.tls.certificateAuthorityPEM!.base64EncodedString())
          proxy-url: \(proxyURL)
      contexts:
      - name: via-proxy
        context: {cluster: sandbox, user: admin}
      users:
      - name: admin
        user:
          client-certificate-data: \(base.tls.clientCertificatePEM!.base64EncodedString())
          client-key-data: \(base.tls.clientKeyPEM!.base64EncodedString())
      """
    try yaml.write(toFile: dir + "/config", atomically: true, encoding: .utf8)
    return try KubeconfigLoader(environment: ["HOME": dir]).load(ConfigOverrides(kubeconfig: dir + "/config"))
  }

  /// Starts a helper on a free loopback port. A port picked as free can be taken by a test of
  /// another suite before the helper binds it, so a helper that does not come up is retried.
  static func startOnFreePort(_ start: (Int) throws -> BackgroundProcess) async throws -> (BackgroundProcess, Int) {
    var lastError: (any Error)?
    for _ in 0..<5 {
      let port = try freeLoopbackPort()
      let process = try start(port)
      do {
        // A thief answers at once; our helper may need seconds while the full suite loads both
        // cores (five 3 s waits once all ran out).
        try await waitForLoopbackPort(port, seconds: 10)
        // Something answers; make sure it is our helper and not whoever took the port.
        try await Task.sleep(for: .milliseconds(100))
        guard process.isRunning else { throw SandboxError("the helper exited: \(process.log)") }
        return (process, port)
      } catch {
        process.stop()
        lastError = SandboxError("\(error); the helper's log: \(process.log)")
      }
    }
    throw lastError!
  }

  static func tinyproxy(allowingPort port: Int) async throws -> (BackgroundProcess, Int) {
    let dir = try Teardown.temporaryDirectory("kftray-tinyproxy")
    return try await startOnFreePort { listen in
      let conf = "\(dir)/tinyproxy-\(listen).conf"
      // tinyproxy only CONNECTs to ports it is told about.
      try """
        Port \(listen)
        Listen 127.0.0.1
        Allow 127.0.0.1
        ConnectPort \(port)
        LogLevel Connect
        MaxClients 20
        """.write(toFile: conf, atomically: true, encoding: .utf8)
      return try BackgroundProcess("/usr/bin/tinyproxy", ["-d", "-c", conf], logPath: "\(dir)/tinyproxy-\(listen).log")
    }
  }

  @Test func apiCallsThroughHTTPConnectProxy() async throws {
    let direct = try await Self.config(proxyURL: "http://127.0.0.1:1")
    let (proxy, port) = try await Self.tinyproxy(allowingPort: direct.server.port)
    defer { proxy.stop() }
    let config = try await Self.config(proxyURL: "http://127.0.0.1:\(port)")
    #expect(config.proxy == .proxy("http://127.0.0.1:\(port)"))
    let api = KubeAPI(config: config, credentials: KubeCredentials(config: config))
    defer { api.shutdown() }
    _ = try await api.version()
    _ = try await api.listPods(namespace: "default")
    #expect(proxy.log.contains("CONNECT"), "tinyproxy saw no CONNECT:\n\(proxy.log)")
  }

  @Test func upgradeThroughHTTPConnectProxy() async throws {
    let direct = try await Self.config(proxyURL: "http://127.0.0.1:1")
    let (proxy, port) = try await Self.tinyproxy(allowingPort: direct.server.port)
    defer { proxy.stop() }
    let config = try await Self.config(proxyURL: "http://127.0.0.1:\(port)")
    let inbox = UpgradeTests.Inbox()
    let credentials = try await KubeCredentials(config: config).credentials()
    let connection = try await UpgradedConnection.open(
      config: config, credentials: credentials,
      request: UpgradeRequest(
        method: "GET", path: "/sandbox/echo-upgrade?greeting=via-proxy",
        headers: [HTTPHeader("Connection", "Upgrade"), HTTPHeader("Upgrade", "kftray-echo")]),
      events: inbox.events)
    connection.write(Data("!".utf8))
    try await inbox.wait { bytes, _ in bytes.count >= 10 }
    #expect(String(decoding: inbox.bytes, as: UTF8.self) == "via-proxy!")
    connection.close()
  }

  @Test func apiCallsThroughSOCKS5Proxy() async throws {
    let dir = try Teardown.temporaryDirectory("kftray-microsocks")
    let (proxy, listen) = try await Self.startOnFreePort { port in
      try BackgroundProcess("/usr/bin/microsocks", ["-i", "127.0.0.1", "-p", "\(port)"], logPath: dir + "/microsocks.log")
    }
    let config = try await Self.config(proxyURL: "socks5://127.0.0.1:\(listen)")
    #expect(config.proxy == .proxy("socks5h://127.0.0.1:\(listen)"), "kubeconfig socks5 means: the proxy resolves names")
    let api = KubeAPI(config: config, credentials: KubeCredentials(config: config))
    defer { api.shutdown() }
    _ = try await api.version()

    // The same configuration with the proxy gone fails: the traffic really went through it.
    proxy.stop()
    let again = KubeAPI(config: config, credentials: KubeCredentials(config: config))
    defer { again.shutdown() }
    await #expect(throws: KubeError.self) { _ = try await again.version() }
  }
}
