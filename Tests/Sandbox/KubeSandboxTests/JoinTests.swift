import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// `kftray-sandbox up --join`: the sandbox's node registered with an API server it did not start. The
/// "foreign" API server is the sandbox's own, started alone (`--api-only`) in another directory; the
/// node gets its identity and kubelet certificates from that server's CA with openssl, as an operator
/// would issue them, and nothing else of that directory. All traffic stays on loopback and inside the
/// joined node's namespaces.
@Suite("kftray-sandbox up --join", .serialized, .enabled(if: getuid() == 0, "needs root (network namespaces)"))
struct JoinTests {
  static let nodeName = "kftray-join"
  static let relayImage = "ghcr.io/hcavarsan/kftray-server:v0.27.30"

  /// The foreign API server and the joined node, started once for the suite's tests.
  actor JoinedCluster {
    static let shared = JoinedCluster()
    struct Running: Sendable {
      var apiDirectory: String
      var nodeDirectory: String
      var kubeconfig: String
      var home: String
    }
    private var running: Running?

    func start() throws -> Running {
      if let running { return running }
      let split = try SplitSandbox.start(nodeName: JoinTests.nodeName)
      let result = Running(apiDirectory: split.apiDirectory, nodeDirectory: split.nodeDirectory, kubeconfig: split.kubeconfig, home: split.home)
      running = result
      return result
    }
  }

  static func kubectl(_ cluster: JoinedCluster.Running, _ arguments: [String], context: String = "sandbox-admin") throws
    -> Binaries.Result
  {
    try ProcessRunner.run(
      SandboxFixture.kubectlPath, arguments + ["--context", context],
      environment: ["KUBECONFIG": cluster.kubeconfig, "HOME": cluster.home])
  }

  static func uniqueName(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(6).lowercased())" }

  /// An HTTP GET on 127.0.0.1:port, retried while the forward comes up.
  static func fetch(port: Int, seconds: Int = 30) async throws -> String {
    let deadline = ContinuousClock.now + .seconds(seconds)
    var last = ""
    while ContinuousClock.now < deadline {
      let result = try ProcessRunner.run(SandboxFixture.curlPath, ["-sS", "--max-time", "5", "http://127.0.0.1:\(port)/"])
      if result.status == 0, !result.stdout.isEmpty { return result.stdout }
      last = result.stderr
      try await Task.sleep(for: .milliseconds(300))
    }
    throw TestFailure("no page from 127.0.0.1:\(port): \(last)")
  }

