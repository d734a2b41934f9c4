import NIOCore

/// The sandbox's node as the API server sees it: a kubelet API listening on loopback, the Node object
/// that says where (`kftray-node`, InternalIP 127.0.0.1, the kubelet port), and the API server's proxy
/// that reaches it.
struct SandboxNode {
  let kubelet: KubeletServer
  let proxy: KubeletProxy

  static func start(
    store: ObjectStore, pki: PKI, group: EventLoopGroup, name: String = NodeRegistration.defaultNodeName,
    dialer: any PodPortDialer = LoopbackPodPortDialer()
  ) async throws -> SandboxNode {
    let kubelet = try await KubeletServer.start(
      nodeName: name, pki: pki, pods: StorePodDirectory(store: store, nodeName: name), dialer: dialer, group: group)
    do {
      try NodeRegistration.register(in: store, name: name, kubeletPort: kubelet.port)
      return SandboxNode(kubelet: kubelet, proxy: KubeletProxy(store: store, dialer: try KubeletDialer(pki: pki)))
    } catch {
      await kubelet.close()
      throw error
    }
  }
}
