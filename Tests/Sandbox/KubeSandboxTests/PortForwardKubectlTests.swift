import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
import TestSupport

@testable import KubeSandbox
@testable import KubeletAPI

/// Real `/usr/bin/kubectl port-forward` (v1.32) through the sandbox API server and its node's kubelet,
/// in both of kubectl's modes. "The pod" is a loopback echo server: the kubelet's `LoopbackPodPortDialer`
/// dials 127.0.0.1:<port> until pods get network namespaces.
@Suite("kubectl port-forward through the sandbox kubelet", .serialized)
struct PortForwardKubectlTests {
  enum Mode: String, CaseIterable, CustomTestStringConvertible {
    case websocket
    case spdy
    var testDescription: String { rawValue }
    /// kubectl ≥ 1.31 tries the WebSocket tunnel unless this is false.
    var environment: [String: String] {
      ["KUBECTL_PORT_FORWARD_WEBSOCKETS": self == .websocket ? "true" : "false"]
    }
    /// How the sandbox's request log shows kubectl's port-forward request.
    var requestMethod: String { self == .websocket ? "GET" : "POST" }
  }

  @Test(arguments: Mode.allCases)
  func bytesFlowBothWaysWithChecksums(mode: Mode) async throws {
    try await PortForwardCluster.with { cluster in
      let echo = try await EchoServer(group: cluster.group)
      defer { Task { await echo.close() } }
      let uid = try cluster.createRunningPod("echo", port: echo.port)
      let forward = try await cluster.portForward("echo", remotePort: echo.port, mode: mode)
      defer { forward.process.stop() }

      let payload = randomBytes(1 << 20)
      let received = try await exchange(port: forward.localPort, payload: payload, expecting: payload.count, group: cluster.group)
      #expect(received.count == payload.count, "kubectl output:\n\(forward.process.output)")
      #expect(checksum(received) == checksum(payload))
      #expect(received == payload)

      // The request really took this mode's path (no silent fallback from WebSocket to SPDY).
      let lines = cluster.requestLog.filter { $0.contains("/pods/echo/portforward") }
      #expect(!lines.isEmpty && lines.allSatisfy { $0.hasPrefix(mode.requestMethod + " ") }, "\(lines)")
      #expect(!uid.isEmpty)
    }
  }

  @Test(arguments: Mode.allCases)
  func twoConcurrentConnectionsShareOneKubectl(mode: Mode) async throws {
    try await PortForwardCluster.with { cluster in
      let echo = try await EchoServer(group: cluster.group)
      defer { Task { await echo.close() } }
      _ = try cluster.createRunningPod("echo", port: echo.port)
      let forward = try await cluster.portForward("echo", remotePort: echo.port, mode: mode)
      defer { forward.process.stop() }

      let first = randomBytes(256 * 1024)
      let second = randomBytes(300 * 1024)
      let group = cluster.group
      async let a = exchange(port: forward.localPort, payload: first, expecting: first.count, group: group)
      async let b = exchange(port: forward.localPort, payload: second, expecting: second.count, group: group)
      let (gotA, gotB) = try await (a, b)
      #expect(checksum(gotA) == checksum(first), "kubectl output:\n\(forward.process.output)")
      #expect(checksum(gotB) == checksum(second))
      #expect(gotA == first && gotB == second)
      // One upgraded connection carried both (one port-forward request in the log).
      #expect(cluster.requestLog.filter { $0.contains("/pods/echo/portforward") }.count == 1)
      // And the session keeps working afterwards.
      let again = try await exchange(port: forward.localPort, payload: Array("ping".utf8), expecting: 4, group: group)
      #expect(again == Array("ping".utf8))
    }
  }

