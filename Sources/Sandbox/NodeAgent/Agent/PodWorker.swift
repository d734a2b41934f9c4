import Foundation
import KubeClient
import KubeletAPI
import PodNetwork

/// What a pod worker needs from its agent.
struct WorkerContext: Sendable {
  var api: KubeAPI
  var network: any PodNetworkProvider
  var catalog: ImageCatalog
  var logRoot: String
  var hostIP: String
  var records: PodRecords
  /// The kubelet's event recorder (`source.component: kubelet`, `host`: the node).
  var events: EventRecorder
  var publish: @Sendable (_ uid: String, _ pod: RunningPod?) -> Void
  var log: @Sendable (String) -> Void
}

/// Runs one pod (one uid) from binding to removal, in one task that handles one event at a time:
/// API updates, container exits and its own timers. Reports the pod's status after every change.
final class PodWorker: Sendable {
  enum Event: Sendable {
    case updated(Pod)
    /// The pod is gone from the API (deleted, or force-deleted without a grace period).
    case removed
    case exited(container: Int, run: Int, ExitStatus)
    /// A readiness probe's outcome for that start of the container.
    case probed(container: Int, run: Int, success: Bool)
    case timer(Timer)
    /// The agent stops: kill everything, tear down the network, leave the pod in the API.
    case shutdown
  }

  enum Timer: Sendable {
    case start(container: Int, run: Int)
    case pullBackOff(container: Int, run: Int)
    case graceExpired
    case deadline
    case retryNetwork
    case resync
    case probe(container: Int, run: Int)
  }

  let uid: String
  private let inbox: AsyncStream<Event>.Continuation
  private let task: Task<Void, Never>

  init(pod: Pod, context: WorkerContext) {
    uid = pod.metadata.uid ?? ""
    let (events, inbox) = AsyncStream<Event>.makeStream()
    self.inbox = inbox
    task = Task {
      var loop = PodLoop(pod: pod, context: context, inbox: inbox)
      await loop.run(events)
    }
  }

  func send(_ event: Event) { inbox.yield(event) }

  /// Returns when the worker has finished (after `removed`, a completed deletion, or `shutdown`).
  func finished() async { await task.value }
}

/// The state of one pod's containers, owned by its worker's task.
private struct PodLoop {
  var pod: Pod
  let context: WorkerContext
  let inbox: AsyncStream<PodWorker.Event>.Continuation
  var slots: [ContainerSlot]
  var attachment: PodNetworkAttachment?
  var networkDetached = false
  var startTime: String
  var failure: (reason: String, message: String)?
  var terminating = false
  var removed = false
  var shuttingDown = false
  var lastReported: PodStatus?
  var timers: [Task<Void, Never>] = []

  struct ContainerSlot {
    var spec: Container
    var view: ContainerView
    var process: ContainerProcess?
    /// Counts start attempts; events of an older attempt are stale.
    var run = 0
    var lastTerminated: ContainerState.Terminated?
    var restartBackoff = Backoff()
    var lastRestart: ContinuousClock.Instant?
    var pullBackoff = Backoff()
    var logPath: String?
    var probeSuccesses = 0
    var probeFailures = 0
  }

  var uid: String { pod.metadata.uid ?? "" }
  var name: String { pod.metadata.name ?? "" }
  var namespace: String { pod.metadata.namespace ?? "" }
  var podRef: String { "\(name)_\(namespace)(\(uid))" }
  var events: KubeletEvents { KubeletEvents(recorder: context.events, pod: pod) }

