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
