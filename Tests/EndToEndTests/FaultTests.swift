import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Faults while `kubectl kftray proxy` forwards (issue 18, item 1): the built plugin through real
/// kubectl against the sandbox, each case repeated `KFTRAY_FAULT_REPEATS` times (`make faults`: 10).
/// Bounds are the issue's (5 s to recover, 15 s for the watchdog), measured from the fault (or, for
/// the API server, from when it is back); each case prints its figures as `fault figures: ...`.
/// Every test is bounded: a hang fails it.
@Suite("faults while forwarding", .serialized, .timeLimit(.minutes(20)))
struct FaultTests {
  static let echo = "echo.default.svc.cluster.local:7000"

  /// A proxy to the echo service on one local port, forwarding.
  static func echoProxy(_ sandbox: SandboxCluster.Running, port: Int) async throws -> ProxyTests.Proxy {
    let proxy = try ProxyTests.Proxy(sandbox, ["--address", "127.0.0.1", "\(port):\(echo)"])
    try await proxy.waitForwarding(lines: 1, seconds: 90)
    return proxy
  }

  static func relayPod(_ sandbox: SandboxCluster.Running, _ proxy: ProxyTests.Proxy) throws -> String {
    let pods = try ProxyTests.relayPods(sandbox, namespace: "default", label: proxy.label)
    guard pods.count == 1 else { throw TestFailure("expected one relay pod, found \(pods)") }
    return pods[0]
  }

  enum PodFault: String, CaseIterable, Sendable {
    case deleted = "relay-pod-deleted"
    case killed = "relay-process-killed"
  }

  /// Lines `proxy -v` prints while it replaces a lost relay pod, in order.
  enum RecoveryMark {
    static let lost = "lost: "
    static let ready = ": Ready"
    static let again = "forwarding again via "
  }

  @Test("relay pod deleted through the API, relay process killed (SIGKILL) on the node: new connections on the same port work again within 5 s", arguments: PodFault.allCases)
  func relayLost(_ fault: PodFault) async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let port = try freeLoopbackPort()
    let proxy = try await Self.echoProxy(sandbox, port: port)
    var recovery: [Double] = []
    var noticed: [Double] = []
    var podStart: [Double] = []
    var moved: [Double] = []
    for round in 1...Fault.repeats {
      _ = try await Fault.waitForEcho(port: port, bound: 30)
      let pod = try Self.relayPod(sandbox, proxy)
      let offset = proxy.stderr.count
      let clock = LineClock(offset: offset, marks: [RecoveryMark.lost, RecoveryMark.ready, RecoveryMark.again]) {
        [path = proxy.err] in (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
      }
      let start: ContinuousClock.Instant
      switch fault {
      case .deleted:
        start = .now
        let r = try ClusterTests.kubectl(sandbox, ["delete", "-n", "default", pod, "--wait=false"])
        #expect(r.status == 0, "\(r.stderr)")
      case .killed:
        let pid = try Fault.relayProcess(sandbox, namespace: "default", pod: pod)
        start = .now
        kill(pid, SIGKILL)
      }
      // Recovered: the proxy moved to a new pod and a new connection echoes (an old pod that still
      // answers while it terminates does not count).
      let back = try await Fault.waitForEcho(port: port, bound: 60) { clock.time(RecoveryMark.again) != nil }
      try await Task.sleep(for: .milliseconds(500))  // events are printed asynchronously
      let log = String(proxy.stderr.dropFirst(offset))
      guard let lost = clock.time(RecoveryMark.lost), let ready = clock.time(RecoveryMark.ready) else {
        Issue.record("round \(round): the proxy did not report the loss and the new pod's readiness:\n\(log)")
        continue
      }
      let total = Fault.seconds(start, back)
      recovery.append(total)
      noticed.append(Fault.seconds(start, lost))
      podStart.append(Fault.seconds(lost, ready))
      moved.append(Fault.seconds(ready, back))
      let phases = String(
        format: "noticed after %.3f s, the new pod Ready %.3f s later, a new connection echoed %.3f s after that",
        noticed.last!, podStart.last!, moved.last!)
      // The issue's bound holds for the whole recovery when the case runs alone (`make faults`).
      // Under `make test` the new pod's start is the sandbox's, on cores every other suite shares
      // (once in CI, about 13 s passed before it served); what the proxy does itself, noticing and moving, is held to the
      // bound, and the whole recovery only to the 60 s wait above.
      if Fault.alone {
        #expect(total <= 5, "round \(round): new connections worked again only after \(total) s (\(phases))\n\(log)")
      }
      #expect(noticed.last! <= Fault.bound(5), "round \(round): \(phases)\n\(log)")
      #expect(moved.last! <= Fault.bound(5), "round \(round): \(phases)\n\(log)")
      let new = try Self.relayPod(sandbox, proxy)
      #expect(new != pod)
      let (oldName, newName) = (pod.replacingOccurrences(of: "pod/", with: ""), new.replacingOccurrences(of: "pod/", with: ""))
      // The replacement is reported like the first pod (-v), and the line that ends the wait says how long it was.
      #expect(log.contains("creating relay pod default/\(newName)"), "\(log)")
      #expect(log.contains("relay pod default/\(newName): Ready"), "\(log)")
      #expect(log.contains("forwarding again via \(newName) (replaces \(oldName)) after "), "\(log)")
    }
    Fault.report(fault.rawValue, recovery)
    Fault.report(fault.rawValue + "-noticed", noticed)
    Fault.report(fault.rawValue + "-pod-start", podStart)
    Fault.report(fault.rawValue + "-moved", moved)
    #expect(try await proxy.stop(SIGTERM) == 0, "\(proxy.stderr)")
    try await ProxyTests.expectNoRelayPods(sandbox, namespace: "default", label: proxy.label)
  }