  init(pod: Pod, context: WorkerContext, inbox: AsyncStream<PodWorker.Event>.Continuation) {
    self.pod = pod
    self.context = context
    self.inbox = inbox
    startTime = pod.status?.startTime ?? Timestamps.now()
    slots = (pod.spec?.containers ?? []).map { container in
      // A pod that already ran (under an earlier run of this agent) starts its containers again: that
      // counts as a restart of each container that had started, as after a node reboot.
      let previous = pod.status?.containerStatuses?.first { $0.name == container.name }
      let hadStarted = previous?.state?.running != nil || previous?.state?.terminated != nil
        || previous?.lastState?.terminated != nil
      let restarts = (previous?.restartCount ?? 0) + (hadStarted ? 1 : 0)
      return ContainerSlot(
        spec: container,
        view: ContainerView(
          name: container.name, image: container.image,
          state: ContainerState(waiting: .init(reason: "ContainerCreating")), restartCount: restarts, finished: false))
    }
  }

  // MARK: The loop

  mutating func run(_ events: AsyncStream<PodWorker.Event>) async {
    publish()
    // A pod first seen while it is being deleted (the agent restarted) is not started at all.
    if pod.metadata.deletionTimestamp != nil { beginTermination() }
    await report()
    attachNetwork()
    if let deadline = pod.spec?.activeDeadlineSeconds {
      let elapsed = Timestamps.parse(startTime).map { Date().timeIntervalSince($0) } ?? 0
      schedule(.deadline, after: max(0, Double(deadline) - elapsed))
    }
    publish()
    var done = await finishIfDone()
    if !done { await report() }
    var iterator = events.makeAsyncIterator()
    while !done, let event = await iterator.next() {
      handle(event)
      publish()
      done = await finishIfDone()
      if !done { await report() }
    }
    for timer in timers { timer.cancel() }
    inbox.finish()
    context.publish(uid, nil)
  }

  mutating func handle(_ event: PodWorker.Event) {
    switch event {
    case .updated(let updated):
      pod.metadata = updated.metadata
      if updated.metadata.deletionTimestamp != nil, !terminating { beginTermination() }
    case .removed:
      removed = true
      if !terminating { beginTermination(grace: 2) }
    case .shutdown:
      shuttingDown = true
      terminating = true
      for slot in slots { slot.process?.signal(SIGKILL) }
    case .exited(let index, let run, let status):
      guard slots[index].run == run else { return }
      exited(index, status)
    case .timer(.start(let index, let run)):
      guard slots[index].run == run, !terminating, failure == nil else { return }
      restart(index)
    case .timer(.pullBackOff(let index, let run)):
      guard slots[index].run == run, !terminating, failure == nil else { return }
      let seconds = slots[index].pullBackoff.next()
      slots[index].view.state = ContainerState(
        waiting: .init(reason: "ImagePullBackOff", message: "Back-off pulling image \"\(slots[index].spec.image)\""))
      events.pullBackOff(slots[index].spec.name, image: slots[index].spec.image)
      schedule(.start(container: index, run: run), after: Double(seconds))
    case .timer(.graceExpired):
      for slot in slots { slot.process?.signal(SIGKILL) }
    case .timer(.deadline):
      guard failure == nil, !terminating, !slots.allSatisfy(\.view.finished) else { return }
      failure = ("DeadlineExceeded", "Pod was active on the node longer than the specified deadline")
      stopContainers(grace: pod.spec?.terminationGracePeriodSeconds ?? 30)
    case .timer(.retryNetwork):
      attachNetwork()
    case .timer(.resync):
      break
    case .timer(.probe(let index, let run)):
      guard slots[index].run == run, slots[index].view.state.running != nil, !terminating else { return }
      probe(index, run: run)
    case .probed(let index, let run, let success):
      guard slots[index].run == run, slots[index].view.state.running != nil, !terminating,
        let probe = slots[index].spec.readinessProbe
      else { return }
      // The kubelet's thresholds: successThreshold successes in a row make it ready,
      // failureThreshold failures in a row unready.
      if success {
        slots[index].probeFailures = 0
        slots[index].probeSuccesses += 1
        if slots[index].probeSuccesses >= max(1, probe.successThreshold ?? 1) { slots[index].view.probeReady = true }
      } else {
        slots[index].probeSuccesses = 0
        slots[index].probeFailures += 1
        if slots[index].probeFailures >= max(1, probe.failureThreshold ?? 3) || slots[index].view.probeReady != true {
          slots[index].view.probeReady = false
        }
      }
      schedule(.probe(container: index, run: run), after: Double(max(1, probe.periodSeconds ?? 10)))
    }
  }

