import Foundation
import Testing

@testable import KubeSandbox

/// Pod Security admission: real kubectl against the sandbox's `restricted` namespace, and the checks'
/// wording case by case.
@Suite("Pod Security admission")
struct PodSecurityTests {
  static let restrictedMessage =
    "Error from server (Forbidden): pods \"plain\" is forbidden: violates PodSecurity \"restricted:latest\": "
    + "allowPrivilegeEscalation != false (container \"plain\" must set securityContext.allowPrivilegeEscalation=false), "
    + "unrestricted capabilities (container \"plain\" must set securityContext.capabilities.drop=[\"ALL\"]), "
    + "runAsNonRoot != true (pod or container \"plain\" must set securityContext.runAsNonRoot=true), "
    + "seccompProfile (pod or container \"plain\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" "
    + "or \"Localhost\")"

  static let compliantPod = """
    apiVersion: v1
    kind: Pod
    metadata: {name: compliant}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: relay
        image: ghcr.io/hcavarsan/kftray-server:v0.15.0
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
    """

  @Test func plainPodIsRejectedInRestrictedWithTheRealMessage() async throws {
    try await SandboxFixture.with { sandbox in
      let result = try sandbox.kubectl("run", "plain", "-n", "restricted", "--image=busybox", "--", "sleep", "1")
      #expect(result.status == 1)
      #expect(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines) == Self.restrictedMessage)
      let listed = try sandbox.kubectl("get", "pods", "-n", "restricted", "-o", "name")
      #expect(listed.stdout.isEmpty, "nothing may be stored: \(listed.stdout)")
      // Server-side dry run is admitted (or rejected) the same way.
      let dryRun = try sandbox.kubectl(
        "run", "plain", "-n", "restricted", "--image=busybox", "--dry-run=server", "--", "sleep", "1")
      #expect(dryRun.status == 1)
      #expect(dryRun.stderr.contains("violates PodSecurity \"restricted:latest\""))
    }
  }

