import Foundation
import KubeClient
import NodeAgent
import Testing
import TestSupport

/// The KubeClient calls a node agent makes, with the sandbox's node identity (and its RBAC), against
/// a sandbox that has no agent running (so nothing else binds or updates the pods).
@Suite("KubeClient: node calls with the node identity", .timeLimit(.minutes(3)))
struct NodeCallsTests {
  @Test("Node create, get and status patch; binding; pod status patch and delete with uid preconditions")
  func nodeCalls() async throws {
    let sandbox = try OwnSandbox.start()
    let node = try sandbox.client(kubeconfig: sandbox.nodeKubeconfig)
    let admin = try sandbox.client()

    // Node: create, get, status (merge patch replaces the conditions).
    let created = try await node.createNode(Node(metadata: ObjectMeta(name: "calls-node", labels: ["a": "b"])))
    #expect(created.metadata.uid != nil)
    var status = NodeStatus()
    status.conditions = [NodeCondition(type: "Ready", status: "True", reason: "KubeletReady")]
    status.addresses = [NodeAddress(type: "InternalIP", address: "127.0.0.1")]
    status.daemonEndpoints = NodeDaemonEndpoints(kubeletEndpoint: DaemonEndpoint(port: 12345))
    _ = try await node.patchNodeStatus("calls-node", status: status)
    let fetched = try await node.node("calls-node")
    #expect(fetched.status?.daemonEndpoints?.kubeletEndpoint?.Port == 12345)
    #expect(fetched.status?.conditions?.map(\.type) == ["Ready"])
    #expect(fetched.metadata.labels?["a"] == "b")

    // The node identity may not create pods (kube's system:node role cannot either).
    var container = Container(name: "c", image: "busybox")
    container.command = ["sleep", "1"]
    let pod = Pod(metadata: ObjectMeta(name: "calls-pod", namespace: "default"), spec: PodSpec(containers: [container]))
    await #expect(throws: KubeError.self) { _ = try await node.createPod(pod, namespace: "default") }
    let stored = try await admin.createPod(pod, namespace: "default")
    let uid = try #require(stored.metadata.uid)

    // Binding: once; a second binding is a 409 Conflict.
    try await node.bindPod("calls-pod", namespace: "default", uid: uid, node: "calls-node")
    #expect(try await admin.pod("calls-pod", namespace: "default").spec?.nodeName == "calls-node")
    do {
      try await node.bindPod("calls-pod", namespace: "default", uid: uid, node: "calls-node")
      Issue.record("a second binding succeeded")
    } catch {
      guard case .api(let apiStatus, 409) = error else { throw error }
      #expect(apiStatus.message?.contains("already assigned to node \"calls-node\"") == true)
    }

    // Status: the uid is a precondition; reason and message are cleared when nil.
    var podStatus = PodStatus(phase: "Running")
    podStatus.podIP = "127.0.0.1"
    podStatus.reason = "Testing"
    podStatus.message = "set"
    do {
      try await node.patchPodStatus("calls-pod", namespace: "default", uid: "not-the-uid", status: podStatus)
      Issue.record("a status patch for another uid succeeded")
    } catch {
      guard case .api(_, 409) = error else { throw error }
    }
    let patched = try await node.patchPodStatus("calls-pod", namespace: "default", uid: uid, status: podStatus)
    #expect(patched.status?.phase == "Running")
    #expect(patched.status?.reason == "Testing")
    podStatus.reason = nil
    podStatus.message = nil
    let cleared = try await node.patchPodStatus("calls-pod", namespace: "default", uid: uid, status: podStatus)
    #expect(cleared.status?.reason == nil && cleared.status?.message == nil)
    #expect(cleared.status?.podIP == "127.0.0.1")

    // Deletion: graceful (the pod is on a node), finished with gracePeriodSeconds 0 and the uid.
    let terminating = try await admin.deletePod("calls-pod", namespace: "default")
    #expect(terminating?.metadata.deletionTimestamp != nil)
    do {
      try await node.deletePod("calls-pod", namespace: "default", gracePeriodSeconds: 0, preconditionUID: "other")
      Issue.record("a delete for another uid succeeded")
    } catch {
      guard case .api(_, 409) = error else { throw error }
    }
    try await node.deletePod("calls-pod", namespace: "default", gracePeriodSeconds: 0, preconditionUID: uid)
    try await sandbox.waitForPodGone("calls-pod", seconds: 5)
  }
}