  // MARK: Readiness probes

  /// Connects to the probe's port inside the pod's network namespace, on a thread of its own (the
  /// connect enters the namespace), and reports back through the inbox.
  func probe(_ index: Int, run: Int) {
    // A named port is looked up among the container's ports, as the kubelet does.
    let spec = slots[index].spec
    let action = spec.readinessProbe?.tcpSocket
    let named = action?.portName.flatMap { name in spec.ports?.first { $0.name == name }?.containerPort }
    guard let port = action?.port ?? named, let netnsPath = attachment?.netnsPath,
      let probePort = UInt16(exactly: port)
    else { return }
    let timeout = Int32(max(1, slots[index].spec.readinessProbe?.timeoutSeconds ?? 1) * 1000)
    let inbox = self.inbox
    Thread.detachNewThread {
      let success: Bool
      switch NamespacedConnect.connect(netnsPath: netnsPath, port: probePort, timeoutMilliseconds: timeout) {
      case .success(let fd):
        close(fd)
        success = true
      case .failure:
        success = false
      }
      inbox.yield(.probed(container: index, run: run, success: success))
    }
  }

  /// Ends the loop when nothing runs any more and the pod's end has come. A pod that completed
  /// stays (for its logs) until it is removed, but without a network.
  mutating func finishIfDone() async -> Bool {
    guard !slots.contains(where: { $0.process != nil }) else { return false }
    if shuttingDown || removed {
      detachNetwork()
      return true
    }
    if terminating {
      for index in slots.indices { slots[index].view.finished = true }
      await report()
      detachNetwork()
      do {
        try await context.api.deletePod(name, namespace: namespace, gracePeriodSeconds: 0, preconditionUID: uid)
      } catch KubeError.api(_, httpStatus: 404) {
        // Already gone (force-deleted, or its namespace removed it): what the final delete wanted.
      } catch {
        context.log("pod \(namespace)/\(name): final delete failed: \(error)")
      }
      return true
    }
    if slots.allSatisfy(\.view.finished) || failure != nil {
      detachNetwork()
    }
    return false
  }

  // MARK: Network

  mutating func attachNetwork() {
    guard attachment == nil, !terminating else { return }
    do {
      let attached = try context.network.attachPod(uid: uid, namespace: namespace, name: name)
      attachment = attached
      context.records.save(uid: uid, netnsName: attached.netnsName)
    } catch {
      context.log("pod \(namespace)/\(name): network setup failed, retrying: \(error)")
      schedule(.retryNetwork, after: 5)
      return
    }
    for index in slots.indices { start(index) }
  }

  mutating func detachNetwork() {
    guard attachment != nil, !networkDetached else { return }
    networkDetached = true
    context.network.detachPod(uid: uid)
    context.records.remove(uid: uid)
  }

  // MARK: Containers

