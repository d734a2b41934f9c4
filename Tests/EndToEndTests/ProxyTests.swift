import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `kubectl kftray proxy` as a user runs it: real kubectl finds the built plugin on PATH, the
/// sandbox runs the relay pods, and the local side talks to 127.0.0.1 only.
@Suite("kubectl kftray proxy", .serialized)
struct ProxyTests {
  /// A running `kubectl kftray proxy`, with its stdout and stderr in files.
  final class Proxy {
    let pid: pid_t
    let out: String
    let err: String
    /// The value of the `kftray-test` label on this proxy's pods: tests run concurrently and look
    /// only at their own pods.
    let label: String
    var status: Int32?

    init(_ sandbox: SandboxCluster.Running, _ arguments: [String], label: String = ClusterTests.uniqueName("t")) throws {
      let scratch = try Teardown.temporaryDirectory("proxy")
      out = scratch + "/out"
      err = scratch + "/err"
      self.label = label
      pid = try spawn(
        ClusterTests.kubectlPath, ["kftray", "proxy", "-v", "--pod-label", "kftray-test=\(label)"] + arguments,
        environment: ProxyTests.environment(sandbox).map { "\($0)=\($1)" }, stdout: out, stderr: err)
    }

    var stdout: String { (try? String(contentsOfFile: out, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: err, encoding: .utf8)) ?? "" }
    /// stderr half a second later: events are printed asynchronously (for failure messages).
    var settledStderr: String {
      Thread.sleep(forTimeInterval: 0.5)
      return stderr
    }

    /// Waits until stdout has `count` "Forwarding from" lines (or the process ended).
    func waitForwarding(lines count: Int = 2, seconds: Int = 60) async throws {
      let deadline = ContinuousClock.now + .seconds(seconds)
      while ContinuousClock.now < deadline {
        if stdout.components(separatedBy: "Forwarding from").count - 1 >= count { return }
        if exited() { throw SandboxError("proxy exited \(status!): \(stderr)") }
        try await Task.sleep(for: .milliseconds(100))
      }
      throw SandboxError("no forwarding after \(seconds) s: \(stdout) \(stderr)")
    }

    func exited() -> Bool {
      if status != nil { return true }
      var raw: Int32 = 0
      guard waitpid(pid, &raw, WNOHANG) == pid else { return false }
      status = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
      return true
    }

    /// Sends `signal` and waits for the exit status.
    func stop(_ signal: Int32 = SIGINT, seconds: Int = 30) async throws -> Int32 {
      if !exited() { kill(pid, signal) }
      let deadline = ContinuousClock.now + .seconds(seconds)
      while !exited() {
        guard ContinuousClock.now < deadline else {
          kill(pid, SIGKILL)
          throw SandboxError("proxy did not exit within \(seconds) s of \(signal)")
        }
        try await Task.sleep(for: .milliseconds(50))
      }
      return status!
    }

    deinit { if !exited() { kill(pid, SIGKILL); _ = exited() } }

    /// Real `kubectl port-forward` to a pod (for talking to a relay without the plugin).
    static func kubectlPortForward(
      _ sandbox: SandboxCluster.Running, namespace: String, pod: String, localPort: Int
    ) throws -> BackgroundProcess {
      let log = try Teardown.temporaryDirectory("port-forward") + "/log"
      return try BackgroundProcess(
        ClusterTests.kubectlPath,
        ["port-forward", "-n", namespace, "--address", "127.0.0.1", pod, "\(localPort):8080"],
        environment: ProxyTests.environment(sandbox), logPath: log)
    }
  }

  static func environment(_ sandbox: SandboxCluster.Running) -> [String: String] {
    ["HOME": sandbox.directory, "KUBECONFIG": sandbox.kubeconfig, "PATH": "\(Binaries.directory):/usr/local/bin:/usr/bin:/bin"]
  }

  /// Runs `kubectl kftray proxy ...` to completion (for the cases that must fail before forwarding),
  /// its pods labelled `kftray-test=label`.
  static func runToEnd(_ sandbox: SandboxCluster.Running, _ arguments: [String], label: String) async throws -> Binaries.Result {
    try await Binaries.runOffPool(
      ClusterTests.kubectlPath, ["kftray", "proxy", "--pod-label", "kftray-test=\(label)"] + arguments,
      environment: environment(sandbox))
  }

