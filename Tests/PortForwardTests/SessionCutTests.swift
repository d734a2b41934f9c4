import Foundation
import KubeClient
import PortForward
import PortForwardCodecs
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The session's connection dies underneath: a private sandbox (not the shared one) is frozen
/// (SIGSTOP: the TCP connection stays up, nothing answers, only the PING watchdog can tell) or
/// killed (the connection ends).
@Suite("Port-forward session when the server goes away", .serialized)
struct SessionCutTests {
  final class PrivateSandbox: Sendable {
    let directory: String
    let api: KubeAPI
    let pid: pid_t

    init() async throws {
      directory = try Teardown.temporaryDirectory("kftray-session-cut")
      // --owner-pid: a test run killed before `down` must not leave this cluster (namespaces, dnsmasq) behind.
      let up = try Binaries.run(
        Binaries.path("kftray-sandbox"), ["up", "--dir", directory, "--owner-pid", String(getpid())])
      guard up.status == 0 else { throw TestFailure("kftray-sandbox up: \(up.stderr)\(up.stdout)") }
      Teardown.register(directory)
      var overrides = ConfigOverrides()
      overrides.kubeconfig = directory + "/kubeconfig"
      overrides.context = "sandbox-admin"
      let config = try KubeconfigLoader(environment: ["HOME": directory]).load(overrides)
      api = KubeAPI(config: config, credentials: KubeCredentials(config: config))
      let text = try String(contentsOfFile: directory + "/apiserver.pid", encoding: .utf8)
      guard let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw TestFailure("no pid") }
      self.pid = pid
    }

    func down() {
      kill(pid, SIGCONT)
      _ = try? Binaries.run(Binaries.path("kftray-sandbox"), ["down", "--dir", directory])
    }
  }

  static func podAndSession(_ sandbox: PrivateSandbox, echo: EchoPort, transport: PortForwardTransport) async throws -> PortForwardSession {
    let fixture = PodFixture(api: sandbox.api)
    let pod = try await fixture.createPod("cut", port: echo.port)
    var options = PortForwardSessionOptions()
    options.pingInterval = .milliseconds(200)
    options.missedPingLimit = 3
    return try await PortForwardSession.open(
      api: sandbox.api, namespace: PodFixture.namespace, pod: pod, transport: transport, options: options)
  }

  @Test(arguments: [PortForwardTransport.webSocket, .spdy])
  func frozenServerIsDetectedByTheWatchdog(transport: PortForwardTransport) async throws {
    let sandbox = try await PrivateSandbox()
    defer { sandbox.down() }
    let echo = EchoPort()
    let session = try await Self.podAndSession(sandbox, echo: echo, transport: transport)

    // Idle for several ping intervals: the PING replies keep it alive.
    try await Task.sleep(for: .seconds(1.5))
    #expect(session.state == .open)

    let stream = try session.openStreamPair(port: echo.port)
    try stream.write(Array("before".utf8))
    var got: [UInt8] = []
    let deadline = ContinuousClock.now + .seconds(10)
    while got.count < 6, ContinuousClock.now < deadline {
      if case .bytes(let b) = stream.read() { got += b } else { try await Task.sleep(for: .milliseconds(10)) }
    }
    #expect(got == Array("before".utf8))

    kill(sandbox.pid, SIGSTOP)
    let started = ContinuousClock.now
    let reason = try await waitForEnd(session, seconds: 10)
    let took = ContinuousClock.now - started
    kill(sandbox.pid, SIGCONT)
    #expect(reason == .keepaliveTimeout(.milliseconds(600)), "\(reason)")
    // Window 600 ms plus one ~100 ms tick; the reason above says it was the watchdog. The bound only
    // rules out a TCP timeout (minutes), with room for the full suite's load (5.4 s seen there).
    #expect(took < .seconds(20), "\(took)")
    #expect(stream.read() == .failed(.sessionEnded(.keepaliveTimeout(.milliseconds(600)))))
    #expect(throws: ForwardedStreamError.self) { try session.openStreamPair(port: echo.port) }
    stream.close()
  }

  @Test(arguments: [PortForwardTransport.webSocket, .spdy])
  func killedServerEndsTheSession(transport: PortForwardTransport) async throws {
    let sandbox = try await PrivateSandbox()
    defer { sandbox.down() }
    let echo = EchoPort()
    let session = try await Self.podAndSession(sandbox, echo: echo, transport: transport)
    let events = EventLog()
    let forwarder = try LocalForwarder(session: session, remotePort: echo.port, events: events.handler)
    defer { forwarder.stop() }
    // A connection in flight when the server dies.
    let fd = try connectLoopback(forwarder.localPort, timeoutSeconds: 20)
    defer { close(fd) }
    #expect(sendAll(fd, Array("hi".utf8)))
    var two = [UInt8](repeating: 0, count: 2)
    #expect(recv(fd, &two, 2, Int32(MSG_WAITALL)) == 2 && two == Array("hi".utf8))

    kill(sandbox.pid, SIGKILL)
    let reason = try await waitForEnd(session, seconds: 10)
    switch reason {
    case .closedByPeer, .transportError, .keepaliveTimeout: break
    default: Issue.record("unexpected termination \(reason)")
    }
    // The local connection is closed by the forwarder (EOF or reset), and reported.
    let (_, _) = await onThread { readToEnd(fd) }
    #expect(try await eventually { events.failures.contains(.sessionEnded(reason)) }, "\(events.all)")
  }
}