  @Test func compliantPodIsAdmitted() async throws {
    try await SandboxFixture.with { sandbox in
      let created = try sandbox.kubectl("create", "-n", "restricted", "-f", "-", input: Self.compliantPod)
      #expect(created.status == 0, "\(created.stderr)")
      #expect(created.stdout.contains("pod/compliant created"))
      // The same pod without the container's hardening is rejected; the pod-level settings still count.
      let weaker = Self.compliantPod.replacingOccurrences(of: "name: compliant", with: "name: weaker")
        .replacingOccurrences(of: "capabilities: {drop: [ALL]}", with: "capabilities: {add: [NET_ADMIN]}")
      let rejected = try sandbox.kubectl("create", "-n", "restricted", "-f", "-", input: weaker)
      #expect(rejected.status == 1)
      #expect(
        rejected.stderr.contains(
          "violates PodSecurity \"restricted:latest\": unrestricted capabilities (container \"relay\" must set "
            + "securityContext.capabilities.drop=[\"ALL\"]; container \"relay\" must not include \"NET_ADMIN\" in "
            + "securityContext.capabilities.add)"), "\(rejected.stderr)")
    }
  }

  @Test func baselineAndWarnLabelsOfANewNamespace() async throws {
    try await SandboxFixture.with { sandbox in
      #expect(try sandbox.kubectl("create", "ns", "base").status == 0)
      #expect(
        try sandbox.kubectl(
          "label", "ns", "base", "pod-security.kubernetes.io/enforce=baseline",
          "pod-security.kubernetes.io/warn=restricted", "pod-security.kubernetes.io/warn-version=v1.30"
        ).status == 0)
      let privileged = """
        apiVersion: v1
        kind: Pod
        metadata: {name: priv}
        spec:
          hostNetwork: true
          containers:
          - {name: a, image: busybox, securityContext: {privileged: true}, ports: [{containerPort: 80, hostPort: 80}]}
        """
      let rejected = try sandbox.kubectl("create", "-n", "base", "-f", "-", input: privileged)
      #expect(rejected.status == 1)
      #expect(
        rejected.stderr.contains(
          "pods \"priv\" is forbidden: violates PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true), "
            + "hostPort (container \"a\" uses hostPort 80), privileged (container \"a\" must not set "
            + "securityContext.privileged=true)"), "\(rejected.stderr)")
      // Baseline admits a plain pod; the warn label makes kubectl print the restricted violations.
      let plain = try sandbox.kubectl("run", "plain", "-n", "base", "--image=busybox", "--", "sleep", "1")
      #expect(plain.status == 0, "\(plain.stderr)")
      #expect(
        plain.stderr.contains(
          "Warning: would violate PodSecurity \"restricted:v1.30\": allowPrivilegeEscalation != false"), "\(plain.stderr)")
    }
  }

  // MARK: Wording of single checks

  static func pod(_ spec: JSONValue) -> JSONValue { ["metadata": ["name": "p"], "spec": spec] }

  @Test func pluralsNameEveryContainerIncludingInitContainers() {
    let violations = PodSecurityStandards.violations(
      of: Self.pod([
        "initContainers": [["name": "init", "image": "busybox"]],
        "containers": [["name": "a", "image": "busybox"], ["name": "b", "image": "busybox"]],
      ]), level: .restricted)
    #expect(
      violations.map(\.description) == [
        "allowPrivilegeEscalation != false (containers \"init\", \"a\", \"b\" must set securityContext.allowPrivilegeEscalation=false)",
        "unrestricted capabilities (containers \"init\", \"a\", \"b\" must set securityContext.capabilities.drop=[\"ALL\"])",
        "runAsNonRoot != true (pod or containers \"init\", \"a\", \"b\" must set securityContext.runAsNonRoot=true)",
        "seccompProfile (pod or containers \"init\", \"a\", \"b\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")",
      ])
  }

  @Test func explicitRootAndUnconfinedAreNamed() {
    let violations = PodSecurityStandards.violations(
      of: Self.pod([
        "securityContext": ["runAsNonRoot": false, "runAsUser": 0, "seccompProfile": ["type": "Unconfined"]],
        "containers": [
          [
            "name": "a", "image": "x",
            "securityContext": [
              "allowPrivilegeEscalation": false, "capabilities": ["drop": ["ALL"]], "runAsUser": 0,
            ],
          ]
        ],
        "volumes": [["name": "host", "hostPath": ["path": "/"]], ["name": "scratch", "emptyDir": [:]]],
      ]), level: .restricted)
    #expect(
      violations.map(\.description) == [
        "hostPath volumes (volume \"host\")",
        "restricted volume types (volume \"host\" uses restricted volume type \"hostPath\")",
        "runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false; pod or container \"a\" must set securityContext.runAsNonRoot=true)",
        "runAsUser=0 (pod must not set runAsUser=0; container \"a\" must not set runAsUser=0)",
        "seccompProfile (pod must not set securityContext.seccompProfile.type to \"Unconfined\")",
      ])
  }

  @Test func baselineChecksCapabilitiesSysctlsAndProcMount() {
    let violations = PodSecurityStandards.violations(
      of: Self.pod([
        "securityContext": ["sysctls": [["name": "net.ipv4.tcp_syncookies", "value": "1"], ["name": "kernel.msgmax", "value": "1"]]],
        "containers": [
          [
            "name": "a", "image": "x",
            "securityContext": ["capabilities": ["add": ["NET_BIND_SERVICE", "NET_ADMIN"]], "procMount": "Unmasked"],
          ]
        ],
      ]), level: .baseline)
    #expect(
      violations.map(\.description) == [
        "non-default capabilities (container \"a\" must not include \"NET_ADMIN\" in securityContext.capabilities.add)",
        "procMount (container \"a\" must not set securityContext.procMount to \"Unmasked\")",
        "forbidden sysctls (kernel.msgmax)",
      ])
    #expect(PodSecurityStandards.violations(of: Self.pod(["containers": [["name": "a"]]]), level: .privileged).isEmpty)
  }

  @Test func invalidLabelsFailClosedToRestricted() {
    #expect(
      PodSecurityAdmission.policy(mode: "enforce", labels: ["pod-security.kubernetes.io/enforce": "strict"])
        == .init(level: .restricted, version: "latest"))
    #expect(
      PodSecurityAdmission.policy(
        mode: "enforce",
        labels: ["pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/enforce-version": "v2"])
        == .init(level: .restricted, version: "latest"))
    #expect(PodSecurityAdmission.policy(mode: "enforce", labels: [:]) == nil)
  }
}