  /// The relay pods of this plugin in a namespace that carry `kftray-test=label` (`kubectl get pods -l ...`).
  static func relayPods(_ sandbox: SandboxCluster.Running, namespace: String, label: String) throws -> [String] {
    let r = try ClusterTests.kubectl(
      sandbox, ["get", "pods", "-n", namespace, "-l", "app.kubernetes.io/managed-by=kubectl-kftray,kftray-test=\(label)", "-o", "name"])
    return r.stdout.split(separator: "\n").map(String.init)
  }

  /// Waits until none of the test's relay pods is left (deletion is with grace 0, but the node
  /// agent may take a moment to report back).
  static func expectNoRelayPods(_ sandbox: SandboxCluster.Running, namespace: String, label: String) async throws {
    let deadline = ContinuousClock.now + .seconds(15)
    var left: [String] = []
    repeat {
      left = try relayPods(sandbox, namespace: namespace, label: label)
      if left.isEmpty { return }
      try await Task.sleep(for: .milliseconds(200))
    } while ContinuousClock.now < deadline
    Issue.record("relay pods left in \(namespace): \(left)")
  }

  /// The logs of the test's relay pods, for failure messages.
  static func relayLogs(_ sandbox: SandboxCluster.Running, namespace: String, label: String) -> String {
    let pods = (try? relayPods(sandbox, namespace: namespace, label: label)) ?? []
    return pods.map { pod in
      "\(pod):\n" + ((try? ClusterTests.kubectl(sandbox, ["logs", "-n", namespace, pod]).stdout) ?? "")
    }.joined(separator: "\n")
  }

  /// One TCP exchange with 127.0.0.1:port: sends `payload`, half-closes, reads to EOF.
  static func exchange(port: Int, _ payload: [UInt8], seconds: Int = 10) throws -> [UInt8] {
    let fd = try connectLoopback(UInt16(port), timeoutSeconds: seconds)
    defer { close(fd) }
    return TestSupport.exchange(fd, payload)
  }


