import Foundation
import KubeClient
import PortForward
import PortForwardCodecs
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `PortForwardSession` + `LocalForwarder` against the sandbox API server and its kubelet, over
/// both transports. "The pod" is a loopback echo server (the kubelet's stand-in dialer connects
/// to 127.0.0.1:<pod port>).
@Suite("Port-forward session against the sandbox kubelet")
struct SessionSandboxTests {
  static let transports: [PortForwardTransport] = [.webSocket, .spdy]

  /// A pod, an echo server, a session and a forwarder; torn down afterwards.
  struct Setup {
    let fixture: PodFixture
    let echo: EchoPort
    let pod: String
    let session: PortForwardSession
    let forwarder: LocalForwarder
    let events: EventLog

    static func make(
      _ transport: PortForwardTransport, options: PortForwardSessionOptions = PortForwardSessionOptions()
    ) async throws -> Setup {
      let fixture = try await PodFixture.shared()
      let echo = EchoPort()
      let pod = try await fixture.createPod("echo", port: echo.port)
      let session = try await PortForwardSession.open(
        api: fixture.api, namespace: PodFixture.namespace, pod: pod, transport: transport, options: options)
      let events = EventLog()
      let forwarder = try LocalForwarder(session: session, remotePort: echo.port, events: events.handler)
      return Setup(fixture: fixture, echo: echo, pod: pod, session: session, forwarder: forwarder, events: events)
    }

    func tearDown() async {
      forwarder.stop()
      session.close()
      await fixture.deletePod(pod)
    }
  }

  @Test(arguments: transports)
  func eightMegabytesBothWaysWithChecksums(transport: PortForwardTransport) async throws {
    let setup = try await Setup.make(transport)
    #expect(setup.session.transport == transport)
    let payload = randomBytes(8 << 20)
    let result = try await exchange(port: setup.forwarder.localPort, payload: payload)
    #expect(result.sentAll && result.eof)
    // Compared outside #expect: the macro would print (and diff) both 8 MiB arrays on a mismatch.
    let same = sameBytes(result.received, payload)
    #expect(same, "\(describe(result.received, payload))")
    let stats = setup.session.statistics
    #expect(stats.bytesSent == payload.count && stats.bytesReceived == payload.count, "\(stats)")
    #expect(stats.connectionsOpened == 1 && stats.connectionsFailed == 0, "\(stats)")
    #expect(setup.events.failures.isEmpty, "\(setup.events.all)")
    await setup.tearDown()
  }

  @Test(arguments: transports)
  func twoHundredConcurrentConnectionsShareOneSession(transport: PortForwardTransport) async throws {
    let setup = try await Setup.make(transport)
    let port = setup.forwarder.localPort
    // kubectl's addresses, one port for both (::1 only where the host has IPv6 loopback).
    #expect(setup.forwarder.addresses.first?.address == "127.0.0.1")
    #expect(setup.forwarder.addresses.allSatisfy { $0.port == port })
    let payloads = (0..<200).map { _ in randomBytes(64 * 1024) }
    let results = try await withThrowingTaskGroup(of: (Int, Exchange).self) { group in
      for (i, payload) in payloads.enumerated() {
        // Alternate the two loopback listeners.
        group.addTask { (i, try await exchange(port: port, payload: payload, ipv6: i % 2 == 1 && setup.forwarder.addresses.count > 1)) }
      }
      var out = [Int: Exchange]()
      for try await (i, r) in group { out[i] = r }
      return out
    }
    for (i, payload) in payloads.enumerated() {
      let r = results[i]!
      #expect(r.eof, "connection \(i)")
      let same = sameBytes(r.received, payload)
      #expect(same, "connection \(i): \(describe(r.received, payload))")
    }
    let stats = setup.session.statistics
    #expect(stats.connectionsOpened == 200 && stats.connectionsFailed == 0, "\(stats)")
    #expect(try await eventually { setup.session.statistics.connectionsActive == 0 }, "\(setup.session.statistics)")
    await setup.tearDown()
  }

