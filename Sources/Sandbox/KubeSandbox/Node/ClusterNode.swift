import Foundation
import KubeClient
import KubeletAPI
import NIOConcurrencyHelpers
import NIOCore
import NodeAgent
import PodNetwork
import SandboxNetwork

/// A real node: the cluster network (a namespace per pod, cluster DNS, seeded services), the node agent
/// that runs pods as processes in those namespaces and talks to its API server only through the public
/// API with its node identity, and the agent's kubelet API, which the API server proxies `pods/log` and
/// `pods/portforward` to. The same node serves the sandbox's own API server (`SandboxServer`) and a
/// foreign one (`JoinedNode`); only the identity and the kubelet's TLS files differ.
final class ClusterNode: Sendable {
  /// Who the node is and where it keeps its files.
  struct Settings: Sendable {
    var nodeName: String
    /// The API as the node identity (a kubeconfig with the node's credentials).
    var api: KubeAPI
    /// The kubelet API's listener, serving certificate and client CA.
    var kubelet: KubeletConfiguration
    /// The network's namespaces are named after this directory (see `ClusterNetwork.identifier`).
    var directory: URL
    var binDirectory: String
    var logRoot: String
    var stateDirectory: String
    var log: @Sendable (String) -> Void
  }

  let network: ClusterNetwork
  let agent: NodeAgent
  let kubelet: KubeletServer
  private let agentRun: Task<Void, Never>

  private init(network: ClusterNetwork, agent: NodeAgent, kubelet: KubeletServer, agentRun: Task<Void, Never>) {
    self.network = network
    self.agent = agent
    self.kubelet = kubelet
    self.agentRun = agentRun
  }

  /// Builds the network, starts the kubelet API and the agent, and returns once the API server has the
  /// agent's Node (read back through the API, as any client would see it).
  static func start(_ settings: Settings, group: EventLoopGroup) async throws -> ClusterNode {
    let network = try ClusterNetwork.create(
      directory: settings.directory, id: ClusterNetwork.identifier(for: settings.directory),
      tools: .debian(testServer: settings.binDirectory + "/kftray-testserver"))
    do {
      var api = settings.api
      api.fieldManager = "kftray-node"
      var configuration = NodeAgentConfiguration(
        nodeName: settings.nodeName, api: api, network: ClusterNetworkPods(network: network),
        binDirectory: settings.binDirectory, logRoot: settings.logRoot, stateDirectory: settings.stateDirectory)
      configuration.log = settings.log
      let agent = NodeAgent(configuration: configuration)
      let kubelet = try await KubeletServer.start(
        configuration: settings.kubelet, pods: agent, dialer: NetnsPodPortDialer(), group: group)
      let port = kubelet.port
      // The agent's own failure (say, a 403 on registration) ends the wait below with its cause.
      let failure = NIOLockedValueBox<(any Error)?>(nil)
      let log = settings.log
      let agentRun = Task {
        do { try await agent.run(kubeletPort: port) } catch {
          log("node agent: \(error)")
          failure.withLockedValue { $0 = error }
        }
      }
      let node = ClusterNode(network: network, agent: agent, kubelet: kubelet, agentRun: agentRun)
      let deadline = ContinuousClock.now + .seconds(30)
      while (try? await api.node(settings.nodeName)) == nil {
        if let error = failure.withLockedValue({ $0 }) {
          await node.shutdown(keepNetwork: true)
          throw ClusterNodeFailure.agentFailed(node: settings.nodeName, error)
        }
        guard ContinuousClock.now < deadline else {
          await node.shutdown(keepNetwork: true)
          throw ClusterNodeFailure.notRegistered(node: settings.nodeName)
        }
        try await Task.sleep(for: .milliseconds(100))
      }
      return node
    } catch {
      try? network.destroy()
      throw error
    }
  }

  /// Stops the pods' processes and the kubelet API, and removes the network.
  func shutdown() async { await shutdown(keepNetwork: false) }

  private func shutdown(keepNetwork: Bool) async {
    await agent.stop()
    await agentRun.value
    await kubelet.close()
    if !keepNetwork { try? network.destroy() }
  }
}

/// Why a node did not come up.
enum ClusterNodeFailure: Error, CustomStringConvertible {
  case agentFailed(node: String, any Error)
  case notRegistered(node: String)

  var description: String {
    switch self {
    case .agentFailed(let node, let error): return "the node agent of \(node) stopped: \(error)"
    case .notRegistered(let node): return "the node agent did not register node \(node) within 30 s; see the log"
    }
  }
}

/// The cluster network as the agent's pod network (a CNI plugin, in a real node).
struct ClusterNetworkPods: PodNetworkProvider {
  let network: ClusterNetwork

  func attachPod(uid: String, namespace: String, name: String) throws -> PodNetworkAttachment {
    try network.attachPod(uid: uid, namespace: namespace, name: name)
  }

  func detachPod(uid: String) {
    // Idempotent; a failure leaves the namespace to `destroy`/`removeLeftovers`, which retry it.
    try? network.detachPod(uid: uid)
  }
}