  @Test("TCP to an internal service and a cloud database, several targets, as the dev user (minimal Role)")
  func tcpTargetsThroughKubectlPluginDiscovery() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let web = try freeLoopbackPort()
    let db = try freeLoopbackPort()
    let proxy = try Proxy(
      sandbox,
      ["-v", "--context", "sandbox-dev", "\(web):internal-service.cluster.local:80", "\(db):database.region.rds.amazonaws.com:5432"])
    try await proxy.waitForwarding(lines: 4)
    let lines = proxy.stdout.split(separator: "\n").map(String.init)
    #expect(lines.contains { $0.hasPrefix("Forwarding from 127.0.0.1:\(web) -> internal-service.cluster.local:80 (tcp, via dev/kftray-relay-") })
    #expect(lines.contains { $0.hasPrefix("Forwarding from [::1]:\(db) -> database.region.rds.amazonaws.com:5432 (tcp, via dev/") })
    let curl = try Binaries.run("/usr/bin/curl", ["-s", "-m", "10", "-D", "-", "http://127.0.0.1:\(web)/"])
    let page = curl.stdout
    #expect(
      curl.status == 0 && page.hasPrefix("HTTP/1.") && page.contains("hello from internal-service"),
      "\(page) \(proxy.settledStderr) \(Self.relayLogs(sandbox, namespace: "dev", label: proxy.label))")
    let echoed = try Self.exchange(port: db, Array("select 1;\n".utf8))
    #expect(echoed == Array("select 1;\n".utf8), "\(proxy.stderr)")
    #expect(try Self.relayPods(sandbox, namespace: "dev", label: proxy.label).count == 2)
    #expect(try await proxy.stop(SIGINT) == 0, "\(proxy.stderr)")
    #expect(proxy.stderr.contains("deleted relay pod dev/kftray-relay-"))
    // -v reports connections (the forwards report them only when something shows them).
    #expect(proxy.stderr.contains(" closed: 10 bytes sent, 10 received in "), "\(proxy.stderr)")
    try await Self.expectNoRelayPods(sandbox, namespace: "dev", label: proxy.label)
  }

  @Test("UDP from two local clients at once: replies are not crossed")
  func udpRepliesGoToTheirSender() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let port = try freeLoopbackPort()
    let proxy = try Proxy(sandbox, ["\(port):udp-echo.default.svc.cluster.local:5353/udp"])
    try await proxy.waitForwarding(lines: 1)
    #expect(proxy.stdout.contains("(udp, via default/kftray-relay-"))
    let results = try await withThrowingTaskGroup(of: (String, [String]).self) { group in
      for name in ["alpha", "bravo"] {
        group.addTask { (name, try UDPClient.roundTrips(port: port, messages: (0..<5).map { "\(name)-\($0)" })) }
      }
      var all: [String: [String]] = [:]
      for try await (name, replies) in group { all[name] = replies }
      return all
    }
    for name in ["alpha", "bravo"] { #expect(results[name] == (0..<5).map { "\(name)-\($0)" }) }
    #expect(try await proxy.stop(SIGTERM) == 0, "\(proxy.stderr)")
    try await Self.expectNoRelayPods(sandbox, namespace: "default", label: proxy.label)
  }

  @Test("a kftray file: proxy entries run, other workload types are reported as skipped")
  func kftrayFileWithMixedWorkloadTypes() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let port = try freeLoopbackPort()
    let path = try Teardown.temporaryDirectory("kftray-file") + "/configs.json"
    try Data(
      """
      [
        {"alias": "echo", "workload_type": "proxy", "protocol": "tcp", "namespace": "dev", "context": "sandbox-dev",
         "remote_address": "echo.default.svc.cluster.local", "remote_port": 7000, "local_port": \(port)},
        {"alias": "web", "workload_type": "service", "service": "web", "namespace": "default", "remote_port": 80, "local_port": 18999},
        {"alias": "other", "workload_type": "proxy", "remote_address": "web", "remote_port": 80}
      ]
      """.utf8
    ).write(to: URL(fileURLWithPath: path))
    let proxy = try Proxy(sandbox, ["-f", path, "--alias", "echo"])
    try await proxy.waitForwarding(lines: 2)
    #expect(proxy.stderr.contains(#"entry 1 (alias "web"): workload_type "service" skipped"#), "\(proxy.stderr)")
    #expect(proxy.stdout.contains("-> echo.default.svc.cluster.local:7000 (tcp, via dev/"))
    #expect(try Self.exchange(port: port, Array("ping".utf8)) == Array("ping".utf8), "\(proxy.settledStderr) \(Self.relayLogs(sandbox, namespace: "dev", label: proxy.label))")
    #expect(try await proxy.stop() == 0)
    try await Self.expectNoRelayPods(sandbox, namespace: "dev", label: proxy.label)

    let unknown = try await Self.runToEnd(sandbox, ["-f", path, "--alias", "nope"], label: proxy.label)
    #expect(unknown.status == 1)
    #expect(unknown.stderr.contains(#"has no proxy entry with alias "nope": its proxy aliases are echo, other"#), "\(unknown.stderr)")
  }

  @Test("the relay pod is admitted in the restricted namespace")
  func restrictedNamespaceAdmitsTheRelay() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let proxy = try Proxy(sandbox, ["-n", "restricted", "\(try freeLoopbackPort()):web.default.svc.cluster.local:80"])
    try await proxy.waitForwarding(lines: 2)
    let pod = try #require(try Self.relayPods(sandbox, namespace: "restricted", label: proxy.label).first)
    let security = try ClusterTests.kubectl(
      sandbox, ["get", "-n", "restricted", pod, "-o", "jsonpath={.spec.containers[0].securityContext.capabilities.drop}"])
    #expect(security.stdout.contains("ALL"))
    #expect(try await proxy.stop() == 0)
    try await Self.expectNoRelayPods(sandbox, namespace: "restricted", label: proxy.label)
  }

  @Test("an image that cannot be pulled: the cause, the fix, exit 1, no pod left")
  func imagePullFailure() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let label = ClusterTests.uniqueName("t")
    let r = try await Self.runToEnd(
      sandbox, ["--context", "sandbox-dev", "--image", "registry.example/nope:v1", "\(try freeLoopbackPort()):web:80"], label: label)
    #expect(r.status == 1)
    #expect(r.stderr.contains("the image registry.example/nope:v1 cannot be pulled"), "\(r.stderr)")
    #expect(r.stderr.contains("fix: check --image"))
    try await Self.expectNoRelayPods(sandbox, namespace: "dev", label: label)
  }

  @Test("RBAC denial, Pod Security rejection of a patch, a port in use: each explained, nothing left")
  func refusedBeforeForwarding() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let label = ClusterTests.uniqueName("t")
    let denied = try await Self.runToEnd(sandbox, ["--context", "sandbox-readonly", "\(try freeLoopbackPort()):web:80"], label: label)
    #expect(denied.status == 1)
    #expect(denied.stderr.contains(#"User "sandbox-readonly" cannot create resource "pods""#), "\(denied.stderr)")
    #expect(denied.stderr.contains("fix: ask for a Role"))

    let patched = try await Self.runToEnd(
      sandbox, ["-n", "restricted", "--patch", #"{"spec":{"securityContext":{"runAsNonRoot":false}}}"#, "\(try freeLoopbackPort()):web:80"],
      label: label)
    #expect(patched.status == 1)
    #expect(patched.stderr.contains("refused by Pod Security admission"), "\(patched.stderr)")
    #expect(patched.stderr.contains("--patch/--patch-file result breaks"))
    try await Self.expectNoRelayPods(sandbox, namespace: "restricted", label: label)

    // Something already listens: the command fails before it creates anything.
    let holder = try HeldLoopbackPort()
    let port = holder.port
    let busy = try await Self.runToEnd(sandbox, ["--address", "127.0.0.1", "\(port):web:80"], label: label)
    #expect(busy.status == 1)
    #expect(busy.stderr.contains("cannot listen on local port \(port)") && busy.stderr.contains("fix: pick a free one"), "\(busy.stderr)")
    #expect(!busy.stderr.contains("relay pod"), "nothing was created: \(busy.stderr)")

    let usage = try await Self.runToEnd(sandbox, ["web:99999"], label: label)
    #expect(usage.status == 64)
    #expect(usage.stderr.contains("the remote port 99999 is out of range"), "\(usage.stderr)")
  }
}

