import Foundation
import PortForwardCodecs
import KubeClient
import Synchronization

/// The sessions of one forward and the sharding policy (see `PortForwarderOptions`).
///
/// `choose` and `closeIdle` run on the forwarder's loop thread, which also opens every stream pair:
/// so a session is never closed between being chosen and carrying its new connection. Opening a
/// session is async and happens in a task; until it is up, connections go to the open ones.
final class SessionPool: Sendable {
  struct Member {
    var id: Int
    var session: PortForwardSession
    /// Bumped by `install`: older generations take no new connections and close once idle.
    var generation: Int
    var idleSince: ContinuousClock.Instant?
  }

  private struct State {
    var members: [Member] = []
    var generation = 0
    var pod: String
    var opening = 0
    var nextID = 1
    var opened = 0
    var stopped = false
    var reconnecting = false
    /// Set by `suspend`: the pod is going away, no session takes new connections and none is
    /// reopened to it until `install(_:pod:)` brings a session to its successor.
    var suspended = false
  }

  let options: PortForwarderOptions
  private let base: ForwardTarget
  private let state: Mutex<State>
  private let emit: @Sendable (ForwardEvent) -> Void

  init(target: ForwardTarget, options: PortForwarderOptions, emit: @escaping @Sendable (ForwardEvent) -> Void) {
    base = target
    self.options = options
    self.emit = emit
    state = Mutex(State(pod: target.pod))
  }

  var currentPod: String { state.withLock { $0.pod } }
  var counts: (open: Int, opened: Int, paused: Int) {
    state.withLock { s in (s.members.count, s.opened, s.members.filter { $0.session.readingPaused }.count) }
  }

  func target(pod: String) -> ForwardTarget {
    var t = base
    t.pod = pod
    return t
  }

  // MARK: Loop thread

  /// The least-loaded open session of the current generation; asks for another session when even
  /// that one is at the sharding threshold.
  func choose() -> Result<SessionChoice, ForwardedStreamError> {
    let (choice, grow) = state.withLock { s -> (SessionChoice?, Bool) in
      var best: (member: Member, load: Int)?
      var fallback: (member: Member, load: Int)?
      var live = 0
      if s.suspended { return (nil, false) }
      for m in s.members where m.generation == s.generation && m.session.state == .open {
        live += 1
        let load = m.session.statistics.connectionsActive
        // A session with a stalled stream takes new connections only when no other can.
        if m.session.hasStalledStream {
          if fallback == nil || load < fallback!.load { fallback = (m, load) }
        } else if best == nil || load < best!.load {
          best = (m, load)
        }
      }
      let saturated = best.map { $0.load >= options.connectionsPerSession } ?? true
      let onlyStalled = best == nil && fallback != nil
      if best == nil { best = fallback }
      // A stall asks for one new session, not one more each time a connection waiting for it is
      // offered a session again (every 50 ms): it waits for the one that is opening.
      let grow =
        saturated && !s.stopped && live + s.opening < options.maxSessions && (live > 0 || !s.reconnecting)
        && !(onlyStalled && s.opening > 0)
      if grow { s.opening += 1 }
      // Every open session has a stalled stream, whose session may read nothing until the stall
      // ends (up to `stalledStreamTimeout`): a new connection there would wait as long for its
      // first answer. Where connections may wait and a new session is on its way, they wait for
      // that one (tens of milliseconds); when none is coming they take the stalled one after all.
      if onlyStalled && s.opening > 0 && options.connectionWait > .zero { return (nil, grow) }
      return (best.map { SessionChoice(session: $0.member.session, id: $0.member.id) }, grow)
    }
    if grow { openShard() }
    if let choice { return .success(choice) }
    let why =
      state.withLock { $0.suspended } ? "waiting for a new relay pod"
      : state.withLock({ $0.members.isEmpty }) ? "no session to the pod is open (reconnecting)"
      : "every session waits behind a stalled connection; a new one is opening"
    return .failure(.sessionNotOpen(why))
  }

  var wantsMaintenance: Bool {
    state.withLock { s in s.members.count > 1 || s.members.contains { $0.generation != s.generation } }
  }

  /// Closes extra sessions idle past the timeout and replaced sessions with no connection left.
  /// One session of the current generation always stays.
  func closeIdle() {
    let now = ContinuousClock.now
    let closing = state.withLock { s -> [Member] in
      var closing: [Member] = []
      var keptCurrent = s.members.filter { $0.generation == s.generation }.count
      for i in s.members.indices.reversed() {
        let m = s.members[i]
        let active = m.session.statistics.connectionsActive
        if active > 0 {
          s.members[i].idleSince = nil
          continue
        }
        if m.generation != s.generation {
          closing.append(s.members.remove(at: i))
          continue
        }
        let since = m.idleSince ?? now
        s.members[i].idleSince = since
        if keptCurrent > 1, now - since >= options.idleSessionTimeout {
          closing.append(s.members.remove(at: i))
          keptCurrent -= 1
        }
      }
      return closing
    }
    for m in closing {
      m.session.close()
      emit(.sessionClosed(session: m.id))
    }
  }

