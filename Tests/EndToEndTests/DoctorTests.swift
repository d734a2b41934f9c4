import Foundation
import TestSupport
import Testing
import Yams

#if canImport(Glibc)
  import Glibc
#endif

/// `kubectl kftray doctor` as a user runs it: real kubectl finds the built plugin, the sandbox runs
/// the busybox pod, and every in-cluster probe happens inside that pod.
@Suite("kubectl kftray doctor", .serialized)
struct DoctorTests {
  static let web = "web.default.svc.cluster.local:80"
  static let echo = "echo.default.svc.cluster.local:7000"
  static let unknown = "nope.example.org:80"
  static let closed = "closed.default.svc.cluster.local:7001"
  static let firewalled = "firewalled.default.svc.cluster.local:7002"
  static let udpEcho = "udp-echo.default.svc.cluster.local:5353/udp"

  static func doctor(_ sandbox: SandboxCluster.Running, _ arguments: [String]) async throws -> Binaries.Result {
    try await Binaries.runOffPool(ClusterTests.kubectlPath, ["kftray", "doctor"] + arguments, environment: ProxyTests.environment(sandbox))
  }

  struct Check: Decodable, Equatable {
    var id: String
    var area: String
    var status: String
    var result: String
    var hint: String?
    var detail: String?
  }

  struct Report: Decodable {
    var namespace: String
    var targets: [String]
    var summary: [String: Int]
    var checks: [Check]
    subscript(id: String) -> Check? { checks.first { $0.id == id } }
  }

  static func decode(_ r: Binaries.Result) throws -> Report {
    do { return try JSONDecoder().decode(Report.self, from: Data(r.stdout.utf8)) } catch {
      throw SandboxError("doctor -o json printed no report (exit \(r.status)): \(error)\n\(r.stdout)\n\(r.stderr)")
    }
  }

  /// The table's check lines: `  STATUS  ID  RESULT`, in order.
  static func tableRows(_ table: String) -> [(id: String, status: String)] {
    table.split(separator: "\n").compactMap { line in
      let words = line.split(separator: " ", maxSplits: 2)
      guard line.hasPrefix("  "), !line.hasPrefix("   "), words.count >= 2,
        ["pass", "warn", "fail", "skip"].contains(String(words[0]))
      else { return nil }
      return (String(words[1]), String(words[0]))
    }
  }

  /// No pod of this plugin (doctor or relay) is left in the namespace. Pods of the proxy and
  /// cleanup tests, which run at the same time, carry a `kftray-test` label and are not counted.
  static func expectNoPodsLeft(_ sandbox: SandboxCluster.Running, namespace: String) async throws {
    let deadline = ContinuousClock.now + .seconds(15)
    var left: [String] = []
    repeat {
      let r = try ClusterTests.kubectl(
        sandbox, ["get", "pods", "-n", namespace, "-l", "app.kubernetes.io/managed-by=kubectl-kftray,!kftray-test", "-o", "name"])
      left = r.stdout.split(separator: "\n").map(String.init)
      if left.isEmpty { return }
      try await Task.sleep(for: .milliseconds(200))
    } while ContinuousClock.now < deadline
    Issue.record("doctor left pods in \(namespace): \(left)")
  }

  @Test("web and echo open, an unknown name is a DNS failure, closed is refused, firewalled times out, udp-echo answers")
  func reachabilityFromInsideTheCluster() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let r = try await Self.doctor(
      sandbox,
      ["--context", "sandbox-dev", "-o", "json", "--skip-image-check", Self.web, Self.echo, Self.unknown, Self.closed, Self.firewalled, Self.udpEcho])
    #expect(r.status == 1, "a failing check exits 1: \(r.stderr)")
    let report = try Self.decode(r)
    #expect(report.namespace == "dev")
    #expect(report["network.pod"]?.status == "pass", "\(report.checks)")
    #expect(report["network.resolv-conf"]?.result.contains("nameserver") == true)
    for host in ["web", "echo", "closed", "firewalled", "udp-echo"] {
      let dns = report["network.dns/\(host).default.svc.cluster.local"]
      #expect(dns?.status == "pass" && dns?.result.contains("resolves to 10.") == true, "\(host): \(String(describing: dns))")
    }
    #expect(report["network.tcp/\(Self.web)"]?.status == "pass")
    #expect(report["network.tcp/\(Self.web)"]?.result.hasPrefix("\(Self.web): open") == true)
    #expect(report["network.tcp/\(Self.echo)"]?.status == "pass")