  @Test("API server restarted (objects kept): forwarding resumes within 5 s of it being back")
  func apiServerRestart() async throws {
    let split = try await FaultCluster.shared.start()
    let port = try freeLoopbackPort()
    let proxy = try await Self.echoProxy(split.api, port: port)
    var resumed: [Double] = []
    var downtime: [Double] = []
    for round in 1...Fault.repeats {
      _ = try await Fault.waitForEcho(port: port, bound: 30)
      let pod = try Self.relayPod(split.api, proxy)
      let old = try split.apiServerPID()
      let start = ContinuousClock.now
      try await Binaries.offPool { try split.restartAPIServer() }
      let back = ContinuousClock.now
      #expect(try split.apiServerPID() != old)
      let working = try await Fault.waitForEcho(port: port, bound: 60)
      let seconds = Fault.seconds(back, working)
      resumed.append(seconds)
      downtime.append(Fault.seconds(start, back))
      #expect(seconds <= Fault.bound(5), "round \(round): forwarding resumed \(seconds) s after the API server was back\n\(proxy.stderr)")
      // The relay pod survived in the restarted server's store: no replacement was needed.
      #expect(try Self.relayPod(split.api, proxy) == pod, "\(proxy.stderr)")
    }
    Fault.report("api-server-restart-resume", resumed)
    Fault.report("api-server-restart-downtime", downtime)
    #expect(try await proxy.stop(SIGTERM) == 0, "\(proxy.stderr)")
    try await ProxyTests.expectNoRelayPods(split.api, namespace: "default", label: proxy.label)
  }

  @Test("API server frozen (SIGSTOP): the watchdog says so within 15 s, forwarding resumes after SIGCONT")
  func apiServerFrozen() async throws {
    let split = try await FaultCluster.shared.start()
    let port = try freeLoopbackPort()
    let proxy = try await Self.echoProxy(split.api, port: port)
    let notice = "the connection to the API server stopped answering (no reply for 12s); reconnecting"
    var noticed: [Double] = []
    var resumed: [Double] = []
    for round in 1...Fault.repeats {
      _ = try await Fault.waitForEcho(port: port, bound: 30)
      let pid = try split.apiServerPID()
      let before = Fault.count(notice, in: proxy.stderr)
      let stopped = ContinuousClock.now
      kill(pid, SIGSTOP)
      // Whatever happens below, the API server runs again (every later test needs it).
      var continued = false
      defer { if !continued { kill(pid, SIGCONT) } }
      let seen = try await Fault.waitUntil(bound: 30, "round \(round): the watchdog line\n\(proxy.stderr)") {
        Fault.count(notice, in: proxy.stderr) > before
      }
      noticed.append(Fault.seconds(stopped, seen))
      #expect(Fault.seconds(stopped, seen) <= Fault.bound(15), "round \(round): noticed after \(Fault.seconds(stopped, seen)) s")
      kill(pid, SIGCONT)
      continued = true
      let resumedAt = ContinuousClock.now
      let working = try await Fault.waitForEcho(port: port, bound: 60)
      resumed.append(Fault.seconds(resumedAt, working))
      #expect(Fault.seconds(resumedAt, working) <= Fault.bound(5), "round \(round): forwarding resumed \(Fault.seconds(resumedAt, working)) s after SIGCONT\n\(proxy.stderr)")
    }
    Fault.report("api-server-frozen-noticed", noticed)
    Fault.report("api-server-frozen-resume", resumed)
    #expect(try await proxy.stop(SIGTERM) == 0, "\(proxy.stderr)")
    try await ProxyTests.expectNoRelayPods(split.api, namespace: "default", label: proxy.label)
  }

