import Foundation
import KubeClient
import PortForward
import PortForwardCodecs
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Collects a forwarder's events (the stream is drained by a task for the forwarder's life).
final class ForwardEventLog: Sendable {
  private let events = Mutex<[ForwardEvent]>([])

  init(_ forwarder: PortForwarder) {
    let stream = forwarder.events
    Task { [self] in
      for await event in stream { record(event) }
    }
  }

  private func record(_ event: ForwardEvent) {
    events.withLock { $0.append(event) }
  }

  var all: [ForwardEvent] { events.withLock { $0 } }

  /// connection id → session id, from `connectionOpened`.
  var sessionOf: [Int: Int] {
    var out: [Int: Int] = [:]
    for case .connectionOpened(let connection, _, let session) in all { out[connection] = session }
    return out
  }

  var failures: [(connection: Int, reason: ForwardedStreamError)] {
    all.compactMap { if case .connectionFailed(let c, _, let r, _, _, _) = $0 { return (c, r) } else { return nil } }
  }
}

/// `PortForwarder` (sharding, control API) against the sandbox's API server and kubelet.
@Suite("Port forwarder: sharding and control API")
struct PortForwarderTests {
  static let transports: [PortForwardTransport] = [.webSocket, .spdy]

  static func start(
    _ fixture: PodFixture, pod: String, port: UInt16, transport: PortForwardTransport,
    configure: (inout PortForwarderOptions) -> Void = { _ in }
  ) async throws -> PortForwarder {
    var options = PortForwarderOptions()
    configure(&options)
    return try await PortForwarder.start(
      target: ForwardTarget(api: fixture.api, namespace: PodFixture.namespace, pod: pod, remotePort: port, transport: transport),
      options: options)
  }

  /// One connection is never read: its bytes pile up in its receive buffer while many other
  /// connections, spread over several sessions, keep echoing. Then the stalled one passes its
  /// 4 MiB cap and only it is reset.
  @Test(arguments: transports)
  func stalledStreamDoesNotFreezeTheOthersAndConnectionsSpread(transport: PortForwardTransport) async throws {
    let fixture = try await PodFixture.shared()
    let echo = EchoPort()
    let pod = try await fixture.createPod("shard", port: echo.port)
    let forwarder = try await Self.start(fixture, pod: pod, port: echo.port, transport: transport) {
      $0.maxSessions = 3
      $0.connectionsPerSession = 2
    }
    let log = ForwardEventLog(forwarder)

    // The stalled connection: 2 MiB echoed back and never read (below the cap, so it stays open).
    let stalled = try connectLoopback(forwarder.localPort, timeoutSeconds: 60)
    defer { close(stalled) }
    #expect(sendAll(stalled, randomBytes(2 << 20)))
    #expect(try await eventually { forwarder.statistics.bytesToPod >= 2 << 20 })
    // The log reads the event stream on its own task: under load it may lag the counters.
    #expect(try await eventually { !log.sessionOf.isEmpty })
    let stalledID = try #require(log.sessionOf.keys.min())

    // Two waves of concurrent echoes; the first makes the pool grow, the second lands on the shards.
    for wave in 0..<2 {
      let results = try await withThrowingTaskGroup(of: (Bool, Bool).self) { group in
        for _ in 0..<6 {
          group.addTask {
            let payload = randomBytes(256 * 1024)
            let result = try await exchange(port: forwarder.localPort, payload: payload)
            return (result.eof, sameBytes(result.received, payload))
          }
        }
        var all: [(Bool, Bool)] = []
        for try await r in group { all.append(r) }
        return all
      }
      #expect(
        results.allSatisfy { $0.0 && $0.1 },
        "wave \(wave): \(results); sessions \(log.sessionOf); \(forwarder.statistics); \(log.all.filter { if case .connectionOpened = $0 { false } else { true } })")
    }
    // The stalled connection is still open: nothing failed, nothing froze.
    #expect(log.failures.isEmpty, "\(log.failures)")
    let sessionsUsed = Set(log.sessionOf.values)
    #expect(sessionsUsed.count > 1, "connections per session: \(log.sessionOf)")
    #expect(forwarder.statistics.sessionsOpened > 1, "\(forwarder.statistics)")