    let dns = try #require(report["network.dns/nope.example.org"])
    #expect(dns.status == "fail" && dns.result.contains("host not found"), "\(dns)")
    #expect(dns.hint?.contains("does not resolve from the cluster") == true)
    let unknown = try #require(report["network.tcp/\(Self.unknown)"])
    #expect(unknown.status == "fail" && unknown.result == "\(Self.unknown): DNS failure (host not found)")

    let closed = try #require(report["network.tcp/\(Self.closed)"])
    #expect(closed.status == "fail" && closed.result.hasPrefix("\(Self.closed): refused"), "\(closed)")
    #expect(closed.hint?.contains("nothing listens") == true)
    let firewalled = try #require(report["network.tcp/\(Self.firewalled)"])
    #expect(firewalled.status == "fail" && firewalled.result.hasPrefix("\(Self.firewalled): timeout"), "\(firewalled)")
    #expect(firewalled.hint?.contains("firewall") == true && firewalled.hint?.contains("NetworkPolicy") == true)
    let udp = try #require(report["network.udp/udp-echo.default.svc.cluster.local:5353"])
    #expect(udp.status == "pass" && udp.result.contains("/udp: reply"), "\(udp)")
    #expect(report["image.relay"]?.status == "skip")
    try await Self.expectNoPodsLeft(sandbox, namespace: "dev")
  }

  @Test("the table and -o json/yaml carry the same checks with the same statuses")
  func tableJSONAndYAMLAgree() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let arguments = ["--context", "sandbox-dev", Self.web, Self.closed, Self.udpEcho]
    let table = try await Self.doctor(sandbox, arguments)
    let json = try await Self.doctor(sandbox, arguments + ["-o", "json"])
    let yaml = try await Self.doctor(sandbox, arguments + ["--output", "yaml"])
    #expect(table.status == 1 && json.status == 1 && yaml.status == 1, "\(table.stderr) \(json.stderr) \(yaml.stderr)")
    #expect(!table.stdout.contains("\u{1B}["), "no colour when stdout is not a terminal")
    let rows = Self.tableRows(table.stdout)
    let report = try Self.decode(json)
    #expect(rows.map(\.id) == report.checks.map(\.id), "\(table.stdout)")
    // Three runs, not one: what other suites do between them changes two checks, the leftovers (they
    // run proxies in dev) and whether the local ports are free (they bind ports on this machine).
    let stable = { (id: String) in id != "cleanup.leftovers" && !id.hasPrefix("local.port") }
    #expect(
      rows.filter { stable($0.id) }.map(\.status) == report.checks.filter { stable($0.id) }.map(\.status),
      "\(table.stdout)\n\(json.stdout)")
    #expect(report.summary["fail"] == report.checks.filter { $0.status == "fail" }.count)
    #expect(table.stdout.contains("IN-CLUSTER NETWORK") && table.stdout.contains("RBAC") && table.stdout.contains("ADMISSION"))
    let decodedYAML = try YAMLDecoder().decode(Report.self, from: yaml.stdout)
    #expect(decodedYAML.checks.map(\.id) == report.checks.map(\.id))
    #expect(decodedYAML.checks.filter { stable($0.id) }.map(\.status) == report.checks.filter { stable($0.id) }.map(\.status))
    #expect(report["image.relay"]?.status == "pass", "the default relay image starts: \(String(describing: report["image.relay"]))")
    try await Self.expectNoPodsLeft(sandbox, namespace: "dev")
  }

  @Test("exit 0 with warnings only, 1 with --strict; no targets runs the cluster-side checks")
  func exitCodesAndStrict() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    // A UDP port that drops datagrams: no reply is a warning (UDP cannot tell silence from a firewall).
    let arguments = ["--context", "sandbox-dev", "--skip-image-check", Self.web, Self.firewalled + "/udp", "-o", "json"]
    let lenient = try await Self.doctor(sandbox, arguments)
    #expect(lenient.status == 0, "\(lenient.stdout) \(lenient.stderr)")
    let report = try Self.decode(lenient)
    #expect(report["network.udp/\(Self.firewalled)"]?.status == "warn")
    #expect(report.checks.allSatisfy { $0.status != "fail" })
    let strict = try await Self.doctor(sandbox, arguments + ["--strict"])
    #expect(strict.status == 1, "\(strict.stderr)")

    let bare = try await Self.doctor(sandbox, ["--context", "sandbox-dev", "-o", "json"])
    let bareReport = try Self.decode(bare)
    #expect(bareReport.targets.isEmpty)
    #expect(bareReport["network.cluster-dns"] != nil && bareReport["rbac.role"]?.status == "pass")
    #expect(!bareReport.checks.contains { $0.id.hasPrefix("network.tcp") || $0.id.hasPrefix("local.port") })
    #expect(bare.status == (bareReport.checks.contains { $0.status == "fail" } ? 1 : 0))
    try await Self.expectNoPodsLeft(sandbox, namespace: "dev")
  }

  @Test("usage errors exit 64")
  func usageErrors() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    for arguments in [["web:http"], ["--timeout", "0"], ["--output", "xml"], ["--alias", "db"]] {
      let r = try await Self.doctor(sandbox, arguments)
      #expect(r.status == 64, "\(arguments): \(r.stderr)")
    }
  }

  @Test("sandbox-readonly: RBAC names the missing verbs and prints a Role that grants them")
  func readonlyUserGetsARole() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let r = try await Self.doctor(sandbox, ["--context", "sandbox-readonly", "-o", "json", Self.web])
    #expect(r.status == 1)
    let report = try Self.decode(r)
    for verb in ["get", "list", "watch"] { #expect(report["rbac.pods.\(verb)"]?.status == "pass") }
    for id in ["rbac.pods.create", "rbac.pods.delete", "rbac.pods.patch", "rbac.pods/portforward.create", "rbac.pods/log.get"] {
      #expect(report[id]?.status == "fail", "\(id)")
    }
    let role = try #require(report["rbac.role"])
    #expect(role.status == "fail")
    #expect(role.result.contains("pods create, pods delete, pods patch, pods/portforward create, pods/log get"), "\(role.result)")
    let yaml = try #require(role.detail)
    let parsed = try #require(try Yams.load(yaml: yaml) as? [String: Any])
    #expect(parsed["kind"] as? String == "Role")
    let rules = try #require(parsed["rules"] as? [[String: Any]])
    let granted = Set(rules.flatMap { rule in
      (rule["resources"] as? [String] ?? []).flatMap { resource in (rule["verbs"] as? [String] ?? []).map { "\(resource) \($0)" } }
    })
    #expect(granted == ["pods create", "pods delete", "pods patch", "pods/portforward create", "pods/log get"])
    #expect(role.hint?.contains("kubectl create rolebinding") == true)
    // The doctor pod cannot be created: a finding, not a crash.
    #expect(report["network.pod"]?.status == "fail" && report["network.pod"]?.result.contains("forbidden") == true)
    #expect(report["network.tcp/\(Self.web)"]?.status == "skip")
    // And the table prints the Role too.
    let table = try await Self.doctor(sandbox, ["--context", "sandbox-readonly", "--skip-image-check"])
    #expect(table.stdout.contains("kind: Role") && table.stdout.contains("resources: [\"pods/portforward\"]"), "\(table.stdout)")
    try await Self.expectNoPodsLeft(sandbox, namespace: "default")
  }

  @Test("restricted namespace: our relay pod is admitted; an image that cannot be pulled fails the image check")
  func restrictedNamespaceAndAnImageThatCannotBePulled() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let r = try await Self.doctor(
      sandbox, ["--context", "sandbox-admin", "-n", "restricted", "-o", "json", "--image", "registry.invalid/kftray-server:none", Self.echo])
    #expect(r.status == 1)
    let report = try Self.decode(r)
    #expect(report.namespace == "restricted")
    #expect(report["admission.pod-security"]?.result.contains("enforce=restricted") == true, "\(report.checks)")
    #expect(report["admission.dry-run"]?.status == "pass", "\(String(describing: report["admission.dry-run"]))")
    #expect(report["network.pod"]?.status == "pass", "the doctor pod passes restricted too")
    #expect(report["network.tcp/\(Self.echo)"]?.status == "pass")
    let image = try #require(report["image.relay"])
    #expect(image.status == "fail")
    let hint = image.hint ?? ""
    #expect(hint.contains("ImagePullBackOff") || hint.contains("ErrImagePull"), "\(image)")
    #expect(hint.contains("--image"))
    try await Self.expectNoPodsLeft(sandbox, namespace: "restricted")
  }

  @Test("a doctor pod that cannot start, a missing context and an unreachable server are findings, not crashes")
  func failuresAreFindings() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let pull = try await Self.doctor(
      sandbox, ["--context", "sandbox-dev", "--skip-image-check", "--probe-image", "registry.invalid/busybox:none", "-o", "json", Self.web])
    #expect(pull.status == 1)
    let pod = try #require(try Self.decode(pull)["network.pod"])
    #expect(pod.status == "fail" && (pod.result.contains("ErrImagePull") || pod.result.contains("ImagePullBackOff")), "\(pod)")
    #expect(pod.hint?.contains("--probe-image") == true, "\(pod)")
    #expect(try Self.decode(pull)["network.tcp/\(Self.web)"]?.status == "skip")
    try await Self.expectNoPodsLeft(sandbox, namespace: "dev")

    let context = try await Self.doctor(sandbox, ["--context", "no-such-context", "-o", "json", Self.web])
    #expect(context.status == 1)
    let kubeconfig = try #require(try Self.decode(context)["local.kubeconfig"])
    #expect(kubeconfig.status == "fail" && kubeconfig.result.contains("no-such-context"), "\(kubeconfig)")
    #expect(try Self.decode(context)["local.port/80/tcp"] != nil, "the local checks still run")

    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let server = try await Self.doctor(sandbox, ["--kubeconfig", "/dev/null", "--server", "https://127.0.0.1:1", "-o", "json"])
    #expect(server.status == 1)
    let report = try Self.decode(server)
    #expect(report["api.reachable"]?.status == "fail" && report["api.reachable"]?.hint != nil, "\(report.checks)")
    #expect(report["cluster"]?.status == "skip")
  }

  @Test("Ctrl-C while the probes run deletes the doctor pod and exits 130")
  func interruptDeletesThePod() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let scratch = try Teardown.temporaryDirectory("doctor")
    // A long timeout on a firewalled port keeps the probe pod busy while the signal arrives.
    let pid = try spawn(
      ClusterTests.kubectlPath, ["kftray", "doctor", "--context", "sandbox-dev", "--timeout", "30", "--skip-image-check", Self.firewalled],
      environment: ProxyTests.environment(sandbox).map { "\($0)=\($1)" }, stdout: scratch + "/out", stderr: scratch + "/err")
    let deadline = ContinuousClock.now + .seconds(60)
    var running = false
    while ContinuousClock.now < deadline, !running {
      let r = try ClusterTests.kubectl(
        sandbox, ["get", "pods", "-n", "dev", "-l", "app.kubernetes.io/name=kftray-doctor", "-o", "jsonpath={.items[*].status.phase}"])
      running = r.stdout.contains("Running")
      if !running { try await Task.sleep(for: .milliseconds(100)) }
    }
    #expect(running, "the doctor pod never ran")
    kill(pid, SIGINT)
    var raw: Int32 = 0
    let exitDeadline = ContinuousClock.now + .seconds(30)
    while waitpid(pid, &raw, WNOHANG) == 0 {
      if ContinuousClock.now > exitDeadline {
        kill(pid, SIGKILL)
        Issue.record("doctor did not exit after SIGINT")
        break
      }
      try await Task.sleep(for: .milliseconds(50))
    }
    #expect((raw & 0x7f) == 0 && (raw >> 8) & 0xff == 130, "exit status \(raw)")
    let err = (try? String(contentsOfFile: scratch + "/err", encoding: .utf8)) ?? ""
    #expect(err.contains("SIGINT: interrupted"), "\(err)")
    try await Self.expectNoPodsLeft(sandbox, namespace: "dev")
  }
}
