import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The sandbox cluster as a user meets it: `kftray-sandbox up`, then real kubectl. Pods are real
/// processes in their own network namespaces; everything a pod reaches is inside namespaces the
/// sandbox made. Nothing here sends a packet from the host namespace to a pod or service address.
@Suite("sandbox cluster with real kubectl")
struct ClusterTests {
  static let kubectlPath = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].first {
    FileManager.default.isExecutableFile(atPath: $0)
  } ?? "kubectl"

  static func kubectl(_ sandbox: SandboxCluster.Running, _ arguments: [String], environment: [String: String] = [:])
    throws -> Binaries.Result
  {
    var env = ["HOME": sandbox.directory, "KUBECONFIG": sandbox.kubeconfig, "PATH": "/usr/local/bin:/usr/bin:/bin"]
    env.merge(environment) { $1 }
    return try Binaries.run(kubectlPath, arguments, environment: env)
  }

  static func uniqueName(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(6).lowercased())" }

  /// Waits until the pod's phase is one of `phases`; returns it.
  static func waitForPhase(_ sandbox: SandboxCluster.Running, _ pod: String, _ phases: Set<String>, seconds: Int = 60)
    async throws -> String
  {
    let deadline = ContinuousClock.now + .seconds(seconds)
    var last = ""
    while ContinuousClock.now < deadline {
      last = try kubectl(sandbox, ["get", "pod", pod, "-o", "jsonpath={.status.phase}"]).stdout
      if phases.contains(last) { return last }
      try await Task.sleep(for: .milliseconds(200))
    }
    throw SandboxError("pod \(pod) stayed \(last.isEmpty ? "without a phase" : last) for \(seconds) s")
  }

  /// Runs `script` in a busybox pod to completion and returns its log.
  static func busybox(_ sandbox: SandboxCluster.Running, _ script: String) async throws -> String {
    let name = uniqueName("bb")
    let run = try kubectl(sandbox, ["run", name, "--image=busybox", "--restart=Never", "--", "sh", "-c", script])
    guard run.status == 0 else { throw SandboxError("kubectl run: \(run.stderr)") }
    _ = try await waitForPhase(sandbox, name, ["Succeeded", "Failed"], seconds: 90)
    let logs = try kubectl(sandbox, ["logs", name])
    _ = try kubectl(sandbox, ["delete", "pod", name, "--wait=false"])
    return logs.stdout
  }

  @Test func runThenLogsShowsHi() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let name = Self.uniqueName("hi")
    let run = try Self.kubectl(sandbox, ["run", name, "--image=busybox", "--restart=Never", "--", "sh", "-c", "echo hi"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(try await Self.waitForPhase(sandbox, name, ["Succeeded", "Failed"]) == "Succeeded")
    let logs = try Self.kubectl(sandbox, ["logs", name])
    #expect(logs.status == 0, "\(logs.stderr)")
    #expect(logs.stdout == "hi\n")
    let ip = try Self.kubectl(sandbox, ["get", "pod", name, "-o", "jsonpath={.status.podIP}"]).stdout
    #expect(ip.hasPrefix("10.244.0."), "pod IP \(ip)")
    #expect(try Self.kubectl(sandbox, ["delete", "pod", name]).status == 0)
  }

  @Test func seededNamesFromInsideABusyboxPod() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let names = [
      "echo.default.svc.cluster.local", "web.default.svc.cluster.local", "internal-service.cluster.local",
      "udp-echo.default.svc.cluster.local", "closed.default.svc.cluster.local", "firewalled.default.svc.cluster.local",
      "database.region.rds.amazonaws.com", "bulk.default.svc.cluster.local",
    ]
    let lookups = names.map { "nslookup \($0) >/dev/null 2>&1 && echo \"resolved \($0)\"" }.joined(separator: "; ")
    let script = lookups + """
      ; nslookup unknown-name.example.org 2>&1 | grep -q NXDOMAIN && echo nxdomain-ok\
      ; echo ping-echo | nc -w 3 echo.default.svc.cluster.local 7000\
      ; echo ping-db | nc -w 3 database.region.rds.amazonaws.com 5432\
      ; wget -qO- http://web.default.svc.cluster.local/; echo\
      ; wget -qO- http://internal-service.cluster.local/; echo\
      ; nc -w 3 closed.default.svc.cluster.local 7001 </dev/null 2>&1; echo closed-exit=$?\
      ; nc -w 3 firewalled.default.svc.cluster.local 7002 </dev/null 2>&1; echo firewalled-exit=$?
      """
    let log = try await Self.busybox(sandbox, script)
    for name in names { #expect(log.contains("resolved \(name)"), "\(name) did not resolve:\n\(log)") }
    #expect(log.contains("nxdomain-ok"), "\(log)")
    #expect(log.contains("ping-echo\n") && log.contains("ping-db\n"), "\(log)")
    #expect(log.contains("hello from web") && log.contains("hello from internal-service"), "\(log)")
    #expect(log.contains("Connection refused") && log.contains("closed-exit=1"), "\(log)")
    #expect(log.contains("timed out") && log.contains("firewalled-exit=1"), "\(log)")
  }

  /// kubectl port-forward in both modes to a pod whose server listens only inside its namespace.
  @Test(arguments: ["websocket", "spdy"])
  func portForwardToATestServerPod(mode: String) async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let name = Self.uniqueName("pf")
    // A random pod port: the process check below finds the server by its command line, which must
    // not match a server of another test running at the same time.
    let podPort = String(Int.random(in: 30000...39999))
    let run = try Self.kubectl(sandbox, ["run", name, "--image=kftray-sandbox/testserver", "--", "echo", "--port", podPort])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(try await Self.waitForPhase(sandbox, name, ["Running"]) == "Running")
    try await Task.sleep(for: .milliseconds(300))  // the server's listen() right after start

    let port = try freeLoopbackPort()
    let closedPort = try freeLoopbackPort()
    let log = try Teardown.temporaryDirectory("kftray-pf") + "/kubectl.log"
    let env = ["KUBECONFIG": sandbox.kubeconfig, "HOME": sandbox.directory]
      .merging(mode == "spdy" ? ["KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"] : [:]) { $1 }
    let forward = try BackgroundProcess(
      "/usr/bin/env", env.map { "\($0.key)=\($0.value)" } + [Self.kubectlPath, "port-forward", "pod/\(name)", "\(port):\(podPort)", "\(closedPort):7"],
      logPath: log)
    defer { forward.stop() }
    try await waitForLoopbackPort(port, seconds: 30)

    // Two concurrent connections, each 512 KiB both ways with a checksum.
    async let first = LoopbackEcho.exchange(port: port, bytes: 512 * 1024)
    async let second = LoopbackEcho.exchange(port: port, bytes: 512 * 1024)
    let results = try await [first, second]
    #expect(results.allSatisfy { $0 }, "echo through kubectl port-forward (\(mode)): \(forward.log)")

    // A closed pod port: kubectl's usual error, and kubectl ends (it does so after an error stream).
    _ = try? await LoopbackEcho.exchange(port: closedPort, bytes: 1)
    let deadline = ContinuousClock.now + .seconds(20)
    while forward.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
    #expect(forward.log.contains("error forwarding port 7 to pod"), "\(forward.log)")
    #expect(forward.log.contains("connect: connection refused"), "\(forward.log)")

    // Deleting the pod ends its process.
    let server = "kftray-testserver echo --port \(podPort)"
    #expect(ProcessTable.commandLines().contains { $0.hasSuffix(server) })
    #expect(try Self.kubectl(sandbox, ["delete", "pod", name, "--timeout=60s"]).status == 0)
    #expect(!ProcessTable.commandLines().contains { $0.hasSuffix(server) }, "the pod's server survived its deletion")
  }

  /// `up`, a running pod, `down`: no namespace, link, process or file of the sandbox is left; the same
  /// after `serve` is killed with SIGKILL (a crash), where `down` finds what it left.
  @Test(arguments: [false, true])
  func downLeavesNothingBehind(afterCrash: Bool) async throws {
    let directory = try Teardown.temporaryDirectory("kftray-updown")
    let hostLinksBefore = try Self.hostLinks()
    let up = try Binaries.run(Binaries.path("kftray-sandbox"), ["up", "--dir", directory, "--owner-pid", String(getpid())])
    try #require(up.status == 0, "\(up.stderr)")
    let sandbox = SandboxCluster.Running(directory: directory, kubeconfig: directory + "/kubeconfig")
    #expect(try Self.kubectl(sandbox, ["run", "sleeper", "--image=busybox", "--", "sleep", "3600"]).status == 0)
    #expect(try await Self.waitForPhase(sandbox, "sleeper", ["Running"]) == "Running")

    let id = try #require(
      try FileManager.default.contentsOfDirectory(atPath: directory).first { $0.hasPrefix("network-") }?
        .dropFirst("network-".count))
    let namespaces = try Self.namespaces().filter { $0.hasPrefix("kft-\(id)-") }
    #expect(namespaces.count >= 4, "node, services, external and the pod: \(namespaces)")
    let pids = try namespaces.flatMap { try Self.pids(inNamespace: $0) }
    #expect(pids.count >= 8, "dnsmasq, the seeded services and the pod: \(pids)")
    #expect(try Self.hostLinks() == hostLinksBefore, "the host namespace gets no link")

    if afterCrash {
      let pid = try #require(pid_t(try String(contentsOfFile: directory + "/apiserver.pid", encoding: .utf8)
        .trimmingCharacters(in: .whitespacesAndNewlines)))
      kill(pid, SIGKILL)
      while kill(pid, 0) == 0 { try await Task.sleep(for: .milliseconds(50)) }
    }
    let down = try Binaries.run(Binaries.path("kftray-sandbox"), ["down", "--dir", directory])
    #expect(down.status == 0, "\(down.stderr)")
    #expect(try Self.namespaces().filter { $0.hasPrefix("kft-\(id)-") }.isEmpty)
    for pid in pids { #expect(kill(pid, 0) != 0 || Self.isZombie(pid), "process \(pid) survived down") }
    #expect(try Self.hostLinks() == hostLinksBefore)
    #expect(!FileManager.default.fileExists(atPath: directory + "/kubeconfig"))
    #expect(!FileManager.default.fileExists(atPath: directory + "/network-\(id)"))
    // Safe to repeat.
    #expect(try Binaries.run(Binaries.path("kftray-sandbox"), ["down", "--dir", directory]).status == 0)
  }

  static func namespaces() throws -> [String] {
    try Binaries.run("/usr/sbin/ip", ["netns", "list"]).stdout.split(separator: "\n")
      .compactMap { $0.split(separator: " ").first.map(String.init) }
  }

  static func pids(inNamespace name: String) throws -> [pid_t] {
    try Binaries.run("/usr/sbin/ip", ["netns", "pids", name]).stdout.split(separator: "\n").compactMap { pid_t($0) }
  }

  /// The host namespace's link names (`ip -o link`), which the sandbox must never change.
  static func hostLinks() throws -> [String] {
    try Binaries.run("/usr/sbin/ip", ["-o", "link", "show"]).stdout.split(separator: "\n")
      .compactMap { $0.split(separator: ":").dropFirst().first.map { $0.trimmingCharacters(in: .whitespaces) } }
      .sorted()
  }

  static func isZombie(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { return true }
    return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first == "Z"
  }
}