extension ProxyTests {
  @Test("a relay pod that never becomes Ready: the timeout names its state, exit 1, no pod left")
  func neverReady() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let label = ClusterTests.uniqueName("t")
    let r = try await Self.runToEnd(
      sandbox,
      // A scheduler nobody runs keeps it Pending without a verdict (a node selector that matches no node
      // is reported Unschedulable at once, which proxy fails on before any timeout).
      [
        "--context", "sandbox-dev", "--patch", #"{"spec":{"schedulerName":"kftray-test-no-scheduler"}}"#,
        "--pod-running-timeout", "2s", "\(try freeLoopbackPort()):web:80",
      ],
      label: label)
    #expect(r.status == 1)
    #expect(r.stderr.contains("not Ready after 2s (still Pending (not scheduled yet))"), "\(r.stderr)")
    #expect(r.stderr.contains("fix: see the events above; give it longer with --pod-running-timeout"))
    try await Self.expectNoRelayPods(sandbox, namespace: "dev", label: label)
  }

  @Test("SIGHUP stops like SIGINT; a TLS target gets the --connect-to hint; a non-loopback bind warns")
  func hangupTLSHintAndWideBind() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let port = try freeLoopbackPort()
    let proxy = try Proxy(sandbox, ["--address", "0.0.0.0", "\(port):internal-service.cluster.local:443"])
    try await proxy.waitForwarding(lines: 1)
    #expect(proxy.stderr.contains("warning: listening on 0.0.0.0: anyone who can reach this machine"), "\(proxy.stderr)")
    #expect(
      proxy.stdout.contains(
        "TLS: its certificate names internal-service.cluster.local, not localhost: curl --connect-to internal-service.cluster.local:443:127.0.0.1:\(port) https://internal-service.cluster.local:443/"
      ), "\(proxy.stdout)")
    #expect(try await proxy.stop(SIGHUP) == 0, "\(proxy.stderr)")
    #expect(proxy.stderr.contains("SIGHUP: stopping, deleting relay pods"))
    try await Self.expectNoRelayPods(sandbox, namespace: "default", label: proxy.label)
  }
}