  @Test(arguments: transports)
  func halfCloseStillReceivesTheWholeEcho(transport: PortForwardTransport) async throws {
    let setup = try await Setup.make(transport)
    // Small on purpose: the server closes the pod socket ≤ 1 s after our FIN (containerd's grace),
    // so only an echo that fits in that window is guaranteed to come back whole.
    let payload = randomBytes(64 * 1024)
    let result = try await exchange(port: setup.forwarder.localPort, payload: payload, halfCloseBeforeReading: true)
    #expect(result.sentAll && result.eof)
    let same = sameBytes(result.received, payload)
    #expect(same, "\(describe(result.received, payload))")
    #expect(try await eventually { setup.events.all.contains { if case .connectionClosed = $0 { return true } else { return false } } })
    await setup.tearDown()
  }

  @Test(arguments: transports)
  func refusedPodPortFailsOnlyThatConnection(transport: PortForwardTransport) async throws {
    let setup = try await Setup.make(transport)
    let closed = closedPodPort(besides: setup.echo)
    // A second forwarder on the same session, to the closed port.
    let refusedEvents = EventLog()
    let refused = try LocalForwarder(session: setup.session, remotePort: closed, events: refusedEvents.handler)
    // Nothing is sent, so the only error the socket can report is the forwarder's reset: a failed
    // connection is closed with RST, not FIN, so the client can tell it from a clean end.
    let fd = try connectLoopback(refused.localPort, timeoutSeconds: 20)
    let result = await onThread { readToEnd(fd) }
    close(fd)
    #expect(result.bytes.isEmpty)
    #expect(!result.eof)
    #expect(try await eventually { !refusedEvents.failures.isEmpty })
    guard case .remote(let text)? = refusedEvents.failures.first else {
      Issue.record("expected the kubelet's error text, got \(refusedEvents.all)")
      return
    }
    #expect(text.contains("error forwarding port \(closed) to pod"), "\(text)")
    #expect(text.contains("connection refused"), "\(text)")
    #expect(setup.session.state == .open)

    // The same session serves the next connection to an open port.
    let payload = randomBytes(256 * 1024)
    let ok = try await exchange(port: setup.forwarder.localPort, payload: payload)
    #expect(ok.eof)
    let same = sameBytes(ok.received, payload)
    #expect(same, "\(describe(ok.received, payload))")

    // And the raw API reports the same per connection.
    let stream = try setup.session.openStreamPair(port: closed)
    let outcome = try await readOutcome(stream)
    guard case .failed(.remote(let direct)) = outcome else {
      Issue.record("expected a remote error, got \(outcome)")
      return
    }
    #expect(direct.contains("connection refused"))
    stream.close()
    #expect(setup.session.statistics.connectionsFailed == 2, "\(setup.session.statistics)")
    refused.stop()
    await setup.tearDown()
  }

  @Test(arguments: [PortForwardTransport.auto, .webSocket, .spdy])
  func podNotFoundIsATyped404(transport: PortForwardTransport) async throws {
    let fixture = try await PodFixture.shared()
    do {
      _ = try await PortForwardSession.open(
        api: fixture.api, namespace: PodFixture.namespace, pod: "no-such-pod", transport: transport)
      Issue.record("expected a 404")
    } catch {
      guard case .rejected(let status, _, let message, _) = error else {
        Issue.record("expected a refusal, got \(error)")
        return
      }
      #expect(status == 404)
      #expect(message == #"pods "no-such-pod" not found"#)
    }
  }

