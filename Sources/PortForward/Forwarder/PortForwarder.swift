import Foundation
import PortForwardCodecs
import KubeClient
import Synchronization

/// The pod port a forward reaches, and how.
public struct ForwardTarget: Sendable {
  public var api: KubeAPI
  public var namespace: String
  public var pod: String
  public var remotePort: UInt16
  public var transport: PortForwardTransport

  public init(api: KubeAPI, namespace: String, pod: String, remotePort: UInt16, transport: PortForwardTransport = .auto) {
    self.api = api
    self.namespace = namespace
    self.pod = pod
    self.remotePort = remotePort
    self.transport = transport
  }
}

public struct PortForwarderOptions: Sendable {
  /// Sessions (upgraded connections) one forward may hold to its pod. One session is always kept.
  public var maxSessions = 4
  /// Sharding threshold: a new connection goes to the least-loaded open session without a stalled
  /// stream; when even that one carries this many active connections, or every session has a
  /// stalled stream, another session is opened (up to `maxSessions`) for the connections that
  /// follow. A stalled stream (over its receive limit with no local progress, see
  /// `PortForwardSessionOptions.receiveBufferLimit`) pauses its session for a moment and may wedge
  /// the runtime's side of it (spec §A.6), so sharding bounds how many connections share one
  /// TCP window and one head-of-line.
  public var connectionsPerSession = 32
  /// An extra session with no connection for this long is closed.
  public var idleSessionTimeout: Duration = .seconds(15)
  /// Local reads of a connection pause while its session has this many bytes queued for sending.
  /// The socket's own buffer covers the network's bandwidth-delay product; this queue only has
  /// to bridge the I/O thread's wake-ups, and every session may hold it (twice: the queue being
  /// filled and the one being sent), so it stays small. Measured with 500 connections over four
  /// sessions: peak RSS 42-48 MiB at 256 KiB against 47-70 at 1 MiB, bulk throughput unchanged.
  public var sendHighWater = 256 << 10
  /// Waits between attempts to reopen a session after the last one was lost (the last repeats).
  /// Capped at 2 s: an API server that restarts is back within seconds, and forwarding should resume
  /// within a few seconds of that, which a 5 s step would miss by itself. A failed attempt against
  /// a server that is down costs one refused connect, so retrying every 2 s is cheap for the cluster.
  public var reconnectDelays: [Duration] = [.milliseconds(200), .milliseconds(500), .seconds(1), .seconds(2)]
  /// How long a new local connection waits for a session while none is open (reconnecting, or the
  /// pod being replaced after `suspend`) before it is closed. Zero closes it at once.
  public var connectionWait: Duration = .zero
  /// Report each connection on `events` (`connectionOpened`, `connectionClosed`, `connectionFailed`).
  /// Off when nobody reads them: every event wakes the task that iterates `events`, two thread
  /// wake-ups per connection on the data path's cores. The statistics count connections either way.
  public var reportsConnections = true
  public var session = PortForwardSessionOptions()

  public init() {}
}

/// A snapshot of a forward's counters.
public struct ForwardStatistics: Sendable, Equatable {
  public var openConnections = 0
  public var totalConnections = 0
  public var failedConnections = 0
  /// Payload bytes from local clients to the pod, and back.
  public var bytesToPod = 0
  public var bytesFromPod = 0
  /// Sessions open now, and opened since the start (shards, replacements, reconnects).
  public var sessions = 0
  public var sessionsOpened = 0
  /// Sessions not reading now because one of their connections holds more than its receive limit
  /// (its local reader is behind): their other connections wait meanwhile.
  public var pausedSessions = 0
  public init() {}
}

/// Why a forward (`PortForwarder`, or a `LocalForwarder` on one session) could not start.
public enum PortForwarderError: Error, Sendable, CustomStringConvertible {
  /// The first session to the pod could not be opened.
  case open(PortForwardOpenError)
  /// A local address could not be bound (neither loopback address, or one the caller named).
  case bind(address: String, port: UInt16, errno: Int32)
  /// Another socket call failed (a listener, the loop's wake-up pipe), or an address was no literal.
  case socket(String)

