import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `kubectl kftray cleanup` against the sandbox, through kubectl's plugin discovery.
@Suite("kubectl kftray cleanup", .serialized)
struct CleanupTests {
  static func cleanup(_ sandbox: SandboxCluster.Running, _ arguments: [String]) async throws -> Binaries.Result {
    try await Binaries.runOffPool(
      ClusterTests.kubectlPath, ["kftray", "cleanup"] + arguments, environment: ProxyTests.environment(sandbox))
  }

  /// A pod that looks like one of ours (or the kftray app's), made with kubectl as another host would.
  static func apply(_ sandbox: SandboxCluster.Running, _ yaml: String) throws {
    let path = try Teardown.temporaryDirectory("cleanup") + "/pod.yaml"
    try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
    let r = try ClusterTests.kubectl(sandbox, ["apply", "-f", path])
    guard r.status == 0 else { throw SandboxError("kubectl apply: \(r.stderr)") }
  }

  static func foreignRelay(name: String, namespace: String, heartbeat: String, label: String) -> String {
    """
    apiVersion: v1
    kind: Pod
    metadata:
      name: \(name)
      namespace: \(namespace)
      labels: {app.kubernetes.io/name: kftray-relay, app.kubernetes.io/managed-by: kubectl-kftray, app.kubernetes.io/component: relay, kftray-test: \(label)}
      annotations:
        kubectl-kftray/owner-user: bob
        kubectl-kftray/owner-host: another-laptop
        kubectl-kftray/owner-pid: "4242"
        kubectl-kftray/target: web:80/tcp
        kubectl-kftray/heartbeat: "\(heartbeat)"
    spec:
      containers:
      - {name: relay, image: "busybox", command: [sleep, "3600"]}
    """
  }

  @Test("a proxy killed with SIGKILL leaves an orphan that cleanup finds and deletes; a running proxy's pod stays unless --all")
  func orphanFromAKilledProxy() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    // Both proxies' pods carry one test label; every cleanup below is narrowed to it with -l.
    let label = ClusterTests.uniqueName("t")
    let mine = ["--context", "sandbox-dev", "-l", "kftray-test=\(label)"]
    let transport = ProcessInfo.processInfo.environment["KFTRAY_TEST_TRANSPORT"] ?? "auto"
    let killed = try ProxyTests.Proxy(
      sandbox, ["--context", "sandbox-dev", "\(try freeLoopbackPort()):web.default.svc.cluster.local:80"], label: label)
    let running = try ProxyTests.Proxy(
      sandbox, ["--transport", transport, "--context", "sandbox-dev", "\(try freeLoopbackPort()):echo.default.svc.cluster.local:7000"], label: label)
    try await killed.waitForwarding(lines: 2)
    try await running.waitForwarding(lines: 2)
    kill(killed.pid, SIGKILL)
    _ = try await killed.stop(SIGKILL)

    let dry = try await Self.cleanup(sandbox, mine + ["--dry-run"])
    #expect(dry.status == 0, "\(dry.stderr)")
    let lines = dry.stdout.split(separator: "\n").map(String.init)
    #expect(lines.first?.hasPrefix("NAME") == true && lines.first?.contains("VERDICT") == true, "\(dry.stdout)")
    #expect(lines.contains { $0.contains("web.default.svc.cluster.local:80/tcp") && $0.contains("orphaned") && $0.contains("would-delete") })
    #expect(lines.contains { $0.contains("echo.default.svc.cluster.local:7000/tcp") && $0.contains("active") && $0.contains("kept") })
    #expect(lines.last == "would delete 1 pod, keep 1 active")
    #expect(try ProxyTests.relayPods(sandbox, namespace: "dev", label: label).count == 2, "--dry-run deletes nothing")

