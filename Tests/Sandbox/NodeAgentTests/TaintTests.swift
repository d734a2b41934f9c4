import Foundation
import KubeClient
import Testing
import TestSupport

@testable import NodeAgent

/// Node taints as a real cluster has them: not-ready until the Node is Ready (admission, then the node
/// lifecycle controller), and a binder that respects taints and tolerations. An agent of its own: the
/// taints here would hold up the pods of the other suites.
@Suite("taints", .serialized)
struct TaintTests {
  static let fixture = AgentFixture()

  func taints(_ sandbox: OwnSandbox, _ node: String) async throws -> String {
    try await sandbox.kubectl(["get", "node", node, "-o", "jsonpath={.spec.taints}"]).stdout
  }

  @Test("a Node is tainted not-ready:NoSchedule while its Ready condition is not True")
  func notReadyTaintFollowsReadiness() async throws {
    let running = try await Self.fixture.start()
    let sandbox = running.sandbox
    // Created by hand, never Ready: admission's taint stays.
    let manifest = sandbox.directory + "/bare-node.json"
    try #"{"apiVersion":"v1","kind":"Node","metadata":{"name":"bare-node"}}"#.write(toFile: manifest, atomically: true, encoding: .utf8)
    let created = try await sandbox.kubectl(["create", "-f", manifest])
    #expect(created.status == 0, "\(created.stderr)")
    #expect(try await taints(sandbox, "bare-node") == #"[{"effect":"NoSchedule","key":"node.kubernetes.io/not-ready"}]"#)
    // The agent's Node is Ready, so untainted; marked not Ready it is tainted until the next heartbeat.
    #expect(try await eventually { try await taints(sandbox, running.nodeName).isEmpty })
    let patch = #"{"status":{"conditions":[{"type":"Ready","status":"False","reason":"Test","message":"test"}]}}"#
    let patched = try await sandbox.kubectl(["patch", "node", running.nodeName, "--subresource=status", "--type=merge", "-p", patch])
    #expect(patched.status == 0, "\(patched.stderr)")
    #expect(try await eventually { try await taints(sandbox, running.nodeName).contains("node.kubernetes.io/not-ready") })
    #expect(try await eventually { try await taints(sandbox, running.nodeName).isEmpty })
  }

  @Test("a pod that tolerates nothing stays Pending with FailedScheduling while the node is tainted; then it is scheduled")
  func binderRespectsTaints() async throws {
    let running = try await Self.fixture.start()
    let sandbox = running.sandbox
    let api = try sandbox.client()
    try await sandbox.kubectl(["taint", "node", running.nodeName, "example.com/maintenance=1:NoSchedule"])
    let name = uniqueName("tainted")
    let tolerant = uniqueName("tolerant")
    try await sandbox.kubectl(["run", name, "--image=busybox", "--restart=Never", "--", "sleep", "60"])
    let toleration = #"{"spec":{"tolerations":[{"key":"example.com/maintenance","operator":"Exists","effect":"NoSchedule"}]}}"#
    try await sandbox.kubectl(["run", tolerant, "--image=busybox", "--restart=Never", "--overrides", toleration, "--", "sleep", "60"])
    _ = try await sandbox.waitForPod(tolerant) { $0.spec?.nodeName == running.nodeName }
    var failed: [Event] = []
    #expect(try await eventually {
      failed = try await api.events(namespace: "default", involvedObjectName: name).filter { $0.reason == "FailedScheduling" }
      return !failed.isEmpty
    })
    #expect(failed.first?.type == "Warning")
    #expect(failed.first?.message == "0/1 nodes are available: 1 node(s) had untolerated taint {example.com/maintenance: 1}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.")
    let pending = try await api.pod(name, namespace: "default")
    #expect((pending.spec?.nodeName ?? "").isEmpty)
    let describe = try await sandbox.kubectl(["describe", "pod", name])
    #expect(describe.stdout.contains("Warning  FailedScheduling"), "\(describe.stdout)")

    try await sandbox.kubectl(["taint", "node", running.nodeName, "example.com/maintenance-"])
    _ = try await sandbox.waitForPod(name, seconds: 20) { $0.spec?.nodeName == running.nodeName }
    #expect(try await eventually {
      try await api.events(namespace: "default", involvedObjectName: name).contains { $0.reason == "Scheduled" }
    })
    try await sandbox.kubectl(["delete", "pod", name, tolerant, "--wait=false"])
  }
}

func eventually(seconds: Double = 15, _ condition: () async throws -> Bool) async throws -> Bool {
  let deadline = ContinuousClock.now + .seconds(seconds)
  while ContinuousClock.now < deadline {
    if try await condition() { return true }
    try await Task.sleep(for: .milliseconds(200))
  }
  return try await condition()
}