  public var description: String {
    switch self {
    case .open(let error): return "\(error)"
    case .bind(let address, let port, let code):
      return "cannot listen on \(address):\(port): \(String(cString: strerror(code)))"
    case .socket(let message): return message
    }
  }
}

/// Local listening sockets bound ahead of the forward that will use them, so that a port in use
/// fails before anything is created in the cluster. Closed on deinit unless a forward took them.
public final class LocalListeners: Sendable {
  public let addresses: [BoundAddress]
  fileprivate let fds: [Int32]
  private let taken = Atomic<Bool>(false)

  /// `addresses`: IPv4 or IPv6 literals; the default is 127.0.0.1 and ::1, where one of the two
  /// failing is tolerated as kubectl does. `port` 0 lets the kernel pick (the same on every address).
  public init(addresses: [String] = ["127.0.0.1", "::1"], port: UInt16) throws(PortForwarderError) {
    let bound = try LoopbackListener.listenAll(addresses: addresses, port: port)
    self.addresses = bound.map(\.bound)
    fds = bound.map(\.fd)
  }

  fileprivate func take() -> [ListenerFD]? {
    guard taken.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged else {
      return nil
    }
    return zip(fds, addresses).map { ListenerFD(fd: $0, bound: $1) }
  }

  deinit {
    if !taken.load(ordering: .sequentiallyConsistent) { fds.forEach(closeDescriptor) }
  }
}

/// A running forward: local listeners, a pool of sessions to one pod, and the loop between them.
/// This is the control surface the `proxy` command drives.
public final class PortForwarder: Sendable {
  public let addresses: [BoundAddress]
  public var localPort: UInt16 { addresses[0].port }
  /// Everything that happens, in order. Buffers the newest 4096 events if nobody reads.
  public let events: AsyncStream<ForwardEvent>

  private let pool: SessionPool
  private let control: LoopControl
  private let counters: ConnectionCounters
  private let loopDone: LoopCompletion
  private let emit: AsyncStream<ForwardEvent>.Continuation

  /// Opens the first session (so a pod that cannot be reached fails here), then listens.
  /// `listen`: address literals; the default is 127.0.0.1 and ::1, where one of the two failing is
  /// tolerated as kubectl does. `localPort` 0 lets the kernel pick.
  public static func start(
    target: ForwardTarget, listen: [String] = ["127.0.0.1", "::1"], localPort: UInt16 = 0,
    options: PortForwarderOptions = PortForwarderOptions()
  ) async throws(PortForwarderError) -> PortForwarder {
    let listeners = try LocalListeners(addresses: listen, port: localPort)
    return try await start(target: target, listeners: listeners, options: options)
  }

  /// Opens the first session, then serves `listeners` (bound earlier; each can serve one forward).
  public static func start(
    target: ForwardTarget, listeners: LocalListeners, options: PortForwarderOptions = PortForwarderOptions()
  ) async throws(PortForwarderError) -> PortForwarder {
    guard let fds = listeners.take() else { throw .socket("these listeners already serve a forward") }
    let first: PortForwardSession
    do {
      first = try await PortForwardSession.open(
        api: target.api, namespace: target.namespace, pod: target.pod, transport: target.transport,
        options: options.session)
    } catch {
      fds.forEach { closeDescriptor($0.fd) }
      throw .open(error)
    }
    do {
      return try PortForwarder(target: target, first: first, listeners: fds, options: options)
    } catch {
      first.close()
      fds.forEach { closeDescriptor($0.fd) }
      throw error
    }
  }