  // MARK: Owner

  /// Adds a session; with `pod`, it starts a new generation (replacement) for that pod.
  func install(_ session: PortForwardSession, pod: String? = nil) {
    let id = state.withLock { s -> Int? in
      guard !s.stopped else { return nil }
      if let pod {
        s.generation += 1
        s.pod = pod
        s.suspended = false
      }
      return add(session, &s)
    }
    guard let id else {
      session.close()
      return
    }
    emit(.sessionOpened(session: id, pod: session.pod, transport: session.transport))
  }

  /// Retires every session (they close once their connections end) and takes no new connection
  /// until `install(_:pod:)` brings a session to another pod.
  func suspend() {
    state.withLock { s in
      s.suspended = true
      s.generation += 1
    }
  }

  /// Closes every session; later opens are closed at once.
  func shutdown() {
    let members = state.withLock { s -> [Member] in
      s.stopped = true
      defer { s.members = [] }
      return s.members
    }
    for m in members { m.session.close() }
  }

  // MARK: Internals

  private func add(_ session: PortForwardSession, _ s: inout State) -> Int {
    let id = s.nextID
    s.nextID += 1
    s.opened += 1
    s.members.append(Member(id: id, session: session, generation: s.generation))
    Task { [self] in
      let why = await session.terminated()
      sessionEnded(id: id, why)
    }
    return id
  }

  private func open(pod: String) async -> Result<PortForwardSession, PortForwardOpenError> {
    do throws(PortForwardOpenError) {
      let t = target(pod: pod)
      return .success(
        try await PortForwardSession.open(
          api: t.api, namespace: t.namespace, pod: t.pod, transport: t.transport, options: options.session))
    } catch { return .failure(error) }
  }

  private func openShard() {
    let pod = currentPod
    Task { [self] in
      let result = await open(pod: pod)
      let id = state.withLock { s -> Int? in
        s.opening -= 1
        guard case .success(let session) = result, !s.stopped, s.pod == pod else { return nil }
        return add(session, &s)
      }
      switch result {
      case .success(let session):
        if let id {
          emit(.sessionOpened(session: id, pod: pod, transport: session.transport))
        } else {
          session.close()
        }
      case .failure(let error):
        emit(.sessionOpenFailed(pod: pod, message: "\(error)"))
      }
    }
  }

  private func sessionEnded(id: Int, _ why: SessionTermination) {
    let (wasMember, needReconnect) = state.withLock { s -> (Bool, Bool) in
      guard let i = s.members.firstIndex(where: { $0.id == id }) else { return (false, false) }
      s.members.remove(at: i)
      let liveCurrent = s.members.contains { $0.generation == s.generation }
      let need = !s.stopped && !liveCurrent && s.opening == 0 && !s.reconnecting
      if need { s.reconnecting = true }
      return (true, need)
    }
    // Sessions we closed ourselves were already removed and reported.
    guard wasMember else { return }
    emit(.sessionLost(session: id, why))
    if needReconnect { Task { [self] in await reconnect() } }
  }

  /// Reopens a session to the current pod until one is up or the forward stops.
  private func reconnect() async {
    var attempt = 0
    while true {
      let delay = options.reconnectDelays.isEmpty
        ? Duration.seconds(1) : options.reconnectDelays[min(attempt, options.reconnectDelays.count - 1)]
      attempt += 1
      try? await Task.sleep(for: delay)
      let pod = currentPod
      let (stopped, suspended) = state.withLock { ($0.stopped, $0.suspended) }
      if stopped { break }
      // The owner is bringing up a new pod; its `install` ends the wait.
      if suspended { continue }
      switch await open(pod: pod) {
      case .success(let session):
        let id = state.withLock { s -> Int? in
          guard !s.stopped else { return nil }
          s.reconnecting = false
          return add(session, &s)
        }
        guard let id else {
          session.close()
          return
        }
        emit(.sessionOpened(session: id, pod: pod, transport: session.transport))
        emit(.reconnected(session: id, attempt: attempt))
        return
      case .failure(let error):
        emit(.sessionOpenFailed(pod: pod, message: "\(error)"))
      }
    }
    state.withLock { $0.reconnecting = false }
  }
}
