import Foundation
import PodNetwork
import KubeClient
import Synchronization

public struct NodeAgentConfiguration: Sendable {
  public var nodeName: String
  public var api: KubeAPI
  public var network: any PodNetworkProvider
  /// Where `kftray-relay` and `kftray-testserver` are (the programs of their images).
  public var binDirectory: String
  /// Container logs: `<logRoot>/<namespace>_<pod>_<uid>/<container>/<restartCount>.log`.
  public var logRoot: String
  /// What must survive a crash of the agent (the pods' network namespaces).
  public var stateDirectory: String
  /// The node's InternalIP and every pod's hostIP.
  public var hostIP = "127.0.0.1"
  public var heartbeatInterval: Duration = .seconds(10)
  /// Where the agent's own diagnostics go (one line each).
  public var log: @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }

  public init(
    nodeName: String, api: KubeAPI, network: any PodNetworkProvider, binDirectory: String, logRoot: String,
    stateDirectory: String
  ) {
    self.nodeName = nodeName
    self.api = api
    self.network = network
    self.binDirectory = binDirectory
    self.logRoot = logRoot
    self.stateDirectory = stateDirectory
  }
}

/// A kubelet for local processes. Talks to its API server only through the public API: registers its
/// Node and keeps it Ready, binds pods nobody has scheduled (there is no scheduler), runs the pods
/// bound to it as local processes (`PodWorker`), reports their status, and finishes their deletion.
public final class NodeAgent: Sendable {
  public let configuration: NodeAgentConfiguration
  private let catalog: ImageCatalog
  private let state = Mutex(State())
  /// The kubelet's events about its pods' containers.
  private let kubeletEvents: EventRecorder
  /// The events of the scheduler this agent stands in for when it binds pods.
  private let schedulerEvents: EventRecorder

  private struct State {
    var workers: [String: PodWorker] = [:]
    /// Pods whose worker has finished: late watch events about them must not start them again.
    var finished: Set<String> = []
    var pods: [String: RunningPod] = [:]
    /// Pods the binder found no fit for (by uid), with the view of the node that kept them off; retried
    /// when the node's taints or labels are no longer those.
    var unschedulable: [String: (pod: Pod, view: SchedulingView)] = [:]
    var loops: Task<Void, any Error>?
    var stopped = false
  }

  public enum Failure: Error, CustomStringConvertible {
    case registration(node: String, any Error)
    case alreadyRunning

    public var description: String {
      switch self {
      case .registration(let node, let error): return "cannot register node \(node): \(error)"
      case .alreadyRunning: return "the node agent is already running"
      }
    }
  }

  public init(configuration: NodeAgentConfiguration) {
    self.configuration = configuration
    catalog = ImageCatalog(binDirectory: configuration.binDirectory, stateDirectory: configuration.stateDirectory)
    kubeletEvents = EventRecorder(
      api: configuration.api, reporter: .kubelet(node: configuration.nodeName), log: configuration.log)
    schedulerEvents = EventRecorder(
      api: configuration.api, reporter: .scheduler(host: ProcessInfo.processInfo.hostName), log: configuration.log)
  }

  private var nodeName: String { configuration.nodeName }
  private var api: KubeAPI { configuration.api }

