import Foundation
import KubeClient
import Testing

@testable import KFTray

/// The doctor's pure parts: the probe script, reading its log back, the verdicts and their hints,
/// the check model, the table, the Role and the doctor pod.
@Suite struct DoctorModelTests {
  static let targets = [
    ProbeTarget(host: "web.default.svc.cluster.local", port: 80, transport: .tcp),
    ProbeTarget(host: "udp-echo.default.svc.cluster.local", port: 5353, transport: .udp),
    ProbeTarget(host: "10.0.0.7", port: 5432, transport: .tcp),
  ]

  // MARK: Script

  @Test func scriptProbesEachTargetTheWayBusyboxCan() {
    let text = ProbeScript(targets: Self.targets, timeoutSeconds: 4).text
    #expect(text.contains("probe 'dns|cluster' nslookup -timeout=4 -retry=3 kubernetes.default.svc.cluster.local.\n"))
    #expect(text.contains("probe 'dns|0' nslookup -timeout=4 -retry=3 'web.default.svc.cluster.local.'\na0=$(addr)\n"))
    #expect(text.contains("probe 'tcp|0' nc -w 4 \"${a0:-web.default.svc.cluster.local}\" 80 -e true\n"))
    #expect(text.contains("printf '##kftray|tcp|0|via|%s\\n' \"${a0:-web.default.svc.cluster.local}\"\n"))
    #expect(text.contains("probe 'udp|1' nslookup -port=5353 -timeout=4 -retry=3 kftray-doctor-probe. \"${a1:-udp-echo.default.svc.cluster.local}\"\n"))
    #expect(!text.contains("'dns|2'"), "an IP literal is not looked up")
    #expect(text.contains("probe 'tcp|2' nc -w 4 '10.0.0.7' 5432 -e true\n"))
    #expect(text.hasPrefix("# kubectl kftray doctor"))
    #expect(text.hasSuffix("echo '##kftray|done'\n"))
  }

  @Test func aNameIsLookedUpOnceForBothTransports() {
    let script = ProbeScript(targets: [
      ProbeTarget(host: "db", port: 53, transport: .tcp), ProbeTarget(host: "db", port: 53, transport: .udp),
    ])
    #expect(script.text.contains("probe 'dns|0'") && !script.text.contains("probe 'dns|1'"))
    let checks = ProbeVerdicts(script: script, log: ProbeLog(parsing: ""), namespace: "dev").checks
    #expect(checks.map(\.id) == ["network.resolv-conf", "network.cluster-dns", "network.dns/db", "network.tcp/db:53", "network.udp/db:53"])
  }

  @Test func clusterDNSWithoutTheKubernetesRecordIsAWarning() {
    let log = "##kftray|dns|cluster|out|** server can't find kubernetes.default.svc.cluster.local.: NXDOMAIN\n##kftray|dns|cluster|end|1|1\n"
    let check = ProbeVerdicts(script: ProbeScript(targets: []), log: ProbeLog(parsing: log), namespace: "dev").clusterDNS
    #expect(check.status == .warn)
    #expect(check.hint?.contains("cluster domain") == true)
  }

  @Test func shortNamesKeepTheSearchPath() {
    #expect(ProbeScript.lookupName("web") == "web")
    #expect(ProbeScript.lookupName("web.default") == "web.default.")
    #expect(ProbeScript.lookupName("a.b.") == "a.b.")
    #expect(ProbeScript.quote("it's") == "'it'\\''s'")
  }

  @Test func probeTargetKnowsAddresses() {
    #expect(ProbeTarget(host: "10.1.2.3", port: 1, transport: .tcp).isAddress)
    #expect(ProbeTarget(host: "fd00::5", port: 1, transport: .tcp).isAddress)
    #expect(ProbeTarget(host: "fd00::5", port: 80, transport: .tcp).endpoint == "[fd00::5]:80")
    #expect(!ProbeTarget(host: "db.example.com", port: 1, transport: .tcp).isAddress)
  }

  // MARK: Log