  mutating func start(_ index: Int) {
    slots[index].run += 1
    let run = slots[index].run
    let spec = slots[index].spec
    guard let attachment else { return }
    guard let image = pullImage(index, run: run) else { return }
    slots[index].pullBackoff = Backoff()
    slots[index].view.image = image.reference
    let launch: ContainerLaunch
    do {
      launch = try ContainerLaunch.make(pod: pod, container: spec, image: image, netnsName: attachment.netnsName)
    } catch {
      switch error {
      case .config(let message):
        slots[index].view.state = ContainerState(waiting: .init(reason: "CreateContainerConfigError", message: message))
        schedule(.start(container: index, run: run), after: 10)
      case .programNotFound:
        exited(index, ExitStatus(code: 128, signal: nil, finishedAt: Timestamps.now()), reason: "StartError",
          message: error.message, startedAt: "1970-01-01T00:00:00Z")
      }
      return
    }
    let restartCount = slots[index].view.restartCount
    let directory = "\(context.logRoot)/\(namespace)_\(name)_\(uid)/\(spec.name)"
    let logPath = "\(directory)/\(restartCount).log"
    let containerID = "kftray-node://\(uid)-\(spec.name)-\(restartCount)"
    slots[index].view.containerID = containerID
    let inbox = self.inbox
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
      let process = try ContainerProcess.start(launch, logPath: logPath) { status in
        inbox.yield(.exited(container: index, run: run, status))
      }
      slots[index].process = process
      slots[index].logPath = logPath
      slots[index].view.state = ContainerState(running: .init(startedAt: process.startedAt))
      // One step here (spawn); the runtime's create and start each have their event.
      events.created(spec.name)
      events.started(spec.name)
      if let probe = spec.readinessProbe, probe.tcpSocket != nil {
        // Not ready until the probe says so; the first probe after initialDelaySeconds.
        slots[index].view.probeReady = false
        slots[index].probeSuccesses = 0
        slots[index].probeFailures = 0
        schedule(.probe(container: index, run: run), after: Double(max(0, probe.initialDelaySeconds ?? 0)))
      }
    } catch {
      // What runc reports when the process cannot be started (exit code 128, StartError).
      let now = Timestamps.now()
      exited(index, ExitStatus(code: 128, signal: nil, finishedAt: now), reason: "StartError", message: "\(error)",
        startedAt: "1970-01-01T00:00:00Z")
    }
  }

  /// The image manager's part: pull as the pull policy says (every image the catalog knows is present
  /// on this machine; `Always` still goes through a pull), with its events. Nil when the pull failed
  /// (the container waits in ErrImagePull, then backs off).
  mutating func pullImage(_ index: Int, run: Int) -> ImageCatalog.Image? {
    let spec = slots[index].spec
    let policy = spec.imagePullPolicy ?? (ImageCatalog.normalise(spec.image).hasSuffix(":latest") ? "Always" : "IfNotPresent")
    let began = ContinuousClock.now
    let resolved: Result<ImageCatalog.Image, ImageCatalog.PullError>
    do { resolved = .success(try context.catalog.resolve(spec.image)) } catch { resolved = .failure(error) }
    switch resolved {
    case .success(let image):
      if policy == "Always" {
        events.pulling(spec.name, image: spec.image)
        let took = ContinuousClock.now - began
        events.pulled(
          spec.name, image: spec.image,
          seconds: Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18,
          size: image.size)
      } else {
        events.alreadyPresent(spec.name, image: spec.image)
      }
      return image
    case .failure(let error):
      events.pulling(spec.name, image: spec.image)
      events.pullFailed(spec.name, image: spec.image, error: error.message)
      slots[index].view.state = ContainerState(waiting: .init(reason: "ErrImagePull", message: error.message))
      schedule(.pullBackOff(container: index, run: run), after: 2)
      return nil
    }
  }

  mutating func exited(
    _ index: Int, _ status: ExitStatus, reason: String? = nil, message: String? = nil, startedAt: String? = nil
  ) {
    let started = startedAt ?? slots[index].process?.startedAt ?? slots[index].view.state.running?.startedAt
    slots[index].process = nil
    let terminated = ContainerState.Terminated(
      exitCode: status.code, signal: nil, reason: reason ?? (status.code == 0 ? "Completed" : "Error"),
      message: message, startedAt: started, finishedAt: status.finishedAt, containerID: slots[index].view.containerID)
    slots[index].view.state = ContainerState(terminated: terminated)
    slots[index].lastTerminated = terminated
    if terminating || failure != nil {
      slots[index].view.finished = true
      return
    }
    let policy = pod.spec?.restartPolicy ?? "Always"
    guard policy == "Always" || (policy == "OnFailure" && status.code != 0) else {
      slots[index].view.finished = true
      return
    }
    // The kubelet's crash-loop back-off: the first restart is immediate; later ones wait until the
    // current back-off has passed since the previous restart.
    if let last = slots[index].lastRestart, let backoff = slots[index].restartBackoff.seconds {
      let remaining = Duration.seconds(backoff) - (ContinuousClock.now - last)
      if remaining > .zero {
        slots[index].view.lastState = ContainerState(terminated: terminated)
        slots[index].view.state = ContainerState(
          waiting: .init(
            reason: "CrashLoopBackOff",
            message: "back-off \(Backoff.goDuration(backoff)) restarting failed container=\(slots[index].spec.name) pod=\(podRef)"))
        let seconds = Double(remaining.components.seconds) + Double(remaining.components.attoseconds) / 1e18
        schedule(.start(container: index, run: slots[index].run), after: seconds)
        events.restartBackOff(slots[index].spec.name, podRef: podRef)
        return
      }
    }
    restart(index)
  }

  /// Starts a container again: what ended becomes its last state. Also the retry of a failed pull or
  /// config, which are not restarts.
  mutating func restart(_ index: Int) {
    if let last = slots[index].lastTerminated {
      slots[index].view.lastState = ContainerState(terminated: last)
      slots[index].view.restartCount += 1
      slots[index].lastTerminated = nil
      _ = slots[index].restartBackoff.next()
      slots[index].lastRestart = .now
    }
    start(index)
  }

  mutating func beginTermination(grace: Int? = nil) {
    terminating = true
    let seconds = grace ?? pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30
    stopContainers(grace: seconds)
  }

  /// SIGTERM to every container's process group, SIGKILL after the grace period. Containers that are
  /// not running will not start any more.
  mutating func stopContainers(grace: Int) {
    for index in slots.indices {
      if let process = slots[index].process {
        events.killing(slots[index].spec.name)
        process.signal(grace > 0 ? SIGTERM : SIGKILL)
      } else {
        slots[index].view.finished = true
        if slots[index].view.state.terminated == nil, let last = slots[index].lastTerminated {
          slots[index].view.state = ContainerState(terminated: last)
        }
      }
    }
    if grace > 0 { schedule(.graceExpired, after: Double(grace)) }
  }

  // MARK: Reporting

  mutating func schedule(_ timer: PodWorker.Timer, after seconds: Double) {
    let inbox = self.inbox
    timers.removeAll { $0.isCancelled }
    timers.append(
      Task {
        try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
        if !Task.isCancelled { inbox.yield(.timer(timer)) }
      })
  }

  mutating func report() async {
    guard !removed, !shuttingDown else { return }
    let builder = PodStatusBuilder(
      restartPolicy: pod.spec?.restartPolicy ?? "Always", hostIP: context.hostIP,
      podIP: networkDetached ? lastReported?.podIP : attachment?.ipv4, startTime: startTime,
      scheduledAt: pod.status?.conditions?.first(where: { $0.type == "PodScheduled" })?.lastTransitionTime,
      failure: failure)
    let status = builder.status(slots.map(\.view), previous: lastReported)
    guard status != lastReported else { return }
    do {
      try await context.api.patchPodStatus(name, namespace: namespace, uid: uid, status: status)
      lastReported = status
    } catch {
      context.log("pod \(namespace)/\(name): status update failed: \(error)")
      schedule(.resync, after: 2)
    }
  }

  func publish() {
    var logs: [String: String] = [:]
    var waiting: [String: String] = [:]
    for slot in slots {
      if let path = slot.logPath { logs[slot.spec.name] = path }
      else if let reason = slot.view.state.waiting?.reason { waiting[slot.spec.name] = reason }
    }
    context.publish(
      uid,
      RunningPod(
        namespace: namespace, name: name, uid: uid, netnsPath: networkDetached ? nil : attachment?.netnsPath,
        containerLogPaths: logs, waitingReasons: waiting))
  }
}
