import Foundation
import KubeClient
import Testing
import TestSupport

@testable import NodeAgent

/// What the runtime honours of the pod spec: deadline, env and args, users and capabilities.
@Suite("Node agent: container spec", .timeLimit(.minutes(5)))
struct ContainerSpecTests {
  func busyboxPod(_ name: String, command: [String]? = nil, args: [String]? = nil, restartPolicy: String = "Never") -> Pod {
    var container = Container(name: "main", image: "busybox:1.36")
    container.command = command
    container.args = args
    var spec = PodSpec(containers: [container])
    spec.restartPolicy = restartPolicy
    return Pod(metadata: ObjectMeta(name: name, namespace: "default"), spec: spec)
  }

  @Test("activeDeadlineSeconds: the pod is stopped and Failed with reason DeadlineExceeded")
  func deadline() async throws {
    let fixture = try await AgentFixture.shared.start()
    let name = uniqueName("deadline")
    var pod = busyboxPod(name, command: ["sleep", "3600"])
    pod.spec?.activeDeadlineSeconds = 2
    _ = try await fixture.sandbox.client().createPod(pod, namespace: "default")
    let failed = try await fixture.sandbox.waitForPod(name) { $0.status?.phase == "Failed" }
    #expect(failed.status?.reason == "DeadlineExceeded")
    #expect(failed.status?.message == "Pod was active on the node longer than the specified deadline")
    let ended = try await fixture.sandbox.waitForPod(name) { $0.status?.containerStatuses?.first?.state?.terminated != nil }
    #expect(ended.status?.containerStatuses?.first?.state?.terminated?.exitCode == 143)  // SIGTERM
    try await fixture.sandbox.kubectl(["delete", "pod", name, "--wait=false"])
  }

