import KubeletAPI
import NIOCore

/// The in-process stand-in node of an API-only sandbox (`SandboxOptions.cluster == false`): a kubelet API
/// listening on loopback and the Node `kftray-node` written into the store, but no agent: pods are never
/// run. Tests of the API server and of the kubelet's SPDY server use it; everything else uses `ClusterNode`.
struct SandboxNode {
  let kubelet: KubeletServer

  static func start(
    store: ObjectStore, pki: PKI, group: EventLoopGroup, name: String = NodeRegistration.defaultNodeName,
    dialer: any PodPortDialer = SandboxPodPortDialer()
  ) async throws -> SandboxNode {
    let kubelet = try await KubeletServer.start(
      nodeName: name, pki: pki, pods: StorePodDirectory(store: store, nodeName: name), dialer: dialer, group: group)
    do {
      try NodeRegistration.register(in: store, name: name, kubeletPort: kubelet.port)
      return SandboxNode(kubelet: kubelet)
    } catch {
      await kubelet.close()
      throw error
    }
  }
}

extension KubeletServer {
  /// A kubelet for the sandbox (see `KubeletConfiguration.sandbox`).
  static func start(
    nodeName: String, pki: PKI, pods: any KubeletPodDirectory, dialer: any PodPortDialer = SandboxPodPortDialer(),
    sessionConfiguration: KubeletPortForwardConfiguration = KubeletPortForwardConfiguration(),
    streamIdleTimeout: TimeAmount = .hours(4), logStateCheckInterval: TimeAmount = .seconds(5),
    group: EventLoopGroup
  ) async throws -> KubeletServer {
    var configuration = try KubeletConfiguration.sandbox(nodeName: nodeName, pki: pki)
    configuration.streamIdleTimeout = streamIdleTimeout
    configuration.portForward = sessionConfiguration
    configuration.logStateCheckInterval = logStateCheckInterval
    return try await start(configuration: configuration, pods: pods, dialer: dialer, group: group)
  }
}

extension KubeletConfiguration {
  /// The sandbox's kubelet: its serving certificate issued by the sandbox CA (as the API server's proxy
  /// verifies it), client certificates verified against the same CA, only the API server's kubelet
  /// client identity served.
  static func sandbox(nodeName: String, pki: PKI) throws -> KubeletConfiguration {
    let serving = try KubeletCertificate.issue(nodeName: nodeName, ca: pki.ca)
    return KubeletConfiguration(
      nodeName: nodeName, servingCertificatePEM: serving.certificatePEM, servingKeyPEM: serving.keyPEM,
      clientCAPEM: pki.ca.certificatePEM)
  }
}

/// STAND-IN until the node agent runs pods: store pods that name a network namespace (the sandbox-only
/// annotation, see `StorePodDirectory`) are dialed inside it as containerd does; the others have no
/// namespace at all, so they are dialed on the host's loopback (`LoopbackPodPortDialer`) as before.
struct SandboxPodPortDialer: PodPortDialer {
  let namespaced = NetnsPodPortDialer()
  let loopback = LoopbackPodPortDialer()

  func dial(
    pod: KubeletPod, port: UInt16, on eventLoop: EventLoop,
    initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
  ) -> EventLoopFuture<Channel> {
    if pod.netnsPath != nil { return namespaced.dial(pod: pod, port: port, on: eventLoop, initializer: initializer) }
    return loopback.dial(pod: pod, port: port, on: eventLoop, initializer: initializer)
  }
}