  @Test func autoPrefersTheWebSocketTunnelAndHonoursTheKubectlSwitch() async throws {
    let fixture = try await PodFixture.shared()
    let echo = EchoPort()
    let pod = try await fixture.createPod("auto", port: echo.port)
    let session = try await PortForwardSession.open(api: fixture.api, namespace: PodFixture.namespace, pod: pod)
    #expect(session.transport == .webSocket)
    session.close()
    var options = PortForwardSessionOptions()
    options.environment = ["KUBECTL_PORT_FORWARD_WEBSOCKETS": "FALSE"]
    let spdy = try await PortForwardSession.open(
      api: fixture.api, namespace: PodFixture.namespace, pod: pod, options: options)
    #expect(spdy.transport == .spdy)
    let stream = try spdy.openStreamPair(port: echo.port)
    try stream.write(Array("over spdy".utf8))
    try stream.finish()
    var got: [UInt8] = []
    let outcome = try await readOutcome(stream) { got += $0 }
    #expect(outcome == .end && got == Array("over spdy".utf8))
    stream.close()
    spdy.close()
    #expect(await spdy.terminated() == .closedLocally)
    await fixture.deletePod(pod)
  }

  @Test(arguments: transports)
  func anUnreadConnectionDoesNotStallTheOthers(transport: PortForwardTransport) async throws {
    var options = PortForwardSessionOptions()
    options.receiveBufferLimit = 1 << 20
    let setup = try await Setup.make(transport, options: options)
    let port = setup.forwarder.localPort
    // Connection A sends a lot and never reads: its echo piles up in the session's buffer for it.
    let stalled = try connectLoopback(port, timeoutSeconds: 30)
    let writer = Task { await onThread { sendAll(stalled, randomBytes(48 << 20)) } }
    // Meanwhile B flows. Its payload is below the cap, so however slowly the loaded machine lets
    // the forwarder drain it, B itself can never overflow: only A can.
    let payload = randomBytes(768 * 1024)
    let flowing = try await exchange(port: port, payload: payload)
    #expect(flowing.eof)
    let same = sameBytes(flowing.received, payload)
    #expect(same, "\(describe(flowing.received, payload))")
    // A is reset alone once its buffer passes the cap.
    #expect(try await eventually(seconds: 30) { setup.events.failures.contains(.receiveBufferOverflow(limit: 1 << 20)) }, "\(setup.events.all)")
    #expect(setup.session.state == .open)
    let again = try await exchange(port: port, payload: Array("still alive".utf8))
    // Once failed here under the full suite (nothing for 60 s): say what the session was doing.
    #expect(
      again.received == Array("still alive".utf8),
      "eof \(again.eof), reading paused \(setup.session.readingPaused), \(setup.session.statistics), events \(setup.events.all)")
    close(stalled)
    _ = await writer.value
    await setup.tearDown()
  }

  @Test(arguments: transports)
  func replacingTheSessionKeepsTheListener(transport: PortForwardTransport) async throws {
    let setup = try await Setup.make(transport)
    let first = try await exchange(port: setup.forwarder.localPort, payload: Array("one".utf8))
    #expect(first.received == Array("one".utf8))
    let second = try await PortForwardSession.open(
      api: setup.fixture.api, namespace: PodFixture.namespace, pod: setup.pod, transport: transport)
    setup.forwarder.replaceSession(second)
    setup.session.close()
    let after = try await exchange(port: setup.forwarder.localPort, payload: Array("two".utf8))
    #expect(after.received == Array("two".utf8))
    #expect(second.statistics.connectionsOpened == 1)
    #expect(setup.session.statistics.connectionsOpened == 1)
    setup.forwarder.stop()
    second.close()
    await setup.tearDown()
  }
}

/// Reads a stream until its outcome, passing bytes to `bytes`.
func readOutcome(_ stream: ForwardedStream, seconds: Double = 20, bytes: ([UInt8]) -> Void = { _ in }) async throws -> StreamRead {
  let deadline = ContinuousClock.now + .seconds(seconds)
  while ContinuousClock.now < deadline {
    switch stream.read() {
    case .bytes(let b): bytes(Array(b))
    case .pending: try await Task.sleep(for: .milliseconds(10))
    case let outcome: return outcome
    }
  }
  throw TestFailure("no outcome within \(seconds) s")
}
