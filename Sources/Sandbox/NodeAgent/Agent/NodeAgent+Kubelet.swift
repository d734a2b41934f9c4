import KubeletAPI

/// The agent's pods as its kubelet API serves them (logs, port-forward): only while it runs them.
extension NodeAgent: KubeletPodDirectory {
  public func pod(namespace: String, name: String) -> KubeletPod? { runningPod(namespace: namespace, name: name) }
}