  @Test("a relay pod runs on the joined node and kubectl port-forward reaches internal-service through it")
  func relayPodThroughForeignAPIServer() async throws {
    let cluster = try await JoinedCluster.shared.start()
    let nodes = try Self.kubectl(cluster, ["get", "node", Self.nodeName, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"])
    #expect(nodes.stdout == "True", "\(nodes.stderr)")

    let name = Self.uniqueName("relay")
    let run = try Self.kubectl(
      cluster,
      [
        "run", name, "-n", "default", "--image", Self.relayImage, "--restart", "Never",
        "--env", "REMOTE_ADDRESS=internal-service.cluster.local", "--env", "REMOTE_PORT=80", "--env", "LOCAL_PORT=8080",
        "--env", "PROXY_TYPE=tcp",
      ])
    #expect(run.status == 0, "\(run.stderr)")
    defer { _ = try? Self.kubectl(cluster, ["delete", "pod", name, "-n", "default", "--wait=false"]) }
    let ready = try Self.kubectl(cluster, ["wait", "-n", "default", "--for=condition=Ready", "pod/\(name)", "--timeout=90s"])
    #expect(ready.status == 0, "\(ready.stderr)")
    let node = try Self.kubectl(cluster, ["get", "pod", name, "-n", "default", "-o", "jsonpath={.spec.nodeName}"])
    #expect(node.stdout == Self.nodeName)

    let port = try freeLoopbackPort()
    let forwardLog = try Teardown.temporaryDirectory("join-pf") + "/log"
    let forward = try BackgroundProcess(
      SandboxFixture.kubectlPath,
      ["port-forward", "-n", "default", "pod/\(name)", "\(port):8080", "--address", "127.0.0.1", "--context", "sandbox-admin"],
      environment: ProcessRunner.environment(["KUBECONFIG": cluster.kubeconfig, "HOME": cluster.home]),
      logPath: forwardLog)
    defer { forward.stop() }
    // Generous under the full suite's start-up load; the forward's own log says why if it never comes.
    let page: String
    do { page = try await Self.fetch(port: port, seconds: 60) } catch { throw TestFailure("\(error); port-forward log: \(forward.log)") }
    #expect(page.contains("internal-service"), "\(page) \(forward.log)")
  }

  @Test("kubectl kftray proxy works end to end against the foreign API server, and its relay pod mounts no token")
  func pluginProxy() async throws {
    let cluster = try await JoinedCluster.shared.start()
    let port = try freeLoopbackPort()
    let label = Self.uniqueName("join")
    let scratch = try Teardown.temporaryDirectory("join-proxy")
    let env = [
      "KUBECONFIG": cluster.kubeconfig, "HOME": cluster.home, "PATH": "\(Binaries.directory):/usr/local/bin:/usr/bin:/bin",
    ]
    let proxy = try BackgroundProcess(
      SandboxFixture.kubectlPath,
      [
        "kftray", "proxy", "--context", "sandbox-dev", "--pod-label", "kftray-join-test=\(label)",
        "\(port):internal-service.cluster.local:80",
      ],
      environment: env, logPath: scratch + "/log")
    defer { proxy.stop() }
    let deadline = ContinuousClock.now + .seconds(90)
    while !proxy.log.contains("Forwarding from"), proxy.isRunning, ContinuousClock.now < deadline {
      try await Task.sleep(for: .milliseconds(200))
    }
    #expect(proxy.log.contains("Forwarding from"), "\(proxy.log)")
    let page = try await Self.fetch(port: port)
    #expect(page.contains("internal-service"), "\(page)")

    let pods = try Self.kubectl(
      cluster, ["get", "pods", "-n", "dev", "-l", "kftray-join-test=\(label)", "-o", "json"])
    let list = try JSONSerialization.jsonObject(with: Data(pods.stdout.utf8)) as? [String: Any]
    let items = list?["items"] as? [[String: Any]] ?? []
    #expect(items.count == 1, "\(pods.stderr)")
    for pod in items {
      let spec = pod["spec"] as? [String: Any] ?? [:]
      #expect(spec["nodeName"] as? String == Self.nodeName)
      #expect(spec["volumes"] == nil)
      for container in spec["containers"] as? [[String: Any]] ?? [] { #expect(container["volumeMounts"] == nil) }
    }
    kill(proxy.pid, SIGINT)
    let stopDeadline = ContinuousClock.now + .seconds(30)
    while proxy.isRunning, ContinuousClock.now < stopDeadline { try await Task.sleep(for: .milliseconds(100)) }
    #expect(!proxy.isRunning)
  }

  @Test("a pod no node fits gets PodScheduled=False/Unschedulable with the scheduler's message")
  func unschedulable() async throws {
    let cluster = try await JoinedCluster.shared.start()
    let name = Self.uniqueName("nowhere")
    let run = try Self.kubectl(
      cluster,
      [
        "run", name, "-n", "default", "--image", "busybox:1.36.1", "--restart", "Never",
        "--overrides", #"{"spec":{"nodeSelector":{"pool":"nowhere"}}}"#, "--", "sleep", "1",
      ])
    #expect(run.status == 0, "\(run.stderr)")
    defer { _ = try? Self.kubectl(cluster, ["delete", "pod", name, "-n", "default", "--wait=false"]) }
    let path = #"jsonpath={.status.conditions[?(@.type=="PodScheduled")].status}/{.status.conditions[?(@.type=="PodScheduled")].reason}/{.status.conditions[?(@.type=="PodScheduled")].message}"#
    let deadline = ContinuousClock.now + .seconds(30)
    var seen = ""
    while ContinuousClock.now < deadline {
      seen = try Self.kubectl(cluster, ["get", "pod", name, "-n", "default", "-o", path]).stdout
      if seen.hasPrefix("False/") { break }
      try await Task.sleep(for: .milliseconds(200))
    }
    #expect(
      seen == "False/Unschedulable/0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. "
        + "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.")
    let events = try Self.kubectl(
      cluster, ["get", "events", "-n", "default", "--field-selector", "involvedObject.name=\(name)", "-o", "jsonpath={.items[*].reason}"])
    #expect(events.stdout.contains("FailedScheduling"), "\(events.stdout) \(events.stderr)")

    // Labelling the node makes it fit: the binder retries, and the binding sets PodScheduled True.
    let label = try Self.kubectl(cluster, ["label", "node", Self.nodeName, "pool=nowhere", "--overwrite"])
    #expect(label.status == 0, "\(label.stderr)")
    defer { _ = try? Self.kubectl(cluster, ["label", "node", Self.nodeName, "pool-"]) }
    let bound = ContinuousClock.now + .seconds(30)
    while ContinuousClock.now < bound {
      seen = try Self.kubectl(cluster, ["get", "pod", name, "-n", "default", "-o", path]).stdout
      if seen.hasPrefix("True") { break }
      try await Task.sleep(for: .milliseconds(200))
    }
    #expect(seen.hasPrefix("True/"), "\(seen)")
  }
}

extension JoinTests {
  @Test("kubectl kftray proxy fails at once on an Unschedulable relay pod, quoting the scheduler and a hint")
  func pluginUnschedulable() async throws {
    let cluster = try await JoinedCluster.shared.start()
    let env = ProcessRunner.environment([
      "KUBECONFIG": cluster.kubeconfig, "HOME": cluster.home, "PATH": "\(Binaries.directory):/usr/local/bin:/usr/bin:/bin",
    ])
    let result = try await Binaries.runOffPool(
      SandboxFixture.kubectlPath,
      [
        "kftray", "proxy", "--context", "sandbox-dev", "--node-selector", "pool=nowhere", "--pod-running-timeout", "60s",
        "\(try freeLoopbackPort()):internal-service.cluster.local:80",
      ], environment: env)
    #expect(result.status == 1)
    #expect(result.stderr.contains("no node can run it: 0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector"), "\(result.stderr)")
    #expect(result.stderr.contains("--node-selector"), "\(result.stderr)")
  }
}
