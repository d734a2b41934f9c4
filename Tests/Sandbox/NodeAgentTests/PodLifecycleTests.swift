import Foundation
import KubeClient
import Testing
import TestSupport

@testable import NodeAgent

/// The node agent against a real sandbox API server, driven by real kubectl.
@Suite("Node agent: node and pod lifecycle", .timeLimit(.minutes(5)))
struct PodLifecycleTests {
  @Test("registers a Ready Node with InternalIP 127.0.0.1 and the kubelet port, through node.kubeconfig")
  func nodeRegistered() async throws {
    let fixture = try await AgentFixture.shared.start()
    let api = try fixture.sandbox.client()
    let deadline = ContinuousClock.now + .seconds(30)
    var node: Node?
    while ContinuousClock.now < deadline {
      node = try? await api.node(fixture.nodeName)
      if node?.status?.conditions?.contains(where: { $0.type == "Ready" && $0.status == "True" }) == true { break }
      try await Task.sleep(for: .milliseconds(200))
    }
    let status = try #require(node?.status)
    #expect(status.conditions?.first { $0.type == "Ready" }?.status == "True")
    #expect(status.conditions?.first { $0.type == "Ready" }?.reason == "KubeletReady")
    #expect(status.addresses?.contains(NodeAddress(type: "InternalIP", address: "127.0.0.1")) == true)
    #expect(status.daemonEndpoints?.kubeletEndpoint?.Port == fixture.kubeletPort)
    #expect(node?.metadata.labels?["kubernetes.io/hostname"] == fixture.nodeName)
    // The heartbeat renews lastHeartbeatTime (every 2 s in this fixture). Polled rather than
    // checked once after a fixed sleep: on a loaded machine (the whole suite at once) one 3.5 s
    // window once saw no renewal; a heartbeat that never comes still fails after 20 s.
    let first = status.conditions?.first { $0.type == "Ready" }?.lastHeartbeatTime
    var later = first
    let renewDeadline = ContinuousClock.now + .seconds(20)
    while later == first, ContinuousClock.now < renewDeadline {
      try await Task.sleep(for: .milliseconds(500))
      later = try await api.node(fixture.nodeName).status?.conditions?.first { $0.type == "Ready" }?.lastHeartbeatTime
    }
    #expect(later != nil && later != first)
    // kubectl sees it Ready.
    let get = try await fixture.sandbox.kubectl(["get", "node", fixture.nodeName, "--no-headers"])
    #expect(get.stdout.contains("Ready"), "\(get.stdout)\(get.stderr)")
  }

  @Test("kubectl run busybox -- sh -c 'echo hi': Succeeded, Completed, and the CRI log has 'stdout F hi'")
  func busyboxEcho() async throws {
    let fixture = try await AgentFixture.shared.start()
    let name = uniqueName("echo")
    let run = try await fixture.sandbox.kubectl(["run", name, "--image=busybox", "--restart=Never", "--", "sh", "-c", "echo hi"])
    #expect(run.status == 0, "\(run.stderr)")
    let pod = try await fixture.sandbox.waitForPod(name) { $0.status?.phase == "Succeeded" }
    #expect(pod.spec?.nodeName == fixture.nodeName)
    let terminated = try #require(pod.status?.containerStatuses?.first?.state?.terminated)
    #expect(terminated.exitCode == 0)
    #expect(terminated.reason == "Completed")
    #expect(terminated.startedAt != nil && terminated.finishedAt != nil)
    #expect(pod.status?.containerStatuses?.first?.image == "docker.io/library/busybox:latest")
    #expect(pod.status?.conditions?.first { $0.type == "Ready" }?.reason == "PodCompleted")
    let log = readLog(root: fixture.logRoot, pod: pod, container: name)
    #expect(log.hasSuffix(" stdout F hi\n"), "\(log)")
    #expect(log.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z stdout F hi\n$"#, options: .regularExpression) != nil, "\(log)")
    try await fixture.sandbox.kubectl(["delete", "pod", name, "--wait=false"])
  }