/// Connects to 127.0.0.1:port (where a port-forward listens), sends random bytes, half-closes and
/// checks the echo. Only loopback.
enum LoopbackEcho {
  static func exchange(port: Int, bytes count: Int) async throws -> Bool {
    try await withCheckedThrowingContinuation { continuation in
      Thread.detachNewThread {
        continuation.resume(with: Result { try blockingExchange(port: port, count: count) })
      }
    }
  }

  static func blockingExchange(port: Int, count: Int) throws -> Bool {
    let fd = try connectLoopback(UInt16(port), timeoutSeconds: 30)
    defer { close(fd) }
    let payload = (0..<count).map { _ in UInt8.random(in: 0...255) }
    // Writer on its own thread: the echo comes back while we still send.
    let writer = Thread {
      var offset = 0
      while offset < payload.count {
        let n = payload.withUnsafeBytes { send(fd, $0.baseAddress! + offset, payload.count - offset, Int32(MSG_NOSIGNAL)) }
        if n <= 0 { break }
        offset += n
      }
      shutdown(fd, Int32(SHUT_WR))
    }
    writer.start()
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = recv(fd, &buffer, buffer.count, 0)
      if n <= 0 { break }
      received += buffer[0..<n]
    }
    return received == payload
  }
}

/// Command lines of every process (from /proc), to check that nothing of a sandbox is left.
enum ProcessTable {
  static func commandLines() -> [String] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry in
      guard Int32(entry) != nil, let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"), !data.isEmpty
      else { return nil }
      return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
    }
  }
}

