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
    // The node's kubeconfig, pointed at a loopback port where nothing listens yet. The API server's
    // certificate names 127.0.0.1, so a plain TCP relay on that port later makes it the same server.
    let server = try SplitSandbox.serverURL(kubeconfig: sandbox.nodeKubeconfig)
    let apiPort = try #require(server.split(separator: ":").last.map(String.init))
    let relayPort = try freeLoopbackPort()
    let kubeconfig = scratch + "/node.kubeconfig"
    try String(contentsOfFile: sandbox.nodeKubeconfig, encoding: .utf8)
      .replacingOccurrences(of: server, with: "https://127.0.0.1:\(relayPort)")
      .write(toFile: kubeconfig, atomically: true, encoding: .utf8)
    let agent = try BackgroundProcess(
      Binaries.path("kftray-node"),
      [
        "--kubeconfig", kubeconfig, "--node-name", nodeName, "--kubelet-port", "10250", "--state-dir",
        scratch + "/state", "--log-root", scratch + "/logs",
      ], logPath: scratch + "/agent.log")
    defer { agent.stop() }
    try await waitFor { agent.log.contains("registration failed, retrying") }
    #expect(agent.isRunning, "\(agent.log)")

    let relay = try BackgroundProcess(
      Binaries.path("kftray-bench"),
      ["delay-proxy", "--listen", "127.0.0.1:\(relayPort)", "--to", "127.0.0.1:\(apiPort)", "--rtt", "0ms"],
      logPath: scratch + "/relay.log")
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