  private init(
    target: ForwardTarget, first: PortForwardSession, listeners: [ListenerFD], options: PortForwarderOptions
  ) throws(PortForwarderError) {
    let (events, emit) = AsyncStream<ForwardEvent>.makeStream(bufferingPolicy: .bufferingNewest(4096))
    self.events = events
    self.emit = emit
    let control = try LoopControl()
    addresses = listeners.map(\.bound)
    self.control = control
    let pool = SessionPool(target: target, options: options, emit: { emit.yield($0) })
    self.pool = pool
    let counters = ConnectionCounters()
    self.counters = counters
    let loopDone = LoopCompletion()
    self.loopDone = loopDone
    emit.yield(.listening(addresses))
    pool.install(first)
    let hooks = LoopHooks(
      chooseSession: { pool.choose() },
      event: { [reportsConnections = options.reportsConnections] event in
        counters.record(event)
        if reportsConnections, let event = ForwardEvent(event) { emit.yield(event) }
      },
      maintenance: { pool.closeIdle() },
      wantsMaintenance: { pool.wantsMaintenance },
      connectionWait: options.connectionWait)
    ForwarderLoop.start(
      control: control, hooks: hooks, listeners: listeners,
      remotePort: target.remotePort, sendHighWater: options.sendHighWater, done: { loopDone.finish() })
  }

  deinit {
    if control.requestStop() { pool.shutdown() }
    emit.finish()
  }

  public var statistics: ForwardStatistics {
    var s = ForwardStatistics()
    (s.totalConnections, s.failedConnections) = counters.snapshot
    s.openConnections = control.openConnections.load(ordering: .relaxed)
    s.bytesToPod = control.bytesToPod.load(ordering: .relaxed)
    s.bytesFromPod = control.bytesFromPod.load(ordering: .relaxed)
    (s.sessions, s.sessionsOpened, s.pausedSessions) = pool.counts
    return s
  }

  /// The pod new connections (and new shards) go to.
  public var pod: String { pool.currentPod }

  /// Opens a session to `pod` and sends every new connection there; the listener stays up and
  /// connections already running finish on their old sessions, which are closed once idle.
  public func replaceTarget(pod: String) async throws(PortForwardOpenError) {
    let target = pool.target(pod: pod)
    let session = try await PortForwardSession.open(
      api: target.api, namespace: target.namespace, pod: pod, transport: target.transport, options: pool.options.session)
    pool.install(session, pod: pod)
  }

  /// The pod is going away: its sessions take no new connection (they close once their
  /// connections end) and none is reopened to it. New connections wait up to
  /// `PortForwarderOptions.connectionWait` for `replaceTarget` to bring a session to its successor.
  public func suspend() {
    pool.suspend()
  }

  /// Uses a session the caller opened (to any pod) for new connections, as `replaceTarget` does.
  public func replaceSession(_ session: PortForwardSession) {
    pool.install(session, pod: session.pod)
  }

  /// Stops accepting, closes every local connection (their streams are reset), then ends each
  /// session in order (RST for open streams, GOAWAY, WebSocket close 1000) and finishes `events`.
  public func stop() async {
    if control.requestStop() {
      await loopDone.wait()
      pool.shutdown()
      emit.yield(.stopped)
      emit.finish()
    } else {
      await loopDone.wait()
    }
  }
}

/// Resumes waiters once the loop thread has finished.
final class LoopCompletion: Sendable {
  private let state = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

  func finish() {
    let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
      s.done = true
      defer { s.waiters = [] }
      return s.waiters
    }
    waiters.forEach { $0.resume() }
  }

  func wait() async {
    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
      let resumeNow = state.withLock { s -> Bool in
        if s.done { return true }
        s.waiters.append(c)
        return false
      }
      if resumeNow { c.resume() }
    }
  }
}

/// Connections accepted and failed (bytes and open connections are atomics in `LoopControl`).
final class ConnectionCounters: Sendable {
  private let state = Mutex<(total: Int, failed: Int)>((0, 0))

  /// A connection counts once its stream pair is open or could not be opened; it fails then or later.
  func record(_ event: LoopEvent) {
    switch event {
    case .accepted: break
    case .opened: state.withLock { $0.total += 1 }
    case .setupFailed: state.withLock { $0.total += 1; $0.failed += 1 }
    case .ended(let summary): if summary.failure != nil { state.withLock { $0.failed += 1 } }
    }
  }

  var snapshot: (Int, Int) { state.withLock { ($0.total, $0.failed) } }
}