  @Test("a target that refuses and one that resets: only their connections fail, an echo flow through another forward keeps every byte")
  func refusingAndResettingTargets() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let echoPort = try freeLoopbackPort()
    let closedPort = try freeLoopbackPort()
    let resetPort = try freeLoopbackPort()
    let proxy = try ProxyTests.Proxy(
      sandbox,
      [
        "--address", "127.0.0.1", "\(echoPort):\(Self.echo)", "\(closedPort):closed.default.svc.cluster.local:7001",
        "\(resetPort):reset.default.svc.cluster.local:7003",
      ])
    try await proxy.waitForwarding(lines: 3, seconds: 90)
    var failures: [String: [Double]] = ["refused": [], "reset": []]
    var flowed = 0
    for round in 1...Fault.repeats {
      let stop = StopFlag()
      async let flow = Binaries.offPool { try FaultSockets.echoFlow(port: echoPort, stop: stop) }
      for _ in 0..<5 {
        for (name, port) in [("refused", closedPort), ("reset", resetPort)] {
          let attempt = try await Binaries.offPool { try FaultSockets.oneShot(port: port) }
          #expect(attempt.bytes == 0, "round \(round): \(name) target answered \(attempt.bytes) bytes")
          // It ends, it does not hang until the receive timeout.
          #expect(attempt.seconds <= Fault.bound(5), "round \(round): \(name) connection ended after \(attempt.seconds) s")
          failures[name]!.append(attempt.seconds)
        }
      }
      stop.set()
      let bytes = try await flow
      #expect(bytes >= 8 * 4096)
      flowed += bytes
      #expect(await Fault.echoes(port: echoPort), "round \(round): a new echo connection after the failures")
    }
    print("echo flow beside the failing targets: \(flowed) bytes intact over \(Fault.repeats) rounds")
    Fault.report("target-refused-connection-ends", failures["refused"]!)
    Fault.report("target-reset-connection-ends", failures["reset"]!)
    #expect(proxy.stderr.contains("Fatal error") == false)
    #expect(try await proxy.stop(SIGTERM) == 0, "\(proxy.stderr)")
    try await ProxyTests.expectNoRelayPods(sandbox, namespace: "default", label: proxy.label)
  }

  @Test("a client that stops reading during a bulk transfer: other connections keep working; one that pauses under 1 s gets every byte")
  func slowReader() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let port = try freeLoopbackPort()
    let proxy = try await Self.echoProxy(sandbox, port: port)
    var newConnectionRTT: [Double] = []
    var openConnectionRTT: [Double] = []
    var stalledFate: [String] = []
    for round in 1...Fault.repeats {
      // A pause shorter than the stalled-stream timeout (2 s) loses nothing.
      let payload = FaultSockets.randomBytes(8 << 20)
      let paused = try await Binaries.offPool {
        var slept = false
        return try FaultSockets.bulkEcho(port: port, payload: payload) { offset in
          if !slept && offset >= 1 << 20 {
            slept = true
            Thread.sleep(forTimeInterval: 0.9)
          }
        }
      }
      #expect(paused.count == payload.count && checksum(paused) == checksum(payload), "round \(round): \(paused.count) of \(payload.count) bytes came back intact")

      // A client that stops reading for good: meanwhile, round trips on a connection opened before
      // and on new ones keep succeeding (their times are printed, not asserted beyond 5 s).
      let steady = try connectLoopback(UInt16(port), timeoutSeconds: 10)
      defer { close(steady) }
      let stop = StopFlag()
      // Its content is never checked: it only has to outgrow the receive limit and the socket buffers.
      let big = [UInt8](repeating: 0x5a, count: 16 << 20)
      async let stalled = Binaries.offPool {
        try FaultSockets.bulkEcho(port: port, payload: big, timeout: 10) { offset in
          // Reads the first 64 KiB, then stops reading until the round is over.
          if offset >= 64 << 10 { while !stop.isSet { Thread.sleep(forTimeInterval: 0.05) } }
        }
      }
      try await Task.sleep(for: .milliseconds(300))
      let stallStart = ContinuousClock.now
      while Fault.seconds(stallStart) < 4 {
        let t0 = ContinuousClock.now
        let fresh = await Fault.echoes(port: port, timeout: 5)
        #expect(fresh, "round \(round): a new connection during the stall")
        newConnectionRTT.append(Fault.seconds(t0))
        if Fault.seconds(t0) > 0.5 {
          print(String(format: "slow reader round %d: a new connection took %.3f s, opened %.3f s into the stall", round, Fault.seconds(t0), Fault.seconds(stallStart, t0)))
        }
        let t1 = ContinuousClock.now
        let line = Array("steady \(t1)\n".utf8)
        let back = try await Binaries.offPool { () -> [UInt8] in
          guard FaultSockets.sendAll(steady, line) else { return [] }
          var got: [UInt8] = []
          var buffer = [UInt8](repeating: 0, count: 256)
          while got.count < line.count {
            let n = recv(steady, &buffer, buffer.count, 0)
            if n <= 0 { break }
            got += buffer[0..<n]
          }
          return got
        }
        #expect(back == line, "round \(round): the connection opened before the stall")
        openConnectionRTT.append(Fault.seconds(t1))
        if Fault.seconds(t1) > 0.5 {
          print(String(format: "slow reader round %d: the open connection took %.3f s, %.3f s into the stall", round, Fault.seconds(t1), Fault.seconds(stallStart, t1)))
        }
        #expect(Fault.seconds(t0) <= Fault.bound(5))
        try await Task.sleep(for: .milliseconds(100))
      }
      stop.set()
      let stalledBytes = try await stalled
      stalledFate.append(stalledBytes.count == big.count ? "complete" : "reset after \(stalledBytes.count) bytes")
    }
    print("slow reader: the client that stopped reading: \(stalledFate.joined(separator: ", "))")
    Fault.report("slow-reader-new-connection-round-trip", newConnectionRTT)
    Fault.report("slow-reader-open-connection-round-trip", openConnectionRTT)
    #expect(try await proxy.stop(SIGTERM) == 0, "\(proxy.stderr)")
    try await ProxyTests.expectNoRelayPods(sandbox, namespace: "default", label: proxy.label)
  }

  @Test("SIGINT, SIGTERM, SIGHUP: exit 0 and no pod left; SIGKILL: cleanup finds the pod and deletes it")
  func signals() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    var exits: [Int32: [Double]] = [:]
    var cleanups: [Double] = []
    let names: [Int32: String] = [SIGINT: "SIGINT", SIGTERM: "SIGTERM", SIGHUP: "SIGHUP"]
    for round in 1...Fault.repeats {
      for signal in [SIGINT, SIGTERM, SIGHUP] {
        let proxy = try await Self.echoProxy(sandbox, port: try freeLoopbackPort())
        let start = ContinuousClock.now
        #expect(try await proxy.stop(signal) == 0, "round \(round), \(names[signal]!): \(proxy.stderr)")
        exits[signal, default: []].append(Fault.seconds(start))
        #expect(proxy.stderr.contains("deleted relay pod default/kftray-relay-"), "\(proxy.stderr)")
        try await ProxyTests.expectNoRelayPods(sandbox, namespace: "default", label: proxy.label)
      }
      let killed = try await Self.echoProxy(sandbox, port: try freeLoopbackPort())
      let pod = try Self.relayPod(sandbox, killed)
      _ = try await killed.stop(SIGKILL)
      #expect(try ProxyTests.relayPods(sandbox, namespace: "default", label: killed.label) == [pod], "SIGKILL leaves the pod")
      let start = ContinuousClock.now
      let cleanup = try await CleanupTests.cleanup(sandbox, ["-n", "default", "-l", "kftray-test=\(killed.label)"])
      cleanups.append(Fault.seconds(start))
      #expect(cleanup.status == 0 && cleanup.stdout.contains("deleted 1 pod"), "round \(round): \(cleanup.stdout)\(cleanup.stderr)")
      try await ProxyTests.expectNoRelayPods(sandbox, namespace: "default", label: killed.label)
    }
    for signal in [SIGINT, SIGTERM, SIGHUP] { Fault.report("\(names[signal]!.lowercased())-exit", exits[signal] ?? []) }
    Fault.report("sigkill-cleanup", cleanups)
  }
}