  @Test("a sleeping pod is Running and Ready with podIP and startTime; kubectl delete ends its process and removes it")
  func runningThenDeleted() async throws {
    let fixture = try await AgentFixture.shared.start()
    let name = uniqueName("sleep")
    let run = try await fixture.sandbox.kubectl(["run", name, "--image=busybox", "--restart=Never", "--", "sleep", "3600"])
    #expect(run.status == 0, "\(run.stderr)")
    let pod = try await fixture.sandbox.waitForPod(name) { $0.status?.phase == "Running" }
    let status = try #require(pod.status)
    #expect(status.podIP == "127.0.0.1")
    #expect(status.podIPs == [PodIP(ip: "127.0.0.1")])
    #expect(status.hostIP == "127.0.0.1")
    #expect(status.startTime != nil)
    #expect(status.conditions?.first { $0.type == "Ready" }?.status == "True")
    #expect(status.conditions?.first { $0.type == "ContainersReady" }?.status == "True")
    #expect(status.containerStatuses?.first?.ready == true)
    #expect(status.containerStatuses?.first?.started == true)
    #expect(status.containerStatuses?.first?.state?.running?.startedAt != nil)

    let running = try #require(fixture.agent.runningPod(namespace: "default", name: name))
    #expect(running.uid == pod.metadata.uid)
    let netnsPath = try #require(running.netnsPath)
    #expect(running.containerLogPaths[name]?.hasSuffix("/\(name)/0.log") == true)
    let netns = URL(fileURLWithPath: netnsPath).lastPathComponent
    let pids = Leftovers.pids(inNamespace: netns)
    #expect(!pids.isEmpty)
    // /etc/resolv.conf inside the pod is the namespace's.
    #expect(
      (try? String(contentsOfFile: "/etc/netns/\(netns)/resolv.conf", encoding: .utf8)) == "nameserver 127.0.0.1\n")

    let delete = try await fixture.sandbox.kubectl(["delete", "pod", name, "--timeout=60s"])
    #expect(delete.status == 0, "\(delete.stderr)")
    try await fixture.sandbox.waitForPodGone(name)
    for pid in pids { #expect(!processExists(pid), "process \(pid) survived its pod") }
    #expect(!BareNamespaceNetwork.namespaces().contains(netns))
    #expect(!FileManager.default.fileExists(atPath: "/etc/netns/\(netns)"))
    #expect(fixture.agent.runningPod(namespace: "default", name: name) == nil)
  }

  @Test("deletion honours the grace period: SIGTERM first, SIGKILL only after it")
  func gracePeriod() async throws {
    let fixture = try await AgentFixture.shared.start()
    let name = uniqueName("grace")
    let script = "trap 'echo got-term' TERM; echo ready; while true; do sleep 0.2; done"
    let run = try await fixture.sandbox.kubectl(["run", name, "--image=busybox", "--restart=Never", "--", "sh", "-c", script])
    #expect(run.status == 0, "\(run.stderr)")
    let pod = try await fixture.sandbox.waitForPod(name) { $0.status?.phase == "Running" }
    try await waitFor { readLog(root: fixture.logRoot, pod: pod, container: name).contains("stdout F ready") }
    let started = ContinuousClock.now
    let delete = try await fixture.sandbox.kubectl(["delete", "pod", name, "--grace-period=3", "--wait=false"])
    #expect(delete.status == 0, "\(delete.stderr)")
    try await fixture.sandbox.waitForPodGone(name)
    let elapsed = ContinuousClock.now - started
    #expect(elapsed >= .seconds(3), "the pod went after \(elapsed), before its grace period ended")
    #expect(readLog(root: fixture.logRoot, pod: pod, container: name).contains("stdout F got-term"))
  }

  @Test("restartPolicy Always with a failing command: restarts, then CrashLoopBackOff")
  func crashLoop() async throws {
    let fixture = try await AgentFixture.shared.start()
    let name = uniqueName("crash")
    let run = try await fixture.sandbox.kubectl(["run", name, "--image=busybox", "--restart=Always", "--", "sh", "-c", "echo boom; exit 1"])
    #expect(run.status == 0, "\(run.stderr)")
    let pod = try await fixture.sandbox.waitForPod(name) {
      $0.status?.containerStatuses?.first?.state?.waiting?.reason == "CrashLoopBackOff"
    }
    let container = try #require(pod.status?.containerStatuses?.first)
    #expect((container.restartCount ?? 0) > 0)
    #expect(pod.status?.phase == "Running")
    let uid = pod.metadata.uid ?? ""
    #expect(container.state?.waiting?.message == "back-off 10s restarting failed container=\(name) pod=\(name)_default(\(uid))")
    #expect(container.lastState?.terminated?.exitCode == 1)
    #expect(container.lastState?.terminated?.reason == "Error")
    // Each run has its own log file.
    #expect(readLog(root: fixture.logRoot, pod: pod, container: name, restart: 1).contains("stdout F boom"))
    // After the back-off it runs again, and the next back-off is doubled.
    let later = try await fixture.sandbox.waitForPod(name, seconds: 90) {
      ($0.status?.containerStatuses?.first?.restartCount ?? 0) >= 2
        && $0.status?.containerStatuses?.first?.state?.waiting?.reason == "CrashLoopBackOff"
    }
    #expect(later.status?.containerStatuses?.first?.state?.waiting?.message?.hasPrefix("back-off 20s restarting") == true)
    try await fixture.sandbox.kubectl(["delete", "pod", name, "--wait=false"])
  }

