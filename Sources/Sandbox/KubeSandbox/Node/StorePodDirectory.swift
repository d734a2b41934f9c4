import KubeletAPI

/// The in-process directory: reads the sandbox API server's store directly (pods whose `spec.nodeName`
/// is this node and that are not being deleted). The node agent will replace it with its own pods
/// (network namespaces and log files it made), as a kubelet has.
///
/// Until then there are no real namespaces or log files behind store pods, so two sandbox-only
/// annotations stand in for what the node agent will supply (tests use them to point the kubelet at a
/// namespace and log files they made themselves):
/// - `sandbox.kftray.dev/netns`: the pod's network namespace path;
/// - `sandbox.kftray.dev/log.<container>`: the container's current CRI log file.
/// A container of the spec without a log annotation is waiting: the reason from its status
/// (`state.waiting.reason`), else `ContainerCreating`.
struct StorePodDirectory: KubeletPodDirectory {
  let store: ObjectStore
  let nodeName: String

  static let netnsAnnotation = "sandbox.kftray.dev/netns"
  static let logAnnotationPrefix = "sandbox.kftray.dev/log."

  func pod(namespace: String, name: String) -> KubeletPod? {
    guard let pod = store.get(ObjectKey(resource: "pods", namespace: namespace, name: name)),
      pod["spec"]?["nodeName"]?.stringValue == nodeName,
      pod["metadata"]?["deletionTimestamp"] == nil
    else { return nil }
    return Self.kubeletPod(pod)
  }

  static func kubeletPod(_ pod: JSONValue) -> KubeletPod {
    let annotations = pod["metadata"]?["annotations"]
    var logs: [String: String] = [:]
    var waiting: [String: String] = [:]
    let statuses = (pod["status"]?["containerStatuses"]?.arrayValue ?? []) + (pod["status"]?["initContainerStatuses"]?.arrayValue ?? [])
    let containers = (pod["spec"]?["containers"]?.arrayValue ?? []) + (pod["spec"]?["initContainers"]?.arrayValue ?? [])
    for container in containers {
      guard let name = container["name"]?.stringValue else { continue }
      if let path = annotations?[logAnnotationPrefix + name]?.stringValue, !path.isEmpty {
        logs[name] = path
      } else {
        let status = statuses.first { $0["name"]?.stringValue == name }
        waiting[name] = status?["state"]?["waiting"]?["reason"]?.stringValue ?? "ContainerCreating"
      }
    }
    let netns = annotations?[netnsAnnotation]?.stringValue
    return KubeletPod(
      namespace: pod["metadata"]?["namespace"]?.stringValue ?? "", name: pod["metadata"]?["name"]?.stringValue ?? "",
      uid: pod["metadata"]?["uid"]?.stringValue ?? "", netnsPath: netns?.isEmpty == false ? netns : nil,
      containerLogPaths: logs, waitingReasons: waiting)
  }
}
