import Foundation
import KubeClient
import Testing
import TestSupport

@testable import NodeAgent

/// The node agent keeps registering until the API server answers, as the kubelet does: a node started
/// before its API server (or while it is briefly away) still joins.
@Suite("Node agent: registration", .timeLimit(.minutes(5)))
struct RegistrationTests {
  @Test("kftray-node started while its API server refuses connections registers once the server answers")
  func registersOnceTheAPIServerAnswers() async throws {
    let sandbox = try OwnSandbox.start()
    let scratch = try Teardown.temporaryDirectory("kftray-node-register")
    let nodeName = "agent-reg-\(UUID().uuidString.prefix(4).lowercased())"
    Leftovers.register(networkPrefix: "kft-\(BareNamespaceNetwork.id(forNode: nodeName))-")
    // The node's kubeconfig points at a loopback port where nothing listens yet.
    let away = try AwayAPIServer(copying: sandbox.nodeKubeconfig, into: scratch)
    let agent = try BackgroundProcess(
      Binaries.path("kftray-node"),
      [
        "--kubeconfig", away.kubeconfig, "--node-name", nodeName, "--kubelet-port", "10250", "--state-dir",
        scratch + "/state", "--log-root", scratch + "/logs",
      ], logPath: scratch + "/agent.log")
    defer { agent.stop() }
    try await waitFor { agent.log.contains("registration failed, retrying") }
    #expect(agent.isRunning, "\(agent.log)")

    let relay = try away.answer()
    defer { relay.stop() }
    let api = try sandbox.client()
    let deadline = ContinuousClock.now + .seconds(60)
    var ready = false
    while !ready, ContinuousClock.now < deadline {
      let node = try? await api.node(nodeName)
      ready = node?.status?.conditions?.contains { $0.type == "Ready" && $0.status == "True" } == true
      if !ready { try await Task.sleep(for: .milliseconds(200)) }
    }
    #expect(ready, "the node did not register; agent log:\n\(agent.log)\nrelay log:\n\(relay.log)")
    #expect(agent.isRunning)
  }
}
