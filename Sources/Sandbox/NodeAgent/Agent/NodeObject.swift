import Foundation
import KubeClient

/// The Node this agent registers and the status it renews, shaped like a kubelet's.
struct NodeObject {
  var name: String
  var hostIP: String
  var kubeletPort: Int

  static let version = "v1.32.0-kftray-node"

  var labels: [String: String] {
    [
      "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": Self.architecture,
      "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": Self.architecture,
    ]
  }

  func node() -> Node {
    Node(metadata: ObjectMeta(name: name, labels: labels), status: status(previous: nil))
  }

  /// Ready with a fresh heartbeat; transition times are kept from `previous` while a condition holds.
  func status(previous: NodeStatus?) -> NodeStatus {
    let now = Timestamps.now()
    func condition(_ type: String, _ status: String, _ reason: String, _ message: String) -> NodeCondition {
      let old = previous?.conditions?.first { $0.type == type && $0.status == status }
      return NodeCondition(
        type: type, status: status, reason: reason, message: message, lastHeartbeatTime: now,
        lastTransitionTime: old?.lastTransitionTime ?? now)
    }
    var status = NodeStatus()
    status.conditions = [
      condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
      condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
      condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
      condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
    status.addresses = [NodeAddress(type: "InternalIP", address: hostIP), NodeAddress(type: "Hostname", address: name)]
    status.daemonEndpoints = NodeDaemonEndpoints(kubeletEndpoint: DaemonEndpoint(port: kubeletPort))
    let resources = [
      "cpu": String(ProcessInfo.processInfo.activeProcessorCount),
      "memory": "\(ProcessInfo.processInfo.physicalMemory / 1024)Ki", "pods": "110", "ephemeral-storage": "10Gi",
    ]
    status.capacity = resources
    status.allocatable = resources
    var info = NodeSystemInfo()
    info.kubeletVersion = Self.version
    info.kubeProxyVersion = Self.version
    info.containerRuntimeVersion = "kftray-node://0.1.0"
    info.osImage = Self.osImage
    info.kernelVersion = (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?
      .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    info.architecture = Self.architecture
    info.machineID = (try? String(contentsOfFile: "/etc/machine-id", encoding: .utf8))?
      .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    info.bootID = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
      .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    status.nodeInfo = info
    return status
  }

  static var architecture: String {
    #if arch(x86_64)
      return "amd64"
    #elseif arch(arm64)
      return "arm64"
    #else
      return "unknown"
    #endif
  }

  static var osImage: String {
    guard let text = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8) else { return "Linux" }
    for line in text.split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
      return String(line.dropFirst("PRETTY_NAME=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }
    return "Linux"
  }

  /// Whether this node's binder schedules the pod at all: pods for the default scheduler only (others
  /// wait for their own scheduler).
  func schedules(_ pod: Pod) -> Bool {
    let scheduler = pod.spec?.schedulerName ?? ""
    return scheduler.isEmpty || scheduler == "default-scheduler"
  }
}

/// What the binder's filters read from its Node as the API server has it now (someone may have labelled
/// or tainted it). A pod that did not fit is retried when this changes, as kube requeues unschedulable
/// pods on a Node update.
struct SchedulingView: Equatable {
  var taints: [Taint]
  var labels: [String: String]

  /// The scheduler's filters in its order (TaintToleration before NodeAffinity), for one node: nil when
  /// the pod fits, else the FitError message kube writes into the condition and the event.
  func unfitMessage(_ pod: Pod) -> String? {
    let tolerations = pod.spec?.tolerations ?? []
    // NoSchedule and NoExecute taints must be tolerated (PreferNoSchedule only scores).
    if let untolerated = taints.first(where: { taint in
      taint.effect != "PreferNoSchedule" && !tolerations.contains { taint.isTolerated(by: $0) }
    }) {
      return Self.fitError("1 node(s) had untolerated taint \(untolerated.schedulerDescription)")
    }
    for (key, value) in pod.spec?.nodeSelector ?? [:] where labels[key] != value {
      return Self.fitError("1 node(s) didn't match Pod's node affinity/selector")
    }
    return nil
  }

  /// `FitError.Error()` for a cluster of one node, with the preemption post-filter's verdict.
  static func fitError(_ reason: String) -> String {
    "0/1 nodes are available: \(reason). preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
  }
}
