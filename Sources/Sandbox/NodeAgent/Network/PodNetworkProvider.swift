/// Where a pod's containers run: a network namespace (by name for `ip netns exec`, by path for the
/// kubelet's port-forward) and the pod's IPv4 address.
public struct PodNetworkAttachment: Sendable, Equatable {
  public var netnsName: String
  public var netnsPath: String
  public var ipv4: String

  public init(netnsName: String, netnsPath: String, ipv4: String) {
    self.netnsName = netnsName
    self.netnsPath = netnsPath
    self.ipv4 = ipv4
  }
}

/// Gives each pod its network (the CNI of this node). `detachPod` removes everything `attachPod` made
/// and is harmless for a pod that has nothing attached.
public protocol PodNetworkProvider: Sendable {
  func attachPod(uid: String, namespace: String, name: String) throws -> PodNetworkAttachment
  func detachPod(uid: String)
}
