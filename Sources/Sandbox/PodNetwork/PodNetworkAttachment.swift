/// Where a pod's containers run: its named network namespace and its IPv4 address. What a
/// `PodNetworkProvider` hands the node agent, whichever network made it.
public struct PodNetworkAttachment: Sendable, Equatable {
  /// The `ip netns` name; `ip netns exec <netnsName> …` runs a program inside the pod's network with
  /// the pod's resolv.conf and hosts as /etc/resolv.conf and /etc/hosts.
  public var netnsName: String
  /// The namespace file to `setns` into (/run/netns/<netnsName>), for the kubelet's port-forward.
  public var netnsPath: String
  public var ipv4: String

  public init(netnsName: String, netnsPath: String, ipv4: String) {
    self.netnsName = netnsName
    self.netnsPath = netnsPath
    self.ipv4 = ipv4
  }
}
