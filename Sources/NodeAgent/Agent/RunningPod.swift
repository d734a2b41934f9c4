/// A pod this node runs, as the kubelet API needs it: where its network namespace is and which log
/// file each container currently writes.
public struct RunningPod: Sendable, Equatable {
  public var namespace: String
  public var name: String
  public var uid: String
  /// nil before the pod has its network and after it is torn down.
  public var netnsPath: String?
  /// Container name → its current log file (`<logRoot>/<ns>_<pod>_<uid>/<container>/<restartCount>.log`).
  public var containerLogPaths: [String: String]
  /// Container name → why it is waiting, for containers that have no log yet (`ContainerCreating`,
  /// `ErrImagePull`, ...).
  public var waitingReasons: [String: String]

  public init(
    namespace: String, name: String, uid: String, netnsPath: String?, containerLogPaths: [String: String],
    waitingReasons: [String: String]
  ) {
    self.namespace = namespace
    self.name = name
    self.uid = uid
    self.netnsPath = netnsPath
    self.containerLogPaths = containerLogPaths
    self.waitingReasons = waitingReasons
  }
}