    let real = try await Self.cleanup(sandbox, mine)
    #expect(real.status == 0, "\(real.stderr)")
    #expect(real.stdout.hasSuffix("deleted 1 pod, kept 1 active\n"), "\(real.stdout)")
    #expect(try ProxyTests.relayPods(sandbox, namespace: "dev", label: label).count == 1)
    #expect(try ProxyTests.exchange(port: Int(running.stdout.split(separator: ":")[1].prefix(while: \.isNumber))!, Array("alive".utf8)) == Array("alive".utf8),
      "\(running.settledStderr) \(ProxyTests.relayLogs(sandbox, namespace: "dev", label: label))")

    let all = try await Self.cleanup(sandbox, mine + ["--all", "--yes"])
    #expect(all.status == 0, "\(all.stderr)")
    #expect(all.stdout.contains("deleted 1 pod"), "\(all.stdout)")
    #expect(try await running.stop() == 0)
    try await ProxyTests.expectNoRelayPods(sandbox, namespace: "dev", label: label)
  }

  @Test("heartbeats from another host: stale is orphaned, fresh is active; -A spans namespaces; JSON has the table's rows")
  func heartbeatsAcrossNamespaces() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let stale = ClusterTests.uniqueName("kftray-relay-stale")
    let fresh = ClusterTests.uniqueName("kftray-relay-fresh")
    let now = ISO8601DateFormatter().string(from: Date())
    let label = ClusterTests.uniqueName("t")
    try Self.apply(sandbox, Self.foreignRelay(name: stale, namespace: "default", heartbeat: "2026-01-01T00:00:00Z", label: label))
    try Self.apply(sandbox, Self.foreignRelay(name: fresh, namespace: "dev", heartbeat: now, label: label))
    defer {
      _ = try? ClusterTests.kubectl(sandbox, ["delete", "pod", "-n", "dev", fresh, "--grace-period=0", "--wait=false"])
      _ = try? ClusterTests.kubectl(sandbox, ["delete", "pod", "-n", "default", stale, "--grace-period=0", "--wait=false"])
    }
    let table = try await Self.cleanup(sandbox, ["-A", "--dry-run", "-l", "kftray-test=\(label)"])
    #expect(table.status == 0, "\(table.stderr)")
    let rows = table.stdout.split(separator: "\n").map(String.init)
    #expect(rows.first?.hasPrefix("NAMESPACE") == true)
    let staleRow = try #require(rows.first { $0.contains(stale) })
    #expect(staleRow.hasPrefix("default") && staleRow.contains("orphaned") && staleRow.contains("bob@another-laptop pid 4242"))
    #expect(staleRow.contains("last heartbeat") && staleRow.contains("(threshold 2m)"), "\(staleRow)")
    let freshRow = try #require(rows.first { $0.contains(fresh) })
    #expect(freshRow.hasPrefix("dev") && freshRow.contains("active"), "\(freshRow)")

    let json = try await Self.cleanup(sandbox, ["-A", "--dry-run", "-o", "json", "-l", "kftray-test=\(label)"])
    #expect(json.status == 0)
    let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
    let pods = try #require(document["pods"] as? [[String: Any]])
    let tableNames = Set(rows.dropFirst().dropLast().compactMap { $0.split(separator: " ").dropFirst().first.map(String.init) })
    #expect(Set(pods.compactMap { $0["name"] as? String }) == tableNames)
    #expect((pods.first { $0["name"] as? String == stale }?["verdict"]) as? String == "orphaned")
    #expect(document["summary"] as? String == rows.last)
  }

  @Test("the readonly user: each namespace's refusal is reported, exit 1")
  func readonlyGetsPerNamespaceErrors() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let name = ClusterTests.uniqueName("kftray-relay-ro")
    let label = ClusterTests.uniqueName("t")
    try Self.apply(sandbox, Self.foreignRelay(name: name, namespace: "dev", heartbeat: "2026-01-01T00:00:00Z", label: label))
    defer { _ = try? ClusterTests.kubectl(sandbox, ["delete", "pod", "-n", "dev", name, "--grace-period=0", "--wait=false"]) }
    let r = try await Self.cleanup(sandbox, ["-A", "--context", "sandbox-readonly", "-l", "kftray-test=\(label)"])
    #expect(r.status == 1)
    #expect(r.stderr.contains("error: namespace dev: not allowed to delete pods"), "\(r.stderr)")
    #expect(r.stdout.contains("failed to delete 1") && r.stdout.contains("1 namespace with errors"), "\(r.stdout)")
  }

  @Test("kftray app pods are left alone without --include-kftray and found with it")
  func kftrayAppPods() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let name = "kftray-forward-bob-tcp-1733300000-" + String(UUID().uuidString.prefix(6).lowercased())
    let label = ClusterTests.uniqueName("t")
    let mine = ["-n", "default", "-l", "kftray-test=\(label)"]
    try Self.apply(
      sandbox,
      """
      apiVersion: v1
      kind: Pod
      metadata: {name: \(name), namespace: default, labels: {app: \(name), config_id: "7", kftray-test: \(label)}}
      spec:
        containers:
        - name: \(name)
          image: busybox
          command: [sleep, "3600"]
          env: [{name: REMOTE_ADDRESS, value: web}, {name: REMOTE_PORT, value: "80"}, {name: PROXY_TYPE, value: tcp}]
      """)
    let without = try await Self.cleanup(sandbox, mine)
    #expect(without.status == 0)
    #expect(!without.stdout.contains(name) && !without.stderr.contains(name))
    let listed = try await Self.cleanup(sandbox, mine + ["--include-kftray", "--dry-run"])
    #expect(listed.stdout.contains(name) && listed.stdout.contains("kftray") && listed.stdout.contains("web:80/tcp"), "\(listed.stdout)")
    let deleted = try await Self.cleanup(sandbox, mine + ["--include-kftray"])
    #expect(deleted.status == 0 && deleted.stdout.contains("deleted 1 pod"), "\(deleted.stdout)")
  }
}