extension ProxyTests {
  @Test("-o json: every event as one JSON object per line, with the same facts as the text")
  func jsonEvents() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let port = try freeLoopbackPort()
    let proxy = try Proxy(sandbox, ["-o", "json", "--address", "127.0.0.1", "\(port):echo.default.svc.cluster.local:7000"])
    let deadline = ContinuousClock.now + .seconds(60)
    while !proxy.stdout.contains("\"event\":\"forwarding\"") {
      guard ContinuousClock.now < deadline, !proxy.exited() else { throw SandboxError("no forwarding event: \(proxy.stderr)") }
      try await Task.sleep(for: .milliseconds(100))
    }
    #expect(try Self.exchange(port: port, Array("json".utf8)) == Array("json".utf8))
    // A lost pod: its replacement's events, then how long new connections waited.
    let first = try FaultTests.relayPod(sandbox, proxy)
    #expect(try ClusterTests.kubectl(sandbox, ["delete", "-n", "default", first, "--wait=false"]).status == 0)
    while !proxy.stdout.contains("\"event\":\"recovered\"") {
      guard ContinuousClock.now < deadline, !proxy.exited() else { throw SandboxError("no recovered event: \(proxy.stdout)") }
      try await Task.sleep(for: .milliseconds(100))
    }
    #expect(try await proxy.stop() == 0)
    let events = proxy.stdout.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    #expect(events.count == proxy.stdout.split(separator: "\n").count, "every line is a JSON object: \(proxy.stdout)")
    let kinds = events.compactMap { $0["event"] as? String }
    #expect(kinds.first == "pod-creating" && kinds.contains("pod-ready") && kinds.last == "pod-deleted", "\(kinds)")
    let forwarding = try #require(events.first { $0["event"] as? String == "forwarding" })
    #expect(forwarding["local"] as? [String] == ["127.0.0.1:\(port)"] && forwarding["remote"] as? String == "echo.default.svc.cluster.local:7000")
    let closed = try #require(events.first { $0["event"] as? String == "connection-closed" })
    #expect(closed["bytesSent"] as? Int == 4 && closed["bytesReceived"] as? Int == 4, "\(closed)")
    let recovered = try #require(events.first { $0["event"] as? String == "recovered" })
    let (old, new) = (try #require(recovered["oldPod"] as? String), try #require(recovered["pod"] as? String))
    #expect("pod/" + old == first && new != old && (recovered["afterMs"] as? Int ?? -1) >= 0, "\(recovered)")
    // From the loss on, as "event pod": the new pod is created, becomes Ready, then takes over.
    let replacing = events.drop { $0["event"] as? String != "pod-lost" }
      .map { "\($0["event"] as? String ?? "") \($0["pod"] as? String ?? "")" }
    #expect(Array(replacing.prefix(2)) == ["pod-lost \(old)", "pod-creating \(new)"], "\(replacing)")
    let (ready, took) = (replacing.firstIndex(of: "pod-ready \(new)"), replacing.firstIndex(of: "recovered \(new)"))
    #expect(ready != nil && took != nil && ready! < took!, "\(replacing)")
    #expect(events.allSatisfy { ($0["time"] as? String)?.hasSuffix("Z") == true })
  }
}

/// A connected UDP socket to 127.0.0.1:port.
enum UDPClient {
  static func roundTrips(port: Int, messages: [String]) throws -> [String] {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    defer { close(fd) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    _ = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var replies: [String] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    for message in messages {
      _ = Array(message.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
      let n = recv(fd, &buffer, buffer.count, 0)
      guard n > 0 else { throw SandboxError("no UDP reply to \(message)") }
      replies.append(String(decoding: buffer[0..<n], as: UTF8.self))
    }
    return replies
  }
}