    // Now past the cap: more echo than 4 MiB piles up; only that connection is reset.
    let more = await onThread { sendAll(stalled, randomBytes(16 << 20)) }
    _ = more  // the send fails once the forwarder resets the socket, or succeeds into buffers
    #expect(
      try await eventually(seconds: 30) {
        log.failures.contains { $0.connection == stalledID && $0.reason == .receiveBufferOverflow(limit: 4 << 20) }
      }, "\(log.failures)")
    let payload = randomBytes(64 * 1024)
    let after = try await exchange(port: forwarder.localPort, payload: payload)
    #expect(after.eof && sameBytes(after.received, payload), "\(after.received.count) bytes; \(log.failures); \(log.sessionOf)")
    #expect(forwarder.statistics.failedConnections == 1, "\(forwarder.statistics)")

    await forwarder.stop()
    await fixture.deletePod(pod)
  }

  /// A client that stops reading pauses its session once its connection holds more than the
  /// receive limit (here for up to 30 s, the stall timeout). Where connections may wait, a new one
  /// then goes to a session opened for it instead of queueing behind the pause.
  @Test(arguments: transports)
  func newConnectionsDoNotQueueBehindAPausedSession(transport: PortForwardTransport) async throws {
    let fixture = try await PodFixture.shared()
    let echo = EchoPort()
    let pod = try await fixture.createPod("paused", port: echo.port)
    let forwarder = try await Self.start(fixture, pod: pod, port: echo.port, transport: transport) {
      $0.connectionWait = .seconds(30)
      $0.session.receiveBufferLimit = 1 << 20
      $0.session.stalledStreamTimeout = .seconds(30)
      // A watchdog window (3 s) shorter than the pause: the pause must not read as a dead server.
      $0.session.pingInterval = .seconds(1)
    }
    let log = ForwardEventLog(forwarder)
    let stalled = try connectLoopback(forwarder.localPort, timeoutSeconds: 60)
    defer { close(stalled) }
    Thread.detachNewThread { _ = sendAll(stalled, randomBytes(32 << 20)) }
    // Paused for good: the session stops reading (the connection holds more than its limit) and the
    // local socket is full, so nothing more is taken. A quiet byte counter alone is no proof: under
    // load the transfer may just be slow, and a new connection would rightly join the session, which
    // pauses only later.
    var last = -1
    var steadySince = ContinuousClock.now
    let wedged = try await eventually(seconds: 30) {
      let statistics = forwarder.statistics
      if statistics.bytesFromPod != last || statistics.pausedSessions != 1 {
        last = statistics.bytesFromPod
        steadySince = .now
      }
      return ContinuousClock.now - steadySince > .seconds(1)
    }
    #expect(wedged, "\(forwarder.statistics)")
    let stalledSession = try #require(log.sessionOf.first?.value)

    let payload = randomBytes(64 * 1024)
    let result = try await exchange(port: forwarder.localPort, payload: payload)
    #expect(result.eof && sameBytes(result.received, payload), "\(result.received.count) bytes")
    #expect(try await eventually { log.sessionOf.count == 2 })
    let sessions = log.sessionOf.sorted { $0.key < $1.key }.map(\.value)
    #expect(sessions.count == 2 && sessions[1] != stalledSession, "connections per session: \(log.sessionOf)")
    // Past the watchdog's window, still paused: the paused session is neither declared dead nor reset.
    try await Task.sleep(for: .seconds(4))
    #expect(log.failures.isEmpty, "the paused connection is not reset before its 30 s: \(log.failures)")
    #expect(!log.all.contains { if case .sessionLost = $0 { true } else { false } }, "\(log.all.filter { if case .connectionOpened = $0 { false } else { true } })")
    // The waiting connection was offered a session every 50 ms until the new one was up: one stall
    // opened one session, not one per offer.
    #expect(forwarder.statistics.sessionsOpened == 2, "\(forwarder.statistics)")

    await forwarder.stop()
    await fixture.deletePod(pod)
  }

  /// `reportsConnections` off (what `proxy` does without --verbose or -o json): no connection
  /// events, while the statistics still count the connection and its bytes.
  @Test func withoutConnectionReportsTheStatisticsStillCount() async throws {
    let fixture = try await PodFixture.shared()
    let echo = EchoPort()
    let pod = try await fixture.createPod("quiet", port: echo.port)
    let forwarder = try await Self.start(fixture, pod: pod, port: echo.port, transport: .webSocket) {
      $0.reportsConnections = false
    }
    let log = ForwardEventLog(forwarder)
    let payload = randomBytes(4096)
    let result = try await exchange(port: forwarder.localPort, payload: payload)
    #expect(result.eof && sameBytes(result.received, payload), "\(result.received.count) bytes")
    #expect(
      try await eventually {
        let s = forwarder.statistics
        return s.totalConnections == 1 && s.openConnections == 0 && s.bytesFromPod == 4096
      }, "\(forwarder.statistics)")
    await forwarder.stop()
    // `stopped` is the last event: everything before it has been read by then.
    #expect(try await eventually { log.all.contains(.stopped) }, "the other events still flow: \(log.all)")
    let connectionEvents = log.all.filter {
      switch $0 {
      case .connectionOpened, .connectionClosed, .connectionFailed: true
      default: false
      }
    }
    #expect(connectionEvents.isEmpty, "\(connectionEvents)")
    await fixture.deletePod(pod)
  }

  @Test(arguments: transports)
  func statisticsEventsAndTheKubeletsErrorText(transport: PortForwardTransport) async throws {
    let fixture = try await PodFixture.shared()
    // The pod's echo server listens on another port: this one is refused inside the pod.
    let echo = EchoPort()
    let closed = closedPodPort(besides: echo)
    let pod = try await fixture.createPod("refused", port: echo.port)
    let forwarder = try await Self.start(fixture, pod: pod, port: closed, transport: transport)
    let log = ForwardEventLog(forwarder)
    #expect(forwarder.addresses.map(\.address).contains("127.0.0.1"))

    let fd = try connectLoopback(forwarder.localPort, timeoutSeconds: 20)
    _ = await onThread { readToEnd(fd) }
    close(fd)
    #expect(try await eventually { !log.failures.isEmpty })
    guard case .remote(let text)? = log.failures.first?.reason else {
      Issue.record("expected the kubelet's error text, got \(log.all)")
      return
    }
    #expect(text.contains("error forwarding port \(closed) to pod"), "\(text)")
    let stats = forwarder.statistics
    #expect(stats.totalConnections == 1 && stats.failedConnections == 1 && stats.openConnections == 0, "\(stats)")
    #expect(stats.sessions == 1, "\(stats)")
    let first = log.all.first
    #expect(first == .listening(forwarder.addresses), "\(log.all)")

    await forwarder.stop()
    #expect(try await eventually { log.all.last == .stopped }, "\(log.all)")
    #expect(throws: (any Error).self) { try connectLoopback(forwarder.localPort, timeoutSeconds: 5) }
    await fixture.deletePod(pod)
  }

  @Test(arguments: transports)
  func replaceTargetKeepsTheListener(transport: PortForwardTransport) async throws {
    let fixture = try await PodFixture.shared()
    let echo = EchoPort()
    let first = try await fixture.createPod("old", port: echo.port)
    let second = try await fixture.createPod("new", port: echo.port)
    let forwarder = try await Self.start(fixture, pod: first, port: echo.port, transport: transport)
    let log = ForwardEventLog(forwarder)
    let port = forwarder.localPort

    let payload = randomBytes(128 * 1024)
    let before = try await exchange(port: port, payload: payload)
    #expect(before.eof && sameBytes(before.received, payload))

    try await forwarder.replaceTarget(pod: second)
    #expect(forwarder.pod == second)
    #expect(forwarder.localPort == port)
    let after = try await exchange(port: port, payload: payload)
    #expect(after.eof && sameBytes(after.received, payload))
    // The new connection ran on the new pod's session, and the old session was closed once idle.
    let opened = log.all.compactMap { e -> (Int, String)? in
      if case .sessionOpened(let id, let pod, _) = e { return (id, pod) } else { return nil }
    }
    let newSession = try #require(opened.first { $0.1 == second }?.0)
    #expect(log.sessionOf[log.sessionOf.keys.max()!] == newSession, "\(log.all)")
    #expect(try await eventually { log.all.contains(.sessionClosed(session: opened[0].0)) }, "\(log.all)")
    #expect(forwarder.statistics.sessions == 1)

    await forwarder.stop()
    await fixture.deletePod(first)
    await fixture.deletePod(second)
  }
}
