import Kubelet

/// The agent's pods as its kubelet API serves them (logs, port-forward): only while it runs them.
extension NodeAgent: KubeletPodDirectory {
  public func pod(namespace: String, name: String) -> KubeletPod? {
    guard let pod = runningPod(namespace: namespace, name: name) else { return nil }
    return KubeletPod(
      namespace: pod.namespace, name: pod.name, uid: pod.uid, netnsPath: pod.netnsPath,
      containerLogPaths: pod.containerLogPaths, waitingReasons: pod.waitingReasons)
  }
}
