import Foundation
import KFTrayRelay
import KubeClient
import PortForward
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// One target of a `proxy` run, resolved: which cluster, which namespace, where to listen.
public struct ProxySpec: Sendable {
  /// The alias of a kftray entry, or the target as typed.
  public var label: String
  public var target: ProxyTarget
  /// Local addresses (IP literals). For UDP only the first is used.
  public var addresses: [String]
  public var api: KubeAPI
  /// Where the relay pod runs.
  public var namespace: String
  /// Set: the dynamic relay of `proxy --socks`/`--http-connect` (its allow-list); the forward then
  /// listens on an internal port the front ends connect to, and `target` is not used.
  public var dynamic: AllowList?

  public init(
    label: String, target: ProxyTarget, addresses: [String], api: KubeAPI, namespace: String, dynamic: AllowList? = nil
  ) {
    self.label = label
    self.target = target
    self.addresses = addresses
    self.api = api
    self.namespace = namespace
    self.dynamic = dynamic
  }
}

/// What a `proxy` run reports, in order, for the command line to print.
public enum ProxyEvent: Sendable {
  case creatingPod(label: String, namespace: String, pod: String)
  case podProgress(label: String, RelayPodProgress)
  case podReady(label: String, namespace: String, pod: String)
  /// Forwarding started (or resumed on a new pod): one line per local address.
  case forwarding(label: String, local: [String], target: ProxyTarget, namespace: String, pod: String)
  case connectionOpened(label: String, connection: Int, local: String)
  case connectionClosed(label: String, connection: Int, bytesToRemote: Int, bytesFromRemote: Int, duration: Duration)
  case connectionFailed(label: String, connection: Int, reason: String)
  case udp(label: String, UDPForwardEvent)
  case podLost(label: String, pod: String, why: String)
  /// `after`: how long new connections waited, from the loss to forwarding through the new pod.
  case recovered(label: String, oldPod: String, newPod: String, after: Duration)
  case recoveryFailed(label: String, error: String, retryIn: Duration)
  case sessionLost(label: String, why: String)
  case reconnected(label: String)
  case deletedPod(namespace: String, pod: String)
  case deleteFailed(namespace: String, pod: String, error: String)
  /// Its create never got an answer, and the delete could not tell whether it exists.
  case deleteUncertain(namespace: String, pod: String, error: String)
}

/// Why `proxy` could not start. Every pod this run created is already deleted when this is thrown.
public enum ProxyError: Error, Sendable, CustomStringConvertible {
  case localPort(label: String, String)
  case duplicateLocalPort(UInt16, String, String)
  case relayPod(label: String, RelayPodError)
  case forward(label: String, pod: String, String)

  public var description: String {
    switch self {
    case .localPort(_, let message): return message
    case .duplicateLocalPort(let port, let a, let b):
      return "local port \(port) is used twice (\(a) and \(b)): give each target its own, e.g. \(port + 1):HOST:PORT"
    case .relayPod(_, let error): return "\(error)"
    case .forward(_, let pod, let message):
      return "cannot port-forward to the relay pod \(pod): \(message)\n  fix: check pods/portforward create in your Role (kubectl auth can-i create pods/portforward)"
    }
  }
}

/// Options of a run that are not per target.
public struct ProxyOptions: Sendable {
  public var settings = RelayPodSettings()
  public var podRunningTimeout: Duration = .seconds(60)
  public var transport: PortForwardTransport = .auto
  /// How long a new local connection waits while the relay pod is being replaced.
  public var connectionWait: Duration = .seconds(30)
  public var owner = RelayOwner.current()
  public var sessionID = RelayPodManifest.sessionID()
  public var pluginVersion = "v" + PluginVersion.current
  /// Emit `connectionOpened`, `connectionClosed` and `connectionFailed` (for `--verbose` and
  /// `-o json`). Off, the forwards do not report connections at all: each report costs the data
  /// path two thread wake-ups.
  public var connectionEvents = true

  public init() {}
}

extension RelayPodManifest {
  /// Eight hex digits: one label value shared by the pods of a run.
  public static func sessionID() -> String {
    String(format: "%08x", UInt32.random(in: .min ... .max))
  }
}