extension ClusterTests {
  @Test("a TCP readiness probe keeps a running pod unready until its port accepts, as the kubelet does")
  func readinessProbe() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let name = Self.uniqueName("probe")
    let path = try Teardown.temporaryDirectory("probe") + "/pod.yaml"
    try Data(
      """
      apiVersion: v1
      kind: Pod
      metadata: {name: \(name)}
      spec:
        restartPolicy: Never
        containers:
        - name: server
          image: busybox
          command: [sh, -c, "sleep 10; while true; do nc -l -p 8080; done"]
          readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
      """.utf8
    ).write(to: URL(fileURLWithPath: path))
    #expect(try Self.kubectl(sandbox, ["apply", "-f", path]).status == 0)
    defer { _ = try? Self.kubectl(sandbox, ["delete", "pod", name, "--grace-period=0", "--wait=false"]) }
    _ = try await Self.waitForPhase(sandbox, name, ["Running"])
    let wait = try Self.kubectl(sandbox, ["wait", "--for=condition=Ready", "pod/\(name)", "--timeout=60s"])
    #expect(wait.status == 0, "\(wait.stderr)")
    // Judged from the pod's own timestamps, not from when this test happens to look (a loaded machine
    // may look late): Ready came only once the port accepted, about 10 s after the container started.
    let started = try Self.kubectl(sandbox, ["get", "pod", name, "-o", "jsonpath={.status.containerStatuses[0].state.running.startedAt}"])
    let ready = try Self.kubectl(
      sandbox, ["get", "pod", name, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].lastTransitionTime}"])
    let formatter = ISO8601DateFormatter()
    let start = try #require(formatter.date(from: started.stdout), "startedAt \(started.stdout)")
    let readyAt = try #require(formatter.date(from: ready.stdout), "Ready at \(ready.stdout)")
    #expect(readyAt.timeIntervalSince(start) >= 9, "Ready \(readyAt.timeIntervalSince(start)) s after the start, before anything listened")
  }
}
