import Foundation
import KubeClient
import TestSupport
import Testing

/// API calls and upgrades through real proxies on loopback: tinyproxy (HTTP CONNECT) and
/// microsocks (SOCKS5), chosen by a kubeconfig `proxy-url` as kubectl users configure it.
// Serialized: each test picks a free port for its proxy, and two picks at once can collide.
@Suite(.serialized) struct ProxyTransportTests {
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

  static func tinyproxy(allowingPort port: Int) async throws -> (BackgroundProcess, Int) {
    let listen = try freeLoopbackPort()
    let dir = try Teardown.temporaryDirectory("kftray-tinyproxy")
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
    let process = try BackgroundProcess("/usr/bin/tinyproxy", ["-d", "-c", conf], logPath: "\(dir)/tinyproxy-\(listen).log")
    try await waitForLoopbackPort(listen)
    return (process, listen)
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
    let listen = try freeLoopbackPort()
    let proxy = try BackgroundProcess(
      "/usr/bin/microsocks", ["-i", "127.0.0.1", "-p", "\(listen)"],
      logPath: try Teardown.temporaryDirectory("kftray-microsocks") + "/microsocks.log")
    try await waitForLoopbackPort(listen)
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
