import Foundation
import KubeClient
import KubeletAPI
import NIOCore
import NodeAgent
import PodNetwork
import SandboxNetwork

/// The sandbox's real node: the cluster network (a namespace per pod, cluster DNS, seeded services), the
/// node agent that runs pods as processes in those namespaces and talks to the API server only through
/// the public API with its node identity, and the agent's kubelet API, which the API server proxies
/// `pods/log` and `pods/portforward` to.
final class ClusterNode: Sendable {
  static let nodeName = NodeRegistration.defaultNodeName

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

  /// Builds the network, starts the kubelet API and the agent, and returns once the agent's Node is
  /// registered (read from `store`: the API server is in this process).
  static func start(
    files: SandboxFiles, pki: PKI, store: ObjectStore, group: EventLoopGroup, binDirectory: String,
    log: @escaping @Sendable (String) -> Void
  ) async throws -> ClusterNode {
    let network = try ClusterNetwork.create(
      directory: files.directory, id: ClusterNetwork.identifier(for: files.directory),
      tools: .debian(testServer: binDirectory + "/kftray-testserver"))
    do {
      let loader = KubeconfigLoader(environment: [:])
      var overrides = ConfigOverrides()
      overrides.kubeconfig = files.nodeKubeconfig.path
      let config = try loader.load(overrides)
      var api = KubeAPI(config: config, credentials: KubeCredentials(config: config))
      api.fieldManager = "kftray-node"
      var configuration = NodeAgentConfiguration(
        nodeName: nodeName, api: api, network: ClusterNetworkPods(network: network), binDirectory: binDirectory,
        logRoot: files.podLogs.path, stateDirectory: files.nodeState.path)
      configuration.log = log
      let agent = NodeAgent(configuration: configuration)
      let kubelet = try await KubeletServer.start(
        nodeName: nodeName, pki: pki, pods: agent, dialer: NetnsPodPortDialer(), group: group)
      let port = kubelet.port
      let agentRun = Task {
        do { try await agent.run(kubeletPort: port) } catch { log("node agent: \(error)") }
      }
      let node = ClusterNode(network: network, agent: agent, kubelet: kubelet, agentRun: agentRun)
      let deadline = ContinuousClock.now + .seconds(30)
      while store.get(ObjectKey(resource: "nodes", name: nodeName)) == nil {
        guard ContinuousClock.now < deadline else {
          await node.shutdown()
          throw SandboxStartFailure("the node agent did not register node \(nodeName) within 30 s; see the log")
        }
        try await Task.sleep(for: .milliseconds(50))
      }
      return node
    } catch {
      try? network.destroy()
      throw error
    }
  }

  /// Stops the pods' processes, the kubelet API and removes the network.
  func shutdown() async {
    await agent.stop()
    await agentRun.value
    await kubelet.close()
    try? network.destroy()
  }
}

struct SandboxStartFailure: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
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
