/// A pod as the kubelet knows it: enough to name it in error texts, to find its network namespace and
/// to read its containers' logs.
public struct KubeletPod: Sendable, Equatable {
  public var namespace: String
  public var name: String
  public var uid: String
  /// The pod's network namespace (`/run/netns/<name>` or `/proc/<pid>/ns/net`); nil while the pod has
  /// no sandbox yet (the port-forward then fails as the runtime's does).
  public var netnsPath: String?
  /// Container name → its current CRI log file
  /// (`<logRoot>/<namespace>_<pod>_<uid>/<container>/<restartCount>.log`).
  public var containerLogPaths: [String: String]
  /// Container name → why it has no log yet (e.g. `ContainerCreating`, `ImagePullBackOff`).
  public var waitingReasons: [String: String]

  public init(
    namespace: String, name: String, uid: String, netnsPath: String? = nil,
    containerLogPaths: [String: String] = [:], waitingReasons: [String: String] = [:]
  ) {
    self.namespace = namespace
    self.name = name
    self.uid = uid
    self.netnsPath = netnsPath
    self.containerLogPaths = containerLogPaths
    self.waitingReasons = waitingReasons
  }
}

/// The pods bound to this kubelet's node. The kubelet asks at upgrade time (unknown pod → 404) and again
/// before each forwarded connection: a pod deleted while a session is open must fail new connections,
/// as a runtime whose sandbox is gone does. A following log stream asks periodically and ends when its
/// pod or container is gone.
public protocol KubeletPodDirectory: Sendable {
  func pod(namespace: String, name: String) -> KubeletPod?
}