  @Test("an image that no registry has: ErrImagePull, then ImagePullBackOff; the pod stays Pending")
  func unknownImage() async throws {
    let fixture = try await AgentFixture.shared.start()
    let name = uniqueName("noimage")
    let run = try await fixture.sandbox.kubectl(["run", name, "--image=no-such-image-kftray:1.0", "--restart=Never"])
    #expect(run.status == 0, "\(run.stderr)")
    let pulling = try await fixture.sandbox.waitForPod(name) {
      $0.status?.containerStatuses?.first?.state?.waiting?.reason == "ErrImagePull"
    }
    #expect(pulling.status?.phase == "Pending")
    #expect(
      pulling.status?.containerStatuses?.first?.state?.waiting?.message?.contains(
        "failed to pull and unpack image \"docker.io/library/no-such-image-kftray:1.0\"") == true)
    let backOff = try await fixture.sandbox.waitForPod(name) {
      $0.status?.containerStatuses?.first?.state?.waiting?.reason == "ImagePullBackOff"
    }
    #expect(backOff.status?.containerStatuses?.first?.state?.waiting?.message == "Back-off pulling image \"no-such-image-kftray:1.0\"")
    #expect(fixture.agent.runningPod(namespace: "default", name: name)?.waitingReasons[name] == "ImagePullBackOff")
    let delete = try await fixture.sandbox.kubectl(["delete", "pod", name, "--timeout=60s"])
    #expect(delete.status == 0, "\(delete.stderr)")
  }

  @Test("exit code 3: terminated with reason Error and exitCode 3, pod Failed")
  func exitCode() async throws {
    let fixture = try await AgentFixture.shared.start()
    let name = uniqueName("exit3")
    try await fixture.sandbox.kubectl(["run", name, "--image=busybox", "--restart=Never", "--", "sh", "-c", "exit 3"])
    let pod = try await fixture.sandbox.waitForPod(name) { $0.status?.phase == "Failed" }
    let terminated = try #require(pod.status?.containerStatuses?.first?.state?.terminated)
    #expect(terminated.exitCode == 3)
    #expect(terminated.reason == "Error")
    try await fixture.sandbox.kubectl(["delete", "pod", name, "--wait=false"])
  }

  @Test("restartPolicy OnFailure: a command that succeeds is not restarted, the pod Succeeds")
  func onFailureSucceeds() async throws {
    let fixture = try await AgentFixture.shared.start()
    let name = uniqueName("onfail")
    try await fixture.sandbox.kubectl(["run", name, "--image=busybox", "--restart=OnFailure", "--", "true"])
    let pod = try await fixture.sandbox.waitForPod(name) { $0.status?.phase == "Succeeded" }
    #expect(pod.status?.containerStatuses?.first?.restartCount == 0)
    try await fixture.sandbox.kubectl(["delete", "pod", name, "--wait=false"])
  }
}

extension PodLifecycleTests {
  @Test("binding: another scheduler's pods and pods whose nodeSelector does not match stay unscheduled")
  func scheduling() async throws {
    let fixture = try await AgentFixture.shared.start()
    let api = try fixture.sandbox.client()
    func pod(_ name: String, _ configure: (inout PodSpec) -> Void) -> Pod {
      var container = Container(name: "c", image: "busybox")
      container.command = ["sleep", "3600"]
      var spec = PodSpec(containers: [container])
      configure(&spec)
      return Pod(metadata: ObjectMeta(name: name, namespace: "default"), spec: spec)
    }
    let other = uniqueName("other-scheduler")
    let elsewhere = uniqueName("elsewhere")
    let here = uniqueName("here")
    _ = try await api.createPod(pod(other) { $0.schedulerName = "my-scheduler" }, namespace: "default")
    _ = try await api.createPod(pod(elsewhere) { $0.nodeSelector = ["kubernetes.io/hostname": "some-other-node"] }, namespace: "default")
    _ = try await api.createPod(pod(here) { $0.nodeSelector = ["kubernetes.io/hostname": fixture.nodeName] }, namespace: "default")
    let bound = try await fixture.sandbox.waitForPod(here) { $0.status?.phase == "Running" }
    #expect(bound.spec?.nodeName == fixture.nodeName)
    try await Task.sleep(for: .seconds(1))  // the agent saw all three before it bound the third
    for name in [other, elsewhere] {
      let unbound = try await api.pod(name, namespace: "default")
      #expect((unbound.spec?.nodeName ?? "").isEmpty, "\(name) was bound")
      #expect(unbound.status?.phase == "Pending")
    }
    try await fixture.sandbox.kubectl(["delete", "pod", other, elsewhere, here, "--wait=false"])
  }
}

/// Polls until `condition` holds (generous bound: the machine is shared).
func waitFor(seconds: Double = 30, _ condition: () -> Bool) async throws {
  let deadline = ContinuousClock.now + .seconds(seconds)
  while ContinuousClock.now < deadline {
    if condition() { return }
    try await Task.sleep(for: .milliseconds(100))
  }
  throw SandboxError("condition not met within \(seconds) s")
}
