/// Gives each pod its network (the CNI of this node). `detachPod` removes everything `attachPod` made
/// and is harmless for a pod that has nothing attached.
public protocol PodNetworkProvider: Sendable {
  func attachPod(uid: String, namespace: String, name: String) throws -> PodNetworkAttachment
  func detachPod(uid: String)
}