  @Test(arguments: Mode.allCases)
  func closedPortReportsTheKubeletErrorAndKubectlExits(mode: Mode) async throws {
    try await PortForwardCluster.with { cluster in
      let closedPort = try freeLoopbackPort()  // nothing listens there
      let uid = try cluster.createRunningPod("closed", port: closedPort)
      let forward = try await cluster.portForward("closed", remotePort: closedPort, mode: mode)
      defer { forward.process.stop() }

      let received = try await exchange(port: forward.localPort, payload: Array("hello".utf8), expecting: 1, seconds: 15, group: cluster.group)
      #expect(received.isEmpty)
      let code = try await forward.process.waitForExit()
      // kubectl logs the error as a quoted klog value (`err="…\"uid\"…"`); compare the text itself.
      let output = forward.process.output.replacingOccurrences(of: "\\\"", with: "\"")
      #expect(code != nil && code != 0, "kubectl still running or exited 0:\n\(output)")
      #expect(
        output.contains(
          "error forwarding port \(closedPort) to pod \(uid), uid : failed to connect to localhost:\(closedPort) inside namespace \"\(uid)\", IPv4: dial tcp4 127.0.0.1:\(closedPort): connect: connection refused"),
        "\(output)")
      #expect(output.contains("lost connection to pod"), "\(output)")
    }
  }

  @Test(arguments: Mode.allCases)
  func deletedPodFailsTheNextConnection(mode: Mode) async throws {
    try await PortForwardCluster.with { cluster in
      let echo = try await EchoServer(group: cluster.group)
      defer { Task { await echo.close() } }
      let uid = try cluster.createRunningPod("doomed", port: echo.port)
      let forward = try await cluster.portForward("doomed", remotePort: echo.port, mode: mode)
      defer { forward.process.stop() }

      let before = try await exchange(port: forward.localPort, payload: Array("alive".utf8), expecting: 5, group: cluster.group)
      #expect(before == Array("alive".utf8))
      let deleted = try cluster.kubectl(["delete", "pod", "doomed", "--grace-period=0", "--force", "--wait=false"])
      #expect(deleted.code == 0, "\(deleted.output)")
      #expect(try await eventually { (try? cluster.kubectl(["get", "pod", "doomed"]))?.code != 0 })

      // The echo server still listens: only the kubelet knowing the pod is gone can fail this.
      let after = try await exchange(port: forward.localPort, payload: Array("dead?".utf8), expecting: 1, seconds: 15, group: cluster.group)
      #expect(after.isEmpty)
      let code = try await forward.process.waitForExit()
      // kubectl logs the error as a quoted klog value (`err="…\"uid\"…"`); compare the text itself.
      let output = forward.process.output.replacingOccurrences(of: "\\\"", with: "\"")
      #expect(code != nil && code != 0, "\(output)")
      #expect(output.contains("error forwarding port \(echo.port) to pod \(uid), uid : network namespace for sandbox \"\(uid)\" is closed"), "\(output)")
      #expect(output.contains("lost connection to pod"), "\(output)")
    }
  }

  @Test func podWithoutHostIsABadRequest() async throws {
    try await PortForwardCluster.with { cluster in
      _ = try cluster.createPod("floating", port: 8080, nodeName: nil)
      _ = try cluster.kubectl(["patch", "pod", "floating", "--subresource=status", "--type=merge", "-p", #"{"status":{"phase":"Running"}}"#])
      let result = try cluster.kubectl(["port-forward", "pod/floating", "18080:8080"], environment: Mode.spdy.environment)
      #expect(result.code != 0)
      #expect(result.output.contains("pod floating does not have a host assigned"), "\(result.output)")
    }
  }

  @Test func nodeIsRegisteredWithItsKubeletEndpoint() async throws {
    try await PortForwardCluster.with { cluster in
      let result = try cluster.kubectl([
        "get", "node", "kftray-node", "-o",
        "jsonpath={.status.addresses[0].address} {.status.daemonEndpoints.kubeletEndpoint.Port} {.status.conditions[0].type}={.status.conditions[0].status}",
      ])
      #expect(result.code == 0, "\(result.output)")
      #expect(result.output == "127.0.0.1 \(cluster.sandbox.kubelet.port) Ready=True")
    }
  }

  @Test func kubeletRefusesOtherClientCertificates() async throws {
    try await PortForwardCluster.with { cluster in
      let files = cluster.sandbox.files
      let url = "https://127.0.0.1:\(cluster.sandbox.kubelet.port)/portForward/default/x"
      // The admin is a valid client of the CA, but not the API server's kubelet identity.
      let admin = try cluster.run(
        "/usr/bin/curl",
        ["-sS", "--cacert", files.caCertificate.path, "--cert", files.adminCertificate.path, "--key", files.adminKey.path,
         "-X", "POST", "-w", "\n%{http_code}", url])
      #expect(admin.output.hasSuffix("\n403"), "\(admin.output)")
      #expect(admin.output.contains("Forbidden (user=sandbox-admin, verb=create, resource=nodes, subresource=proxy)"))
      // No client certificate: the TLS handshake itself fails.
      let anonymous = try cluster.run("/usr/bin/curl", ["-sS", "--cacert", files.caCertificate.path, "-X", "POST", url])
      #expect(anonymous.code != 0, "\(anonymous.output)")
      // The API server's identity gets past authorization (no such pod here: the kubelet's 404).
      let apiServer = try cluster.run(
        "/usr/bin/curl",
        ["-sS", "--cacert", files.caCertificate.path, "--cert", files.kubeletClientCertificate.path, "--key",
         files.kubeletClientKey.path, "-X", "POST", "-w", "\n%{http_code}", url])
      #expect(apiServer.output == "pod does not exist\n404", "\(apiServer.output)")
    }
  }
}

/// One sandbox (in-process, with a request log), a private HOME for kubectl, and an event loop group
/// for the echo servers and test clients.
final class PortForwardCluster: Sendable {
  let sandbox: RunningSandbox
  let base: URL
  let group: MultiThreadedEventLoopGroup
  private let log: NIOLockedValueBox<[String]>

  static let kubectlPath = "/usr/bin/kubectl"

  private init(sandbox: RunningSandbox, base: URL, group: MultiThreadedEventLoopGroup, log: NIOLockedValueBox<[String]>) {
    self.sandbox = sandbox
    self.base = base
    self.group = group
    self.log = log
  }

  static func with(_ body: (PortForwardCluster) async throws -> Void) async throws {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("kftray-pf-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: base.appendingPathComponent("home"), withIntermediateDirectories: true)
    let log = NIOLockedValueBox<[String]>([])
    let sandbox = try await SandboxServer.start(
      directory: base.appendingPathComponent("sandbox"),
      options: SandboxOptions(requestLog: { line in log.withLockedValue { $0.append(line) } }))
    let cluster = PortForwardCluster(
      sandbox: sandbox, base: base, group: MultiThreadedEventLoopGroup(numberOfThreads: 1), log: log)
    do {
      try await body(cluster)
    } catch {
      await cluster.stop()
      throw error
    }
    await cluster.stop()
  }

  private func stop() async {
    await sandbox.shutdown()
    try? await group.shutdownGracefully()
    try? FileManager.default.removeItem(at: base)
  }

  var requestLog: [String] { log.withLockedValue { $0 } }

  struct Output {
    var code: Int32
    var output: String
  }

  func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Output {
    let process = try SpawnedProcess(executable, arguments, environment: environment)
    defer { process.stop() }
    let code = process.waitUntilExit()
    return Output(code: code, output: process.output)
  }

  func kubectl(_ arguments: [String], environment: [String: String] = [:]) throws -> Output {
    var env = ["KUBECONFIG": sandbox.kubeconfigPath, "HOME": base.appendingPathComponent("home").path]
    env.merge(environment) { _, new in new }
    return try run(Self.kubectlPath, arguments, environment: env)
  }

  /// Creates a pod (bound to the sandbox node unless `nodeName` is nil) declaring `port`; returns its uid.
  func createPod(_ name: String, port: Int, nodeName: String? = NodeRegistration.defaultNodeName) throws -> String {
    let node = nodeName.map { "\n  nodeName: \($0)" } ?? ""
    let manifest = """
      apiVersion: v1
      kind: Pod
      metadata:
        name: \(name)
      spec:\(node)
        containers:
        - name: c
          image: busybox
          ports:
          - containerPort: \(port)
      """
    let file = base.appendingPathComponent("\(name).yaml")
    try manifest.write(to: file, atomically: true, encoding: .utf8)
    let created = try kubectl(["create", "-f", file.path])
    guard created.code == 0 else { throw TestFailure("kubectl create: \(created.output)") }
    let uid = try kubectl(["get", "pod", name, "-o", "jsonpath={.metadata.uid}"])
    return uid.output
  }

  /// A pod bound to the node and marked Running (kubectl refuses to forward to pods that are not).
  func createRunningPod(_ name: String, port: Int) throws -> String {
    let uid = try createPod(name, port: port)
    let patched = try kubectl([
      "patch", "pod", name, "--subresource=status", "--type=merge", "-p", #"{"status":{"phase":"Running"}}"#,
    ])
    guard patched.code == 0 else { throw TestFailure("kubectl patch status: \(patched.output)") }
    return uid
  }

  struct Forward {
    var process: SpawnedProcess
    var localPort: Int
  }

  /// Starts `kubectl port-forward pod/NAME LOCAL:REMOTE` and waits for its "Forwarding from" line.
  func portForward(_ pod: String, remotePort: Int, mode: PortForwardKubectlTests.Mode) async throws -> Forward {
    let localPort = try freeLoopbackPort()
    var env = ["KUBECONFIG": sandbox.kubeconfigPath, "HOME": base.appendingPathComponent("home").path]
    env.merge(mode.environment) { _, new in new }
    let process = try SpawnedProcess(
      Self.kubectlPath, ["port-forward", "--address", "127.0.0.1", "pod/\(pod)", "\(localPort):\(remotePort)"],
      environment: env)
    guard try await process.waitForOutput("Forwarding from 127.0.0.1:\(localPort) -> \(remotePort)") else {
      let output = process.output
      process.stop()
      throw TestFailure("kubectl port-forward did not start:\n\(output)")
    }
    return Forward(process: process, localPort: localPort)
  }
}