  static let log = """
    ##kftray|begin|1
    ##kftray|resolv|conf|out|search default.svc.cluster.local svc.cluster.local cluster.local
    ##kftray|resolv|conf|out|nameserver 10.96.0.10
    ##kftray|resolv|conf|out|options ndots:5
    ##kftray|resolv|conf|end|0|1
    ##kftray|dns|cluster|out|Server:\t\t10.96.0.10
    ##kftray|dns|cluster|out|Address:\t10.96.0.10:53
    ##kftray|dns|cluster|out|
    ##kftray|dns|cluster|out|Name:\tkubernetes.default.svc.cluster.local
    ##kftray|dns|cluster|out|Address: 10.96.0.1
    ##kftray|dns|cluster|end|0|3
    ##kftray|dns|0|out|Server:\t\t10.96.0.10
    ##kftray|dns|0|out|Address:\t10.96.0.10:53
    ##kftray|dns|0|out|Name:\tweb.default.svc.cluster.local
    ##kftray|dns|0|out|Address: 10.96.0.12
    ##kftray|dns|0|end|0|2
    ##kftray|tcp|0|via|10.96.0.12
    ##kftray|tcp|0|out|
    ##kftray|tcp|0|end|0|1
    ##kftray|dns|1|out|Name:\tudp-echo.default.svc.cluster.local
    ##kftray|dns|1|out|Address: 10.96.0.14
    ##kftray|dns|1|end|0|2
    ##kftray|udp|1|out|Server:\t\tudp-echo.default.svc.cluster.local
    ##kftray|udp|1|out|Address:\t10.96.0.14:5353
    ##kftray|udp|1|out|Non-authoritative answer:
    ##kftray|udp|1|end|0|4
    ##kftray|tcp|2|out|nc: timed out
    ##kftray|tcp|2|end|1|301
    ##kftray|done

    """

  @Test func logIsReadBackByKey() {
    let log = ProbeLog(parsing: Self.log)
    #expect(log.began && log.completed && log.stray.isEmpty)
    #expect(log["resolv", "conf"]?.output.count == 3)
    var open = ProbeRecord(output: [], exitCode: 0, elapsedCentiseconds: 1)
    open.via = "10.96.0.12"
    #expect(log["tcp", "0"] == open)
    #expect(log["tcp", "2"]?.elapsedCentiseconds == 301)
    #expect(ProbeLog(parsing: "##kftray|x|1|out|a|b|c\n")["x", "1"]?.output == ["a|b|c"], "pipes in output survive")
  }

  @Test func strayLinesAndACutOffLog() {
    let log = ProbeLog(parsing: "##kftray|begin|1\nsh: oops\n##kftray|tcp|0|out|x\n")
    #expect(log.began && !log.completed)
    #expect(log.stray == ["sh: oops"])
    #expect(log["tcp", "0"]?.finished == false)
  }