  /// Registers (or updates) the Node, then runs pods until `stop()`. Throws when the Node cannot be
  /// registered or a watch fails with an API error (for example 403: the agent lacks a permission).
  public func run(kubeletPort: Int) async throws {
    cleanUpAfterCrash()
    let node = NodeObject(name: nodeName, hostIP: configuration.hostIP, kubeletPort: kubeletPort)
    let registered: NodeStatus
    do {
      registered = try await register(node)
    } catch is CancellationError where state.withLock({ $0.stopped }) {
      return
    }
    let loops = Task {
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { [self] in
          var status = registered
          while !Task.isCancelled {
            try await Task.sleep(for: configuration.heartbeatInterval)
            status = (try? await heartbeat(node, previous: status)) ?? status
          }
        }
        group.addTask { [self] in try await followUnscheduledPods(node) }
        group.addTask { [self] in try await retryUnschedulablePods(node) }
        group.addTask { [self] in try await followOwnPods() }
        // The first error ends them all; a loop that ends normally (binding not allowed) leaves the others.
        try await group.waitForAll()
      }
    }
    enum Start { case accepted, stopped, duplicate }
    let start = state.withLock { state -> Start in
      if state.stopped { return .stopped }
      guard state.loops == nil else { return .duplicate }
      state.loops = loops
      return .accepted
    }
    guard start == .accepted else {
      loops.cancel()
      if start == .stopped { return }  // stop() came first
      throw Failure.alreadyRunning
    }
    do {
      try await loops.value
    } catch is CancellationError {
    } catch {
      if !state.withLock({ $0.stopped }) { throw error }
    }
  }

  /// Stops following the API, kills every process of its pods and releases their networks. The pods
  /// stay in the API (as when a kubelet stops).
  public func stop() async {
    let (loops, workers) = state.withLock { state in
      state.stopped = true
      return (state.loops, Array(state.workers.values))
    }
    loops?.cancel()
    _ = await loops?.result
    for worker in workers { worker.send(.shutdown) }
    for worker in workers { await worker.finished() }
    state.withLock { $0.workers.removeAll() }
    await kubeletEvents.flush()
    await schedulerEvents.flush()
  }

  /// The pod for the kubelet API (logs, port-forward), while this node runs it.
  public func runningPod(namespace: String, name: String) -> RunningPod? {
    state.withLock { $0.pods["\(namespace)/\(name)"] }
  }

  // MARK: Node

  /// Registers until it works, as the kubelet's registerWithAPIServer does (its steps: 100 ms, doubling, at
  /// most 7 s): an API server that is slow or briefly away at start must not leave a node that never joins.
  /// Refusals that will not pass (4xx other than 429) end it.
  private func register(_ node: NodeObject) async throws -> NodeStatus {
    var step = Duration.milliseconds(100)
    while true {
      do {
        return try await registerOnce(node)
      } catch Failure.registration(_, let error as KubeError) where Self.mayPass(error) {
        // stop() before the loops exist has nothing to cancel: it leaves this flag.
        if state.withLock({ $0.stopped }) { throw CancellationError() }
        configuration.log("node \(node.name): registration failed, retrying in \(step): \(error)")
        try await Task.sleep(for: step)
        step = min(step * 2, .seconds(7))
      }
    }
  }

  private static func mayPass(_ error: KubeError) -> Bool {
    switch error {
    case .transport: return true
    case .api(_, let code): return code == 429 || code >= 500
    default: return false
    }
  }

  private func registerOnce(_ node: NodeObject) async throws -> NodeStatus {
    do {
      do {
        _ = try await api.createNode(node.node())
      } catch {
        guard case .api(_, let code) = error, code == 409 else { throw error }
        // Registered before (a restart): take over, as a kubelet does, with our labels.
        let patch = try! JSONSerialization.data(withJSONObject: ["metadata": ["labels": node.labels]])
        _ = try await api.mergePatchNode(node.name, patch: patch)
      }
      let status = node.status(previous: nil)
      return try await api.patchNodeStatus(node.name, status: status).status ?? status
    } catch {
      throw Failure.registration(node: node.name, error)
    }
  }

  private func heartbeat(_ node: NodeObject, previous: NodeStatus) async throws -> NodeStatus {
    let status = node.status(previous: previous)
    do {
      return try await api.patchNodeStatus(node.name, status: status).status ?? status
    } catch {
      if case .api(_, let code) = error, code == 404 {
        return try await register(node)  // somebody deleted our Node
      }
      configuration.log("node \(node.name): heartbeat failed: \(error)")
      throw error
    }
  }

  // MARK: Pods

  /// The scheduler's part: binds every pod without a node that this node accepts. Where the node may
  /// not see unscheduled pods (a cluster with its own scheduler), it leaves that to the scheduler.
  private func followUnscheduledPods(_ node: NodeObject) async throws {
    do {
      try await bindUnscheduledPods(node)
    } catch {
      guard let kubeError = error as? KubeError, case .api(_, let code) = kubeError, code == 401 || code == 403 else {
        throw error
      }
      configuration.log("node \(nodeName): not binding pods, unscheduled pods are not visible to it: \(kubeError)")
    }
  }

  private func bindUnscheduledPods(_ node: NodeObject) async throws {
    try await follow(fieldSelector: "spec.nodeName=") { [self] event in
      let pod = event.object
      guard event.type != .deleted, pod.metadata.deletionTimestamp == nil, (pod.spec?.nodeName ?? "").isEmpty else {
        if let uid = event.object.metadata.uid { _ = state.withLock { $0.unschedulable.removeValue(forKey: uid) } }
        return
      }
      // A pod waiting for a fit is retried when the node changes or its spec (labels aside) does, not on
      // status updates such as the condition it was just given: kube's queue does not requeue on those.
      if event.type == .modified, let uid = pod.metadata.uid,
        state.withLock({ $0.unschedulable[uid]?.pod.spec == pod.spec })
      {
        return
      }
      await schedule(pod, node)
    }
  }

  /// The scheduler's retry of pods it could not place, when the node changes (kube requeues them on
  /// a Node update that may make them fit, such as a removed taint). The agent polls its Node for that.
  private func retryUnschedulablePods(_ node: NodeObject) async throws {
    while !Task.isCancelled {
      try await Task.sleep(for: .seconds(1))
      guard !state.withLock({ $0.unschedulable.isEmpty }) else { continue }
      let view: SchedulingView
      do { view = schedulingView(try await api.node(nodeName), node) } catch {
        configuration.log("node \(nodeName): cannot read its Node to retry unschedulable pods: \(error)")
        continue
      }
      let pending = state.withLock { state in
        let changed = state.unschedulable.filter { $0.value.view != view }
        for uid in changed.keys { state.unschedulable[uid] = nil }
        return changed.values.map(\.pod)
      }
      for pod in pending {
        guard let name = pod.metadata.name, let namespace = pod.metadata.namespace,
          let fresh = try? await api.pod(name, namespace: namespace), fresh.metadata.uid == pod.metadata.uid,
          (fresh.spec?.nodeName ?? "").isEmpty, fresh.metadata.deletionTimestamp == nil
        else { continue }
        await schedule(fresh, node)
      }
    }
  }

  /// One scheduling attempt: filter (scheduler name, taints, node selector), then bind, or report as the
  /// scheduler does: a FailedScheduling event and the pod's `PodScheduled` condition set to False with
  /// reason `Unschedulable` (the binding sets it True).
  private func schedule(_ pod: Pod, _ node: NodeObject) async {
    guard node.schedules(pod), let name = pod.metadata.name, let namespace = pod.metadata.namespace else { return }
    let view = schedulingView(try? await api.node(nodeName), node)
    if let message = view.unfitMessage(pod) {
      if let uid = pod.metadata.uid { state.withLock { $0.unschedulable[uid] = (pod, view) } }
      schedulerEvents.record(pod, "Warning", "FailedScheduling", message, action: "Scheduling")
      await markUnschedulable(pod, message: message)
      return
    }
    do {
      try await api.bindPod(name, namespace: namespace, uid: pod.metadata.uid, node: nodeName)
      schedulerEvents.record(
        pod, "Normal", "Scheduled", "Successfully assigned \(namespace)/\(name) to \(nodeName)", action: "Binding")
    } catch {
      // 409: bound by someone else or being deleted; 404: gone. Both settle through the watch.
      configuration.log("pod \(namespace)/\(name): binding failed: \(error)")
    }
  }

  /// The node as the filters see it: its Node from the API, or what this agent registered when that
  /// cannot be read.
  private func schedulingView(_ current: Node?, _ node: NodeObject) -> SchedulingView {
    SchedulingView(taints: current?.spec?.taints ?? [], labels: current?.metadata.labels ?? node.labels)
  }

  /// The scheduler's `updatePod`: writes the condition only when it changes (`UpdatePodCondition`), and
  /// keeps the transition time while the status stays False.
  private func markUnschedulable(_ pod: Pod, message: String) async {
    guard let name = pod.metadata.name, let namespace = pod.metadata.namespace else { return }
    let old = pod.status?.conditions?.first { $0.type == "PodScheduled" }
    if old?.status == "False", old?.reason == "Unschedulable", old?.message == message { return }
    let since = old?.status == "False" ? old?.lastTransitionTime : nil
    let condition = PodCondition(
      type: "PodScheduled", status: "False", reason: "Unschedulable", message: message,
      lastTransitionTime: since ?? Timestamps.now())
    do {
      try await api.patchPodCondition(name, namespace: namespace, uid: pod.metadata.uid, condition: condition)
    } catch {
      configuration.log("pod \(namespace)/\(name): cannot set PodScheduled=False: \(error)")
    }
  }

  private func followOwnPods() async throws {
    try await follow(fieldSelector: "spec.nodeName=\(nodeName)") { [self] event in
      dispatch(event)
    }
  }

  /// observePods, resumed after errors that may pass (transport, server errors); a 401/403/404 ends it.
  private func follow(
    fieldSelector: String, _ handle: @Sendable (WatchEvent<Pod>) async -> Void
  ) async throws {
    while !Task.isCancelled {
      do {
        for try await event in api.observePods(namespace: nil, fieldSelector: fieldSelector) {
          await handle(event)
        }
      } catch {
        if let kubeError = error as? KubeError, case .api(_, let code) = kubeError, [401, 403, 404].contains(code) {
          throw error
        }
        if error is CancellationError { throw error }
        configuration.log("watch of pods (\(fieldSelector)) failed, resuming: \(error)")
      }
      try await Task.sleep(for: .seconds(1))
    }
  }

  private func dispatch(_ event: WatchEvent<Pod>) {
    let pod = event.object
    guard let uid = pod.metadata.uid else { return }
    let phase = pod.status?.phase ?? ""
    let worker = state.withLock { state -> PodWorker? in
      if let worker = state.workers[uid] { return worker }
      // A pod that ended before this agent saw it (an earlier run of the agent) is not started again.
      guard event.type != .deleted, !state.stopped, !state.finished.contains(uid), phase != "Succeeded",
        phase != "Failed"
      else { return nil }
      let worker = PodWorker(pod: pod, context: workerContext())
      state.workers[uid] = worker
      Task { [self] in
        await worker.finished()
        self.state.withLock { state in
          state.workers[uid] = nil
          state.finished.insert(uid)
        }
      }
      return nil
    }
    guard let worker else { return }
    worker.send(event.type == .deleted ? .removed : .updated(pod))
  }

  private func workerContext() -> WorkerContext {
    WorkerContext(
      api: api, network: configuration.network,
      catalog: catalog, logRoot: configuration.logRoot,
      hostIP: configuration.hostIP, records: PodRecords(stateDirectory: configuration.stateDirectory),
      events: kubeletEvents,
      publish: { [weak self] uid, pod in self?.publish(uid: uid, pod) }, log: configuration.log)
  }

  private func publish(uid: String, _ pod: RunningPod?) {
    state.withLock { state in
      if let pod {
        state.pods["\(pod.namespace)/\(pod.name)"] = pod
      } else {
        state.pods = state.pods.filter { $0.value.uid != uid }
      }
    }
  }

  /// Kills what an earlier run of this agent left in its pods' network namespaces and releases them.
  private func cleanUpAfterCrash() {
    let records = PodRecords(stateDirectory: configuration.stateDirectory)
    for (uid, netns) in records.all() {
      let pids = (try? HostCommand.run(ContainerLaunch.ip, ["netns", "pids", netns])) ?? ""
      for pid in pids.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
      configuration.network.detachPod(uid: uid)
      records.remove(uid: uid)
    }
  }
}