  @Test("env with $(VAR) expansion, command and args, workingDir")
  func environmentAndArguments() async throws {
    let fixture = try await AgentFixture.shared.start()
    let name = uniqueName("env")
    var pod = busyboxPod(name, command: ["/bin/sh", "-c"], args: [#"echo "$GREETING|$COMBINED|$(GREETING)|$$(GREETING)|$(MISSING)|$(pwd)""#])
    pod.spec?.containers[0].env = [
      EnvVar(name: "GREETING", value: "hello"), EnvVar(name: "COMBINED", value: "$(GREETING)-world"),
    ]
    pod.spec?.containers[0].workingDir = "/tmp"
    _ = try await fixture.sandbox.client().createPod(pod, namespace: "default")
    let done = try await fixture.sandbox.waitForPod(name) { $0.status?.phase == "Succeeded" }
    let log = readLog(root: fixture.logRoot, pod: done, container: "main")
    // $(GREETING) is expanded by the kubelet, $$(GREETING) is the escaped literal that the shell then
    // sees as a command substitution of GREETING (not found), $(MISSING) stays and the shell runs it too.
    #expect(log.contains(" stdout F hello|hello-world|hello|||/tmp\n"), "\(log)")
    try await fixture.sandbox.kubectl(["delete", "pod", name, "--wait=false"])
  }

  @Test("args only: the image's ENTRYPOINT (none for busybox) with the pod's args replacing CMD")
  func argsOnly() async throws {
    let fixture = try await AgentFixture.shared.start()
    let name = uniqueName("args")
    _ = try await fixture.sandbox.client().createPod(busyboxPod(name, args: ["echo", "from", "args"]), namespace: "default")
    let done = try await fixture.sandbox.waitForPod(name) { $0.status?.phase == "Succeeded" }
    #expect(readLog(root: fixture.logRoot, pod: done, container: "main").hasSuffix(" stdout F from args\n"))
    try await fixture.sandbox.kubectl(["delete", "pod", name, "--wait=false"])
  }

  func relayPod(_ name: String, user: Int?) -> Pod {
    var container = Container(name: "relay", image: "ghcr.io/hcavarsan/kftray-server:v0.15.0")
    container.env = [
      EnvVar(name: "LOCAL_PORT", value: "80"), EnvVar(name: "REMOTE_ADDRESS", value: "127.0.0.1"),
      EnvVar(name: "REMOTE_PORT", value: "9"), EnvVar(name: "PROXY_TYPE", value: "tcp"),
    ]
    var context = SecurityContext()
    context.runAsUser = user
    context.allowPrivilegeEscalation = false
    if user != nil { context.capabilities = Capabilities(drop: ["ALL"]) }
    container.securityContext = context
    var spec = PodSpec(containers: [container])
    spec.restartPolicy = "Never"
    return Pod(metadata: ObjectMeta(name: name, namespace: "default"), spec: spec)
  }

  @Test("kftray-relay as uid 1000 with all capabilities dropped cannot bind port 80; as root it can")
  func relayPrivileges() async throws {
    let fixture = try await AgentFixture.shared.start()
    let api = try fixture.sandbox.client()
    let nonRoot = uniqueName("relay-user")
    _ = try await api.createPod(relayPod(nonRoot, user: 1000), namespace: "default")
    let failed = try await fixture.sandbox.waitForPod(nonRoot) { $0.status?.phase == "Failed" }
    #expect((failed.status?.containerStatuses?.first?.state?.terminated?.exitCode ?? 0) != 0)
    let log = readLog(root: fixture.logRoot, pod: failed, container: "relay")
    #expect(log.contains("ports below 1024 need privileges"), "\(log)")

    let root = uniqueName("relay-root")
    _ = try await api.createPod(relayPod(root, user: nil), namespace: "default")
    let running = try await fixture.sandbox.waitForPod(root) {
      $0.status?.conditions?.contains { $0.type == "Ready" && $0.status == "True" } == true
    }
    try await waitFor { readLog(root: fixture.logRoot, pod: running, container: "relay").contains("listening on") }
    // Port 80 is bound inside the pod's namespace, not on the host.
    let netns = try #require(fixture.agent.runningPod(namespace: "default", name: root)?.netnsPath)
    let sockets = try Binaries.run("/usr/sbin/ip", ["netns", "exec", URL(fileURLWithPath: netns).lastPathComponent, "cat", "/proc/net/tcp"])
    #expect(sockets.stdout.contains(":0050 00000000:0000 0A"), "\(sockets.stdout)")  // 0.0.0.0:80 LISTEN
    try await fixture.sandbox.kubectl(["delete", "pod", nonRoot, root, "--wait=false"])
  }

  @Test("runAsNonRoot without a user: CreateContainerConfigError with the kubelet's message")
  func runAsNonRoot() async throws {
    let fixture = try await AgentFixture.shared.start()
    let name = uniqueName("nonroot")
    var pod = busyboxPod(name, command: ["sleep", "3600"])
    var context = PodSecurityContext()
    context.runAsNonRoot = true
    pod.spec?.securityContext = context
    let created = try await fixture.sandbox.client().createPod(pod, namespace: "default")
    let waiting = try await fixture.sandbox.waitForPod(name) {
      $0.status?.containerStatuses?.first?.state?.waiting?.reason == "CreateContainerConfigError"
    }
    #expect(
      waiting.status?.containerStatuses?.first?.state?.waiting?.message
        == "container has runAsNonRoot and image will run as root (pod: \"\(name)_default(\(created.metadata.uid ?? ""))\", container: main)")
    #expect(waiting.status?.phase == "Pending")
    try await fixture.sandbox.kubectl(["delete", "pod", name, "--wait=false"])
  }

  @Test("a command the image does not have: terminated with StartError and exit code 128, like runc's")
  func missingProgram() async throws {
    let fixture = try await AgentFixture.shared.start()
    let name = uniqueName("noprog")
    try await fixture.sandbox.kubectl(["run", name, "--image=busybox", "--restart=Never", "--", "no-such-program", "x"])
    let pod = try await fixture.sandbox.waitForPod(name) { $0.status?.phase == "Failed" }
    let terminated = try #require(pod.status?.containerStatuses?.first?.state?.terminated)
    #expect(terminated.exitCode == 128)
    #expect(terminated.reason == "StartError")
    #expect(terminated.message?.contains("exec: \"no-such-program\": executable file not found in $PATH") == true)
    try await fixture.sandbox.kubectl(["delete", "pod", name, "--wait=false"])
  }
}