/// Runs `proxy`: binds every local port first, creates one relay pod per target, waits for them,
/// forwards, replaces a relay pod that goes away, and deletes every pod it created at the end.
public final class ProxySupervisor: Sendable {
  private let specs: [ProxySpec]
  private let options: ProxyOptions
  private let emit: @Sendable (ProxyEvent) -> Void
  /// Pods this run created and has not yet deleted: namespace, name, client.
  /// `confirmed`: the create was answered with the pod (else it may or may not exist).
  private let created = Mutex<[String: (namespace: String, api: KubeAPI, confirmed: Bool)]>([:])
  private let forwards = Mutex<[Forward]>([])
  /// Each target's current relay pod (it changes when one is replaced).
  private let podNames = Mutex<[Int: String]>([:])

  /// A running forward, TCP or UDP.
  enum Forward: Sendable {
    case tcp(PortForwarder)
    case udp(UDPForwarder)

    func suspend() {
      switch self {
      case .tcp(let f): f.suspend()
      case .udp(let f): f.suspend()
      }
    }

    func replace(pod: String) async throws -> Void {
      switch self {
      case .tcp(let f): try await f.replaceTarget(pod: pod)
      case .udp(let f): try await f.replaceTarget(pod: pod)
      }
    }

    func stop() async {
      switch self {
      case .tcp(let f): await f.stop()
      case .udp(let f): f.stop()
      }
    }
  }

  enum Listener {
    case tcp(LocalListeners)
    case udp(UDPListener)
    var local: [String] {
      switch self {
      case .tcp(let l): return l.addresses.map(\.description)
      case .udp(let l): return [(l.address.contains(":") ? "[\(l.address)]" : l.address) + ":\(l.port)"]
      }
    }
  }

  public init(specs: [ProxySpec], options: ProxyOptions, events: @escaping @Sendable (ProxyEvent) -> Void) {
    self.specs = specs
    self.options = options
    emit = events
  }

  /// Binds, creates, waits and starts forwarding. Call `shutdown` after it, also when it throws:
  /// that deletes every pod created so far (once; a failure to delete is reported then).
  public func start() async throws(ProxyError) {
    let listeners = try bindAll()
    try await launchAll(listeners)
  }

  /// Keeps every target's relay pod alive, and its heartbeat fresh, until the task is cancelled.
  public func supervise() async {
    await withTaskGroup(of: Void.self) { group in
      for (index, spec) in specs.enumerated() {
        group.addTask { await self.watchPods(index: index, spec: spec) }
      }
      group.addTask { await self.renewHeartbeats() }
    }
  }

  /// How often the heartbeat annotation is renewed; `cleanup` calls a pod orphaned after
  /// `CleanupRequest.staleAfter` (2 minutes: four missed renewals) without one.
  public static let heartbeatInterval: Duration = .seconds(30)

