import KubeClient

/// A container as the pod worker tracks it, reduced to what its status shows.
struct ContainerView: Sendable, Equatable {
  var name: String
  var image: String
  var state: ContainerState
  var lastState: ContainerState?
  var restartCount: Int
  var containerID: String?
  /// Terminated and will not run again (restart policy, deadline, deletion).
  var finished: Bool
  /// The readiness probe's verdict; nil: the container has no probe (running means ready).
  var probeReady: Bool? = nil

  var ready: Bool { state.running != nil && (probeReady ?? true) }
}

/// Turns the containers' states into a pod status as the kubelet computes it (`getPhase`,
/// `GeneratePodReadyCondition`). A running container is ready unless its readiness probe says otherwise.
struct PodStatusBuilder {
  var restartPolicy: String
  var hostIP: String
  var podIP: String?
  var startTime: String?
  var scheduledAt: String?
  /// Set when the pod failed as a whole (`DeadlineExceeded`).
  var failure: (reason: String, message: String)?

  func phase(_ containers: [ContainerView]) -> String {
    if failure != nil { return "Failed" }
    var pending = 0
    var running = 0
    var stopped = 0
    var succeeded = 0
    for container in containers {
      if container.state.running != nil {
        running += 1
      } else if let terminated = container.state.terminated {
        stopped += 1
        if terminated.exitCode == 0 { succeeded += 1 }
      } else if container.lastState?.terminated != nil {
        stopped += 1  // waiting to restart after a run
      } else {
        pending += 1
      }
    }
    if pending > 0 { return "Pending" }
    if running > 0 { return "Running" }
    guard stopped == containers.count, !containers.isEmpty else { return "Pending" }
    if containers.allSatisfy(\.finished) { return succeeded == stopped ? "Succeeded" : "Failed" }
    return "Running"  // at least one will restart
  }

  func status(_ containers: [ContainerView], previous: PodStatus?) -> PodStatus {
    let phase = phase(containers)
    var status = PodStatus(phase: phase)
    status.hostIP = hostIP
    status.hostIPs = [PodIP(ip: hostIP)]
    if let podIP {
      status.podIP = podIP
      status.podIPs = [PodIP(ip: podIP)]
    }
    status.startTime = startTime
    if let failure {
      status.reason = failure.reason
      status.message = failure.message
    }
    status.containerStatuses = containers.map { container in
      var s = ContainerStatus(name: container.name, image: container.image, ready: container.ready,
        restartCount: container.restartCount)
      s.started = container.state.running != nil
      s.state = container.state
      s.lastState = container.lastState ?? ContainerState()
      s.containerID = container.containerID
      s.imageID = ""
      return s
    }
    let notReady = containers.filter { !$0.ready }.map(\.name)
    let allReady = notReady.isEmpty && !containers.isEmpty
    let completed = phase == "Succeeded" || phase == "Failed"
    var conditions = [
      PodCondition(type: "PodReadyToStartContainers", status: podIP != nil && !completed ? "True" : "False"),
      PodCondition(type: "Initialized", status: "True"),
    ]
    for type in ["Ready", "ContainersReady"] {
      if allReady {
        conditions.append(PodCondition(type: type, status: "True"))
      } else {
        let reason = completed ? "PodCompleted" : "ContainersNotReady"
        let message = completed ? nil : "containers with unready status: [\(notReady.joined(separator: " "))]"
        conditions.append(PodCondition(type: type, status: "False", reason: reason, message: message))
      }
    }
    conditions.append(PodCondition(type: "PodScheduled", status: "True", lastTransitionTime: scheduledAt))
    // A condition keeps its transition time while its status stays the same.
    let now = Timestamps.now()
    status.conditions = conditions.map { condition in
      var condition = condition
      if let old = previous?.conditions?.first(where: { $0.type == condition.type }), old.status == condition.status,
        let time = old.lastTransitionTime
      {
        condition.lastTransitionTime = time
      } else if condition.lastTransitionTime == nil {
        condition.lastTransitionTime = now
      }
      return condition
    }
    return status
  }
}