  @Test func verdictsOfAHealthyRun() {
    let verdicts = ProbeVerdicts(script: ProbeScript(targets: Self.targets), log: ProbeLog(parsing: Self.log), namespace: "dev")
    let checks = verdicts.checks
    #expect(checks.map(\.id) == [
      "network.resolv-conf", "network.cluster-dns", "network.dns/web.default.svc.cluster.local",
      "network.tcp/web.default.svc.cluster.local:80", "network.dns/udp-echo.default.svc.cluster.local",
      "network.udp/udp-echo.default.svc.cluster.local:5353", "network.tcp/10.0.0.7:5432",
    ])
    #expect(checks.map(\.status) == [.pass, .pass, .pass, .pass, .pass, .pass, .fail])
    #expect(checks[0].result == "nameserver 10.96.0.10; search default.svc.cluster.local svc.cluster.local cluster.local; options ndots:5")
    #expect(checks[1].result == "kubernetes.default.svc.cluster.local. resolves to 10.96.0.1")
    #expect(checks[2].result == "web.default.svc.cluster.local resolves to 10.96.0.12")
    #expect(checks[3].result == "web.default.svc.cluster.local:80: open (10.96.0.12, connected in 0.01s)")
    #expect(checks[5].result.hasPrefix("udp-echo.default.svc.cluster.local:5353/udp: reply"))
    #expect(checks[6].result == "10.0.0.7:5432: timeout (no answer within 3s)")
    #expect(checks[6].hint?.contains("firewall") == true && checks[6].hint?.contains("NetworkPolicy") == true)
    #expect(checks[0].hint == nil, "a passing check has no hint")
  }

  // MARK: Classification

  static func record(_ lines: [String], _ rc: Int, _ cs: Int = 2) -> ProbeRecord {
    ProbeRecord(output: lines, exitCode: rc, elapsedCentiseconds: cs)
  }

  @Test func connectOutcomes() {
    let table: [(ProbeRecord, ConnectOutcome)] = [
      (Self.record([], 0), .open),
      (Self.record(["nc: can't connect to remote host (10.96.0.15): Connection refused"], 1), .refused),
      (Self.record(["nc: timed out"], 1, 300), .timeout),
      (Self.record([], 1, 300), .timeout),
      (Self.record(["nc: bad address 'nope.example.org'"], 1), .dnsFailure),
      (Self.record(["nc: can't connect to remote host (10.9.9.9): No route to host"], 1), .noRoute),
      (Self.record(["nc: can't connect to remote host (10.9.9.9): Network is unreachable"], 1), .noRoute),
      (Self.record(["nc: something else"], 1), .error),
    ]
    for (record, expected) in table {
      #expect(ConnectOutcome(tcp: record, timeoutSeconds: 3) == expected, "\(record.output)")
    }
  }

  @Test func datagramOutcomes() {
    #expect(DatagramOutcome(Self.record(["Server:\t\t127.0.0.1", "Address:\t127.0.0.1:5353", "Non-authoritative answer:"], 0)) == .reply)
    #expect(DatagramOutcome(Self.record(["** server can't find kftray-doctor-probe.: NXDOMAIN"], 1)) == .reply, "any answer is a reply")
    #expect(DatagramOutcome(Self.record([";; connection timed out; no servers could be reached"], 1, 300)) == .noReply)
    #expect(DatagramOutcome(Self.record(["nslookup: write to '10.96.0.16': Connection refused", ";; connection timed out; no servers could be reached"], 1)) == .refused)
    #expect(DatagramOutcome(Self.record(["nslookup: bad address 'nope'"], 1)) == .dnsFailure)
  }

  @Test func lookupOutcomes() {
    #expect(LookupOutcome(Self.record(["Server:\t\t10.96.0.10", "Address:\t10.96.0.10:53", "", "** server can't find nope.example.org.: NXDOMAIN"], 1)) == .notFound)
    #expect(LookupOutcome(Self.record([";; connection timed out; no servers could be reached"], 1)) == .serverUnreachable)
    #expect(LookupOutcome(Self.record(["Server: 10.0.0.10", "Address 1: 10.0.0.10 kube-dns", "Name: web", "Address 1: 10.1.1.1 web.svc"], 0)) == .resolved(["10.1.1.1"]))
    #expect(LookupOutcome(Self.record(["Name:\tdual", "Address: 10.1.1.1", "Name:\tdual", "Address: fd00::1"], 0)) == .resolved(["10.1.1.1", "fd00::1"]))
  }

  @Test func unknownNameFailsAsDNSWithTheHint() {
    let target = ProbeTarget(host: "nope.example.org", port: 80, transport: .tcp)
    let log = """
      ##kftray|begin|1
      ##kftray|dns|0|out|** server can't find nope.example.org.: NXDOMAIN
      ##kftray|dns|0|end|1|2
      ##kftray|tcp|0|out|nc: bad address 'nope.example.org'
      ##kftray|tcp|0|end|1|2
      ##kftray|done
      """
    let checks = ProbeVerdicts(script: ProbeScript(targets: [target]), log: ProbeLog(parsing: log), namespace: "dev").checks
    let dns = checks.first { $0.id == "network.dns/nope.example.org" }
    let tcp = checks.first { $0.id == "network.tcp/nope.example.org:80" }
    #expect(dns?.status == .fail && dns?.result.contains("host not found") == true)
    #expect(dns?.hint?.hasPrefix("host not found: the name does not resolve from the cluster") == true)
    #expect(tcp?.status == .fail && tcp?.result == "nope.example.org:80: DNS failure (host not found)")
    #expect(checks.first { $0.id == "network.resolv-conf" }?.status == .skip)
  }

  @Test func refusedAndNoReplyHints() {
    let targets = [
      ProbeTarget(host: "closed", port: 7001, transport: .tcp), ProbeTarget(host: "quiet", port: 9999, transport: .udp),
    ]
    let log = """
      ##kftray|begin|1
      ##kftray|dns|0|out|** server can't find closed: NXDOMAIN
      ##kftray|dns|0|end|1|2
      ##kftray|tcp|0|out|nc: can't connect to remote host (10.96.0.15): Connection refused
      ##kftray|tcp|0|end|1|1
      ##kftray|dns|1|out|Name: quiet.default.svc.cluster.local
      ##kftray|dns|1|out|Address: 10.96.0.20
      ##kftray|dns|1|end|0|2
      ##kftray|udp|1|out|;; connection timed out; no servers could be reached
      ##kftray|udp|1|end|1|300
      ##kftray|done
      """
    let checks = ProbeVerdicts(script: ProbeScript(targets: targets), log: ProbeLog(parsing: log), namespace: "dev").checks
    let byID = Dictionary(uniqueKeysWithValues: checks.map { ($0.id, $0) })
    // busybox's nslookup skips the search path for short names; nc found it: the name resolves.
    #expect(byID["network.dns/closed"]?.status == .pass)
    #expect(byID["network.tcp/closed:7001"]?.status == .fail)
    #expect(byID["network.tcp/closed:7001"]?.hint?.hasPrefix("connection refused: nothing listens") == true)
    #expect(byID["network.udp/quiet:9999"]?.status == .warn)
    #expect(byID["network.udp/quiet:9999"]?.result == "quiet:9999/udp: no reply (within 3s)")
  }

  @Test func emptyLogSkipsEverythingWithTheReason() {
    let checks = ProbeVerdicts(
      script: ProbeScript(targets: Self.targets), log: ProbeLog(parsing: ""), namespace: "dev", notMeasured: "not measured: the doctor pod did not run"
    ).checks
    #expect(checks.count == 7)
    #expect(checks.allSatisfy { $0.status == .skip && $0.result == "not measured: the doctor pod did not run" })
  }

  // MARK: Check model and output

  static let report = DoctorReport(
    context: "sandbox-dev", namespace: "dev", targets: ["web:80"],
    checks: [
      .pass("local.kubeconfig", .local, "context sandbox-dev"),
      .fail("rbac.role", .rbac, "missing 1 of 8", hint: "apply the Role", detail: "kind: Role\nrules: []\n"),
      .warn("cleanup.leftovers", .cleanup, "1 pod", hint: "kubectl kftray cleanup -n dev"),
      .skip("image.relay", .image, "not checked (--skip-image-check)"),
    ])

  @Test func exitCodesAndSummary() {
    #expect(Self.report.exitCode(strict: false) == 1)
    var warnOnly = Self.report
    warnOnly.checks.removeAll { $0.status == .fail }
    #expect(warnOnly.exitCode(strict: false) == 0)
    #expect(warnOnly.exitCode(strict: true) == 1)
    warnOnly.checks.removeAll { $0.status == .warn }
    #expect(warnOnly.exitCode(strict: true) == 0, "skips never fail a run")
    #expect(Self.report.summary == DoctorReport.Summary(pass: 1, warn: 1, fail: 1, skip: 1))
    #expect(CheckStatus.allCases.sorted() == [.pass, .skip, .warn, .fail])
  }

  @Test func jsonRoundTripsWithTheSummary() throws {
    let data = try JSONEncoder().encode(Self.report)
    let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    #expect((object["summary"] as? [String: Int]) == ["pass": 1, "warn": 1, "fail": 1, "skip": 1])
    #expect(object["kind"] as? String == "DoctorReport")
    #expect(try JSONDecoder().decode(DoctorReport.self, from: data) == Self.report)
  }

  @Test func tableGroupsByAreaWithHintsAndDetails() {
    let text = DoctorTable(report: Self.report).render()
    #expect(text == """
      kubectl kftray doctor: namespace dev, context sandbox-dev

      LOCAL
        pass  local.kubeconfig   context sandbox-dev

      RBAC
        fail  rbac.role          missing 1 of 8
                hint: apply the Role
                  kind: Role
                  rules: []

      RELAY IMAGE
        skip  image.relay        not checked (--skip-image-check)

      LEFTOVERS
        warn  cleanup.leftovers  1 pod
                hint: kubectl kftray cleanup -n dev

      1 passed, 1 warning, 1 failed, 1 skipped

      """)
    let painted = DoctorTable(report: Self.report).render { text, status in "<\(status.rawValue)>" + text }
    #expect(painted.contains("<fail>fail  rbac.role"))
  }

  // MARK: RBAC and the pod

  @Test func roleGrantsExactlyWhatIsMissing() {
    let missing = PluginPermission.required.filter { $0.verb == "create" || $0.subresource == "log" }
    let role = GrantingRole(namespace: "dev", permissions: missing)
    #expect(role.yaml == """
      apiVersion: rbac.authorization.k8s.io/v1
      kind: Role
      metadata:
        name: kubectl-kftray
        namespace: dev
      rules:
      - apiGroups: [""]
        resources: ["pods"]
        verbs: ["create"]
      - apiGroups: [""]
        resources: ["pods/portforward"]
        verbs: ["create"]
      - apiGroups: [""]
        resources: ["pods/log"]
        verbs: ["get"]

      """)
    #expect(PluginPermission.required.map(\.description) == [
      "pods create", "pods get", "pods list", "pods watch", "pods delete", "pods patch", "pods/portforward create", "pods/log get",
    ])
  }

  @Test func doctorPodIsRestrictedLabelledAndBounded() throws {
    let script = ProbeScript(targets: Self.targets)
    var relay = RelayPodSettings()
    relay.nodeSelector = ["pool": "egress"]
    let manifest = DoctorPodManifest(
      name: "kftray-doctor-abcde", namespace: "restricted", script: script,
      owner: RelayOwner(user: "u", host: "h", pid: 1, startedAt: "2026-01-01T00:00:00Z"), relay: relay)
    let pod = manifest.pod
    let spec = try #require(pod.spec)
    let container = try #require(spec.containers.first)
    #expect(container.image == "busybox:1.36.1")
    #expect(container.command == ["sh", "-c", script.text])
    #expect(spec.restartPolicy == "Never")
    #expect(spec.automountServiceAccountToken == false)
    #expect(spec.activeDeadlineSeconds == manifest.activeDeadlineSeconds && manifest.activeDeadlineSeconds > script.budgetSeconds)
    #expect(spec.nodeSelector == ["pool": "egress"])
    #expect(spec.securityContext?.runAsNonRoot == true && spec.securityContext?.runAsUser == 65534)
    let security = try #require(container.securityContext)
    #expect(security.allowPrivilegeEscalation == false)
    #expect(security.capabilities?.drop == ["ALL"])
    #expect(security.seccompProfile?.type == "RuntimeDefault")
    #expect(security.runAsNonRoot == true && security.runAsUser == 65534)
    #expect(pod.metadata.labels == [
      "app.kubernetes.io/managed-by": "kubectl-kftray", "app.kubernetes.io/name": "kftray-doctor",
      "app.kubernetes.io/component": "doctor",
    ])
    #expect(DoctorPodManifest.podName().hasPrefix("kftray-doctor-"))
    #expect(DoctorPodManifest.podName().count == "kftray-doctor-".count + 5)
  }
}

extension DoctorModelTests {
  @Test func reportKeepsChecksInAreaOrder() {
    var report = DoctorReport(
      context: nil, namespace: "dev", targets: [],
      checks: [.pass("cleanup.leftovers", .cleanup, "none"), .pass("b", .local, "b"), .pass("a", .local, "a")])
    #expect(report.checks.map(\.id) == ["b", "a", "cleanup.leftovers"])
    report.checks.append(.pass("api.version", .api, "v1"))
    #expect(report.checks.map(\.id) == ["b", "a", "api.version", "cleanup.leftovers"])
  }
}
