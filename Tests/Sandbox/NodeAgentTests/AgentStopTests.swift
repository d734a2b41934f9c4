import Foundation
import KubeClient
import Testing
import TestSupport

@testable import NodeAgent

/// Stopping an agent ends its pods' processes and releases their namespaces, and leaves the pods in
/// the API. Each test has a sandbox of its own: a second agent would compete for the shared one's pods.
@Suite("Node agent: stop", .timeLimit(.minutes(5)))
struct AgentStopTests {
  @Test("stop() kills the pods' processes and removes the agent's namespaces; the pod stays in the API")
  func stopInProcess() async throws {
    let sandbox = try OwnSandbox.start()
    let suffix = String(UUID().uuidString.prefix(4)).lowercased()
    let network = BareNamespaceNetwork(id: "s\(suffix)")
    Leftovers.register(networkPrefix: network.prefix)
    let scratch = try Teardown.temporaryDirectory("kftray-node-stop")
    let agent = NodeAgent(
      configuration: NodeAgentConfiguration(
        nodeName: "agent-stop-\(suffix)", api: try sandbox.client(kubeconfig: sandbox.nodeKubeconfig), network: network,
        binDirectory: Binaries.directory, logRoot: scratch + "/logs", stateDirectory: scratch + "/state"))
    let runner = Task { try await agent.run(kubeletPort: 10250) }
    let run = try await sandbox.kubectl(["run", "sleeper", "--image=busybox", "--restart=Never", "--", "sleep", "3600"])
    #expect(run.status == 0, "\(run.stderr)")
    _ = try await sandbox.waitForPod("sleeper") { $0.status?.phase == "Running" }
    let netns = try #require(agent.runningPod(namespace: "default", name: "sleeper")?.netnsPath)
    let pids = Leftovers.pids(inNamespace: URL(fileURLWithPath: netns).lastPathComponent)
    #expect(!pids.isEmpty)

    await agent.stop()
    try await runner.value
    for pid in pids { #expect(!processExists(pid)) }
    #expect(!BareNamespaceNetwork.namespaces().contains { $0.hasPrefix(network.prefix) })
    #expect(agent.runningPod(namespace: "default", name: "sleeper") == nil)
    let pod = try await sandbox.client().pod("sleeper", namespace: "default")
    #expect(pod.metadata.deletionTimestamp == nil)
  }

  @Test("the kftray-node binary: registers its Node, runs a pod, and on SIGTERM stops everything it started")
  func binary() async throws {
    let sandbox = try OwnSandbox.start()
    let scratch = try Teardown.temporaryDirectory("kftray-node-bin")
    let nodeName = "agent-bin-\(UUID().uuidString.prefix(4).lowercased())"
    let process = try BackgroundProcess(
      Binaries.path("kftray-node"),
      [
        "--kubeconfig", sandbox.nodeKubeconfig, "--node-name", nodeName, "--kubelet-port", "10250", "--state-dir",
        scratch + "/state", "--log-root", scratch + "/logs",
      ], logPath: scratch + "/agent.log")
    let run = try await sandbox.kubectl(["run", "echo", "--image=busybox", "--restart=Never", "--", "sh", "-c", "echo hi; sleep 3600"])
    #expect(run.status == 0, "\(run.stderr)")
    let pod = try await sandbox.waitForPod("echo") { $0.status?.phase == "Running" }
    #expect(pod.spec?.nodeName == nodeName)
    try await waitFor { readLog(root: scratch + "/logs", pod: pod, container: "echo").contains(" stdout F hi\n") }
    let node = try await sandbox.client().node(nodeName)
    #expect(node.status?.daemonEndpoints?.kubeletEndpoint?.Port == 10250)
    let ours = BareNamespaceNetwork.namespaces().filter { $0.hasPrefix("kft-\(BareNamespaceNetwork.id(forNode: nodeName))-") }
    #expect(ours.count == 1)
    let pids = ours.flatMap { Leftovers.pids(inNamespace: $0) }
    #expect(!pids.isEmpty)

    process.stop()  // SIGTERM, then waits for the exit
    #expect(!process.isRunning)
    for pid in pids { #expect(!processExists(pid)) }
    #expect(BareNamespaceNetwork.namespaces().filter { $0.hasPrefix("kft-\(BareNamespaceNetwork.id(forNode: nodeName))-") }.isEmpty)
  }

  @Test("kftray-node with a serving certificate serves the kubelet API: kubectl logs and port-forward reach its pods")
  func binaryServesTheKubeletAPI() async throws {
    let sandbox = try OwnSandbox.start()
    let scratch = try Teardown.temporaryDirectory("kftray-node-kubelet")
    let nodeName = "agent-api-\(UUID().uuidString.prefix(4).lowercased())"
    Leftovers.register(networkPrefix: "kft-\(BareNamespaceNetwork.id(forNode: nodeName))-")
    // A serving certificate from the sandbox CA, which the API server trusts for kubelets.
    try "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n".write(
      toFile: scratch + "/ext.cnf", atomically: true, encoding: .utf8)
    for command in [
      [
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
        scratch + "/kubelet.key", "-subj", "/CN=\(nodeName)", "-out", scratch + "/kubelet.csr",
      ],
      [
        "x509", "-req", "-in", scratch + "/kubelet.csr", "-CA", sandbox.directory + "/ca.crt", "-CAkey",
        sandbox.directory + "/ca.key", "-CAcreateserial", "-CAserial", scratch + "/ca.srl", "-days", "1", "-out",
        scratch + "/kubelet.crt", "-extfile", scratch + "/ext.cnf",
      ],
    ] {
      let result = try await Binaries.runOffPool("/usr/bin/openssl", command)
      try #require(result.status == 0, "openssl: \(result.stderr)")
    }
    let port = try freeLoopbackPort()
    let process = try BackgroundProcess(
      Binaries.path("kftray-node"),
      [
        "--kubeconfig", sandbox.nodeKubeconfig, "--node-name", nodeName, "--kubelet-port", String(port),
        "--state-dir", scratch + "/state", "--log-root", scratch + "/logs", "--tls-cert-file", scratch + "/kubelet.crt",
        "--tls-private-key-file", scratch + "/kubelet.key", "--client-ca-file", sandbox.directory + "/ca.crt",
      ], logPath: scratch + "/agent.log")
    defer { process.stop() }

    #expect(try await sandbox.kubectl(["run", "talker", "--image=busybox", "--", "sh", "-c", "echo hi; sleep 3600"]).status == 0)
    #expect(try await sandbox.kubectl(["run", "echo", "--image=kftray-sandbox/testserver", "--", "echo", "--port", "8080"]).status == 0)
    for name in ["talker", "echo"] { _ = try await sandbox.waitForPod(name) { $0.status?.phase == "Running" } }
    var logs = try await sandbox.kubectl(["logs", "talker"])
    for _ in 0..<50 where logs.stdout != "hi\n" {
      try await Task.sleep(for: .milliseconds(100))
      logs = try await sandbox.kubectl(["logs", "talker"])
    }
    #expect(logs.stdout == "hi\n", "\(logs.stderr) \(process.log)")

    let local = try freeLoopbackPort()
    let forward = try BackgroundProcess(
      "/usr/bin/kubectl", ["--kubeconfig", sandbox.kubeconfig, "port-forward", "pod/echo", "\(local):8080"],
      logPath: scratch + "/forward.log")
    defer { forward.stop() }
    try await waitForLoopbackPort(local, seconds: 30)
    let echoed = try await Binaries.runOffPool(
      "/bin/sh", ["-c", "printf through-the-kubelet | /usr/bin/busybox nc -w 3 127.0.0.1 \(local)"])
    #expect(echoed.stdout == "through-the-kubelet", "\(echoed.stderr) \(forward.log)")
  }

  @Test("after kftray-node is killed, the next one kills what it left, releases its namespaces and runs the pod again")
  func restartAfterCrash() async throws {
    let sandbox = try OwnSandbox.start()
    let scratch = try Teardown.temporaryDirectory("kftray-node-crash")
    let nodeName = "agent-crash-\(UUID().uuidString.prefix(4).lowercased())"
    let prefix = "kft-\(BareNamespaceNetwork.id(forNode: nodeName))-"
    Leftovers.register(networkPrefix: prefix)
    let arguments = [
      "--kubeconfig", sandbox.nodeKubeconfig, "--node-name", nodeName, "--kubelet-port", "10250", "--state-dir",
      scratch + "/state", "--log-root", scratch + "/logs",
    ]
    let first = try BackgroundProcess(Binaries.path("kftray-node"), arguments, logPath: scratch + "/first.log")
    try await sandbox.kubectl(["run", "survivor", "--image=busybox", "--restart=Always", "--", "sleep", "3600"])
    let pod = try await sandbox.waitForPod("survivor") { $0.status?.phase == "Running" }
    let oldPids = BareNamespaceNetwork.namespaces().filter { $0.hasPrefix(prefix) }.flatMap { Leftovers.pids(inNamespace: $0) }
    #expect(!oldPids.isEmpty)

    kill(first.pid, SIGKILL)
    first.stop()  // reaps it
    for pid in oldPids { #expect(processExists(pid), "a container died with its agent") }

    let second = try BackgroundProcess(Binaries.path("kftray-node"), arguments, logPath: scratch + "/second.log")
    defer { second.stop() }
    try await waitFor { oldPids.allSatisfy { !processExists($0) } }
    // The pod runs again: a new process in a new namespace, reported with a new start.
    try await waitFor(seconds: 60) {
      let fresh = BareNamespaceNetwork.namespaces().filter { $0.hasPrefix(prefix) }.flatMap { Leftovers.pids(inNamespace: $0) }
      return !fresh.isEmpty && Set(fresh).isDisjoint(with: oldPids)
    }
    let running = try await sandbox.waitForPod("survivor") { $0.status?.phase == "Running" }
    #expect(running.metadata.uid == pod.metadata.uid)
    let restarted = try await sandbox.waitForPod("survivor") { $0.status?.containerStatuses?.first?.restartCount == 1 }
    #expect(readLog(root: scratch + "/logs", pod: restarted, container: "survivor", restart: 1).isEmpty)  // sleep prints nothing
    #expect(FileManager.default.fileExists(
      atPath: "\(scratch)/logs/default_survivor_\(pod.metadata.uid ?? "")/survivor/1.log"))
  }

  @Test("an identity that may not register Nodes: run() fails with the node's name and the API's Forbidden")
  func registrationForbidden() async throws {
    let sandbox = try OwnSandbox.start()
    let scratch = try Teardown.temporaryDirectory("kftray-node-forbidden")
    let agent = NodeAgent(
      configuration: NodeAgentConfiguration(
        nodeName: "agent-forbidden", api: try sandbox.client(context: "sandbox-dev"),
        network: BareNamespaceNetwork(id: "f0"), binDirectory: Binaries.directory, logRoot: scratch + "/logs",
        stateDirectory: scratch + "/state"))
    do {
      try await agent.run(kubeletPort: 10250)
      Issue.record("the agent ran without the right to register its Node")
    } catch {
      let text = "\(error)"
      #expect(text.contains("cannot register node agent-forbidden"), "\(text)")
      #expect(text.contains("forbidden") || text.contains("Forbidden"), "\(text)")
    }
  }
}