/// Polls the session state (a stuck wait must fail the test, not hang it).
func waitForEnd(_ session: PortForwardSession, seconds: Double) async throws -> SessionTermination {
  let deadline = ContinuousClock.now + .seconds(seconds)
  while ContinuousClock.now < deadline {
    if case .ended(let reason) = session.state { return reason }
    try await Task.sleep(for: .milliseconds(10))
  }
  throw TestFailure("the session did not end within \(seconds) s (state \(session.state))")
}

/// `PortForwarder` when its only session dies underneath: it reports the loss, reopens a session
/// to the pod, and keeps the same listener.
@Suite("Port forwarder when the server goes away", .serialized)
struct ForwarderReconnectTests {
  @Test(arguments: [PortForwardTransport.webSocket, .spdy])
  func lostSessionIsReportedAndReplaced(transport: PortForwardTransport) async throws {
    let sandbox = try await SessionCutTests.PrivateSandbox()
    defer { sandbox.down() }
    let echo = EchoPort()
    let pod = try await PodFixture(api: sandbox.api).createPod("reconnect", port: echo.port)
    var options = PortForwarderOptions()
    options.session.pingInterval = .milliseconds(200)
    options.session.missedPingLimit = 3
    options.reconnectDelays = [.milliseconds(200)]
    let forwarder = try await PortForwarder.start(
      target: ForwardTarget(api: sandbox.api, namespace: PodFixture.namespace, pod: pod, remotePort: echo.port, transport: transport),
      options: options)
    let log = ForwardEventLog(forwarder)
    let port = forwarder.localPort

    // Frozen long enough for the watchdog (600 ms window), then back.
    kill(sandbox.pid, SIGSTOP)
    let lost = try await eventually(seconds: 10) {
      log.all.contains { if case .sessionLost(1, .keepaliveTimeout) = $0 { true } else { false } }
    }
    kill(sandbox.pid, SIGCONT)
    #expect(lost, "\(log.all)")
    #expect(
      try await eventually(seconds: 20) { log.all.contains { if case .reconnected = $0 { true } else { false } } },
      "\(log.all)")
    #expect(forwarder.localPort == port)
    let payload = randomBytes(64 * 1024)
    let result = try await exchange(port: port, payload: payload)
    #expect(result.eof && sameBytes(result.received, payload), "\(log.all)")
    await forwarder.stop()
  }
}