  /// Writes the time into every live pod's heartbeat annotation (a merge patch: pods patch is in
  /// the plugin's Role). A pod that cannot be patched is left to `watchPods`.
  private func renewHeartbeats() async {
    while !Task.isCancelled {
      let now = Timestamps.format(Date())
      let patch = Data(#"{"metadata":{"annotations":{"\#(RelayLabels.heartbeat)":"\#(now)"}}}"#.utf8)
      for (namespace, pod, api) in pods {
        _ = try? await api.mergePatchPod(pod, namespace: namespace, patch: patch)
      }
      try? await Task.sleep(for: Self.heartbeatInterval)
    }
  }

  /// Stops accepting, closes every connection and deletes every pod this run created (grace 0).
  public func shutdown() async {
    let running = forwards.withLock { f -> [Forward] in
      defer { f = [] }
      return f
    }
    for forward in running { await forward.stop() }
    await deleteCreatedPods()
  }

  /// Pods created and not yet deleted (for a last attempt at exit).
  public var pods: [(namespace: String, pod: String, api: KubeAPI)] {
    created.withLock { $0.map { (namespace: $0.value.namespace, pod: $0.key, api: $0.value.api) } }
  }

  private func confirmed(_ pod: String) -> Bool { created.withLock { $0[pod]?.confirmed ?? false } }

  // MARK: Start

  private func bindAll() throws(ProxyError) -> [Listener] {
    // Two targets asking for the same explicit local port (same protocol) can never both work.
    var seen: [String: String] = [:]
    for spec in specs {
      let port = spec.target.localPort ?? spec.target.remotePort
      guard port != 0 else { continue }
      let key = "\(port)/\(spec.target.transport.rawValue)"
      if let other = seen[key] { throw .duplicateLocalPort(port, other, spec.label) }
      seen[key] = spec.label
    }
    var listeners: [Listener] = []
    for spec in specs {
      let explicit = spec.target.localPort
      let port = explicit ?? spec.target.remotePort
      do {
        switch spec.target.transport {
        case .tcp: listeners.append(.tcp(try LocalListeners(addresses: spec.addresses, port: port)))
        case .udp: listeners.append(.udp(try UDPListener(address: spec.addresses.first ?? "127.0.0.1", port: port)))
        }
      } catch {
        throw .localPort(label: spec.label, Self.bindMessage(spec: spec, port: port, explicit: explicit != nil, error: "\(error)"))
      }
    }
    return listeners
  }

  static func bindMessage(spec: ProxySpec, port: UInt16, explicit: Bool, error: String) -> String {
    let inUse = error.contains("in use")
    let denied = error.contains("denied") || error.contains("not permitted")
    let what = explicit ? "local port \(port)" : "local port \(port) (the remote port, used when no local port is given)"
    var fix: String
    if inUse {
      fix = "pick a free one: \(Self.suggestion(spec, port: port >= 1024 ? port &+ 1 : 8000 + port % 1000))"
    } else if denied {
      let first = Self.unprivilegedPortStart()
      let other = max(8000 + port % 1000, first)
      fix = "ports below \(first) need the capability CAP_NET_BIND_SERVICE: use a port of \(first) or above, e.g. "
        + "\(Self.suggestion(spec, port: other)); or lower that limit (sysctl net.ipv4.ip_unprivileged_port_start); "
        + "or run with the capability (sudo, or setcap cap_net_bind_service=+ep on the plugin)"
    } else {
      fix = "check --address and the port"
    }
    if !explicit { fix += " (LOCAL_PORT:REMOTE_ADDRESS:REMOTE_PORT)" }
    return "cannot listen on \(what): \(error)\n  fix: \(fix)"
  }

  /// The first port an unprivileged process may bind (Linux's `net.ipv4.ip_unprivileged_port_start`,
  /// 1024 by default and elsewhere).
  static func unprivilegedPortStart() -> UInt16 {
    let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_unprivileged_port_start", encoding: .utf8)
    return text.flatMap { UInt16($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 1024
  }

  static func suggestion(_ spec: ProxySpec, port: UInt16) -> String {
    var t = spec.target
    t.localPort = port
    return t.description
  }

  private func launchAll(_ listeners: [Listener]) async throws(ProxyError) {
    // Create every pod first, then wait for all of them together: one slow pull does not delay the others.
    var names: [String] = []
    for spec in specs {
      let name = RelayPodManifest.podName()
      emit(.creatingPod(label: spec.label, namespace: spec.namespace, pod: name))
      do {
        try await createPod(spec: spec, name: name)
      } catch { throw .relayPod(label: spec.label, error) }
      names.append(name)
    }
    let specs = self.specs
    let pods = names
    let timeout = options.podRunningTimeout
    let emit = self.emit
    let results = await withTaskGroup(of: (Int, Result<Void, RelayPodError>).self) { group in
      for (index, spec) in specs.enumerated() {
        group.addTask {
          do throws(RelayPodError) {
            _ = try await RelayPodLauncher(api: spec.api).waitReady(pod: pods[index], namespace: spec.namespace, timeout: timeout) {
              emit(.podProgress(label: spec.label, $0))
            }
            emit(.podReady(label: spec.label, namespace: spec.namespace, pod: pods[index]))
            return (index, .success(()))
          } catch { return (index, .failure(error)) }
        }
      }
      var results: [(Int, Result<Void, RelayPodError>)] = []
      for await result in group { results.append(result) }
      return results.sorted { $0.0 < $1.0 }
    }
    for (index, result) in results {
      if case .failure(let error) = result { throw .relayPod(label: specs[index].label, error) }
    }
    for (index, spec) in specs.enumerated() {
      let forward = try await startForward(spec: spec, pod: names[index], listener: listeners[index])
      forwards.withLock { $0.append(forward) }
      podNames.withLock { $0[index] = names[index] }
      emit(
        .forwarding(label: spec.label, local: listeners[index].local, target: spec.target, namespace: spec.namespace, pod: names[index]))
    }
  }

  private func createPod(spec: ProxySpec, name: String) async throws(RelayPodError) {
    var manifest = RelayPodManifest(
      name: name, namespace: spec.namespace, sessionID: options.sessionID, target: spec.target, owner: options.owner,
      settings: options.settings, pluginVersion: options.pluginVersion)
    manifest.heartbeat = Timestamps.format(Date())
    manifest.dynamic = spec.dynamic
    // Recorded before the call: a create whose answer is lost still gets deleted.
    created.withLock { $0[name] = (spec.namespace, spec.api, false) }
    do {
      try await RelayPodLauncher(api: spec.api).create(manifest)
      created.withLock { $0[name]?.confirmed = true }
    } catch {
      // A refusal means nothing was created; after a lost or cancelled request the pod may exist,
      // so it stays recorded for the delete at exit (a 404 then is success).
      if error.kind != .noAnswer { created.withLock { $0[name] = nil } }
      throw error
    }
  }

  private func startForward(spec: ProxySpec, pod: String, listener: Listener) async throws(ProxyError) -> Forward {
    let target = ForwardTarget(
      api: spec.api, namespace: spec.namespace, pod: pod, remotePort: RelayPodSettings.listenPort, transport: options.transport)
    let label = spec.label
    let emit = self.emit
    switch listener {
    case .tcp(let listeners):
      var forwardOptions = PortForwarderOptions()
      forwardOptions.connectionWait = options.connectionWait
      forwardOptions.reportsConnections = options.connectionEvents
      let forwarder: PortForwarder
      do {
        forwarder = try await PortForwarder.start(target: target, listeners: listeners, options: forwardOptions)
      } catch {
        throw .forward(label: label, pod: pod, "\(error)")
      }
      let events = forwarder.events
      Task.detached {
        for await event in events { Self.translate(event, label: label, emit: emit) }
      }
      return .tcp(forwarder)
    case .udp(let socket):
      do {
        return .udp(try await UDPForwarder.start(target: target, listener: socket) { emit(.udp(label: label, $0)) })
      } catch {
        throw .forward(label: label, pod: pod, "\(error)")
      }
    }
  }

  static func translate(_ event: ForwardEvent, label: String, emit: @Sendable (ProxyEvent) -> Void) {
    switch event {
    case .connectionOpened(let id, let listener, _):
      emit(.connectionOpened(label: label, connection: id, local: listener.description))
    case .connectionClosed(let id, _, let up, let down, let duration):
      emit(.connectionClosed(label: label, connection: id, bytesToRemote: up, bytesFromRemote: down, duration: duration))
    case .connectionFailed(let id, _, let reason, _, _, _):
      emit(.connectionFailed(label: label, connection: id, reason: "\(reason)"))
    case .sessionLost(_, let why):
      emit(.sessionLost(label: label, why: "\(why)"))
    case .reconnected:
      emit(.reconnected(label: label))
    default:
      break
    }
  }

  // MARK: Recovery

  /// Watches the target's current relay pod; when it is deleted, evicted or ends, creates another
  /// and moves the forward onto it (the local port stays open; new connections wait meanwhile).
  /// The replacement reports its progress like the first pod did.
  private func watchPods(index: Int, spec: ProxySpec) async {
    guard var pod = currentPod(index: index) else { return }
    while !Task.isCancelled {
      let why = await waitForLoss(pod: pod, spec: spec)
      guard let why, !Task.isCancelled else { return }
      let lost = ContinuousClock.now
      emit(.podLost(label: spec.label, pod: pod, why: why))
      forward(index)?.suspend()
      // The old pod is ours to delete even if it merely failed. Its delete runs beside the
      // replacement's create: waiting for one API call before the other only delays recovery.
      let old = pod
      async let oldDeleted: Void = deleteOwned(old, spec: spec)
      guard let name = await replace(index: index, spec: spec) else {
        await oldDeleted
        return
      }
      emit(.recovered(label: spec.label, oldPod: old, newPod: name, after: .now - lost))
      await oldDeleted
      pod = name
    }
  }

  /// Creates relay pods for target `index` until one is Ready and its forward moved onto it (with
  /// growing pauses between attempts); returns its name, or nil when cancelled.
  private func replace(index: Int, spec: ProxySpec) async -> String? {
    let delays: [Duration] = [.zero, .seconds(1), .seconds(2), .seconds(5), .seconds(10)]
    var attempt = 0
    let emit = self.emit
    while !Task.isCancelled {
      let delay = delays[min(attempt, delays.count - 1)]
      attempt += 1
      if delay > .zero { try? await Task.sleep(for: delay) }
      if Task.isCancelled { return nil }
      let name = RelayPodManifest.podName()
      do {
        emit(.creatingPod(label: spec.label, namespace: spec.namespace, pod: name))
        try await createPod(spec: spec, name: name)
        _ = try await RelayPodLauncher(api: spec.api).waitReady(
          pod: name, namespace: spec.namespace, timeout: options.podRunningTimeout
        ) { emit(.podProgress(label: spec.label, $0)) }
        emit(.podReady(label: spec.label, namespace: spec.namespace, pod: name))
        try await forward(index)?.replace(pod: name)
        podNames.withLock { $0[index] = name }
        return name
      } catch {
        await deleteOwned(name, spec: spec)
        if Task.isCancelled { return nil }
        emit(.recoveryFailed(label: spec.label, error: "\(error)", retryIn: delays[min(attempt, delays.count - 1)]))
      }
    }
    return nil
  }

  /// Deletes a pod this run created. It is forgotten only once it is really gone: a pod that could
  /// not be deleted now (the run being stopped, the API server away) is deleted by `shutdown`.
  private func deleteOwned(_ pod: String, spec: ProxySpec) async {
    guard created.withLock({ $0[pod] != nil }) else { return }
    if await RelayPodLauncher(api: spec.api).delete(pod: pod, namespace: spec.namespace) == nil {
      created.withLock { $0[pod] = nil }
    }
  }

  private func currentPod(index: Int) -> String? {
    podNames.withLock { $0[index] }
  }

  /// The local port of target `index`'s forward (for the dynamic relay: where the front ends connect).
  public func localPort(of index: Int) -> UInt16? {
    guard case .tcp(let forwarder)? = forward(index) else { return nil }
    return forwarder.localPort
  }

  private func forward(_ index: Int) -> Forward? {
    forwards.withLock { index < $0.count ? $0[index] : nil }
  }

  /// Returns why the pod is gone or unusable, or nil when cancelled.
  private func waitForLoss(pod: String, spec: ProxySpec) async -> String? {
    while !Task.isCancelled {
      do {
        for try await event in spec.api.observePods(namespace: spec.namespace, fieldSelector: "metadata.name=\(pod)") {
          if event.type == .deleted { return "it was deleted" }
          let current = event.object
          if current.metadata.deletionTimestamp != nil { return "it is being deleted" }
          if case .failed(_, let cause, _) = RelayPodLauncher.verdict(current) { return cause }
        }
        if Task.isCancelled { return nil }
      } catch {
        // The API server may be restarting; the forward itself reconnects on its own.
        if Task.isCancelled { return nil }
        try? await Task.sleep(for: .seconds(2))
      }
    }
    return nil
  }

  // MARK: Exit

  private func deleteCreatedPods() async {
    let pods = self.pods
    await withTaskGroup(of: Void.self) { group in
      for (namespace, pod, api) in pods {
        group.addTask {
          if let error = await RelayPodLauncher(api: api).delete(pod: pod, namespace: namespace) {
            if self.confirmed(pod) {
              self.emit(.deleteFailed(namespace: namespace, pod: pod, error: "\(error)"))
            } else {
              self.emit(.deleteUncertain(namespace: namespace, pod: pod, error: "\(error)"))
            }
          } else {
            self.created.withLock { $0[pod] = nil }
            self.emit(.deletedPod(namespace: namespace, pod: pod))
          }
        }
      }
    }
  }
}
