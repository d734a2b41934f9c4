import Foundation
import KubeClient
import Testing
import TestSupport

@testable import NodeAgent

/// The events the agent records as scheduler and kubelet, read back through real kubectl and the
/// product's client.
@Suite("events", .serialized)
struct EventTests {
  @Test("a busybox pod: Scheduled, Pulling, Pulled, Created, Started, in describe, get events and KubeAPI.events")
  func podLifecycleEvents() async throws {
    let fixture = try await AgentFixture.shared.start()
    let name = uniqueName("ev")
    let run = try await fixture.sandbox.kubectl(["run", name, "--image=busybox", "--restart=Never", "--", "sh", "-c", "echo hi"])
    #expect(run.status == 0, "\(run.stderr)")
    _ = try await fixture.sandbox.waitForPod(name) { $0.status?.phase == "Succeeded" }
    let api = try fixture.sandbox.client()
    var events: [Event] = []
    // A write that got no answer is tried again after up to 10 s, then every 10 s (client-go's
    // schedule): room for two retries under the full suite's load.
    let deadline = ContinuousClock.now + .seconds(45)
    while ContinuousClock.now < deadline {
      events = try await api.events(namespace: "default", involvedObjectName: name)
      if events.count >= 5 { break }
      try await Task.sleep(for: .milliseconds(200))
    }
    #expect(
      events.map { $0.reason ?? "" } == ["Scheduled", "Pulling", "Pulled", "Created", "Started"],
      "\(events)\nagent log on events:\n\(fixture.agentLogLines(mentioning: "event"))")
    #expect(events.first?.message == "Successfully assigned default/\(name) to \(fixture.nodeName)")
    #expect(events.first?.eventTime != nil && events.first?.count == nil)
    #expect(events[1].message == "Pulling image \"busybox\"")
    #expect(events[2].message?.hasPrefix("Successfully pulled image \"busybox\" in ") == true)
    #expect(events[3].message == "Created container: \(name)")
    #expect(events.dropFirst().allSatisfy { $0.type == "Normal" && $0.count == 1 && $0.firstTimestamp != nil })

    let describe = try await fixture.sandbox.kubectl(["describe", "pod", name])
    #expect(describe.stdout.contains("Normal  Scheduled"), "\(describe.stdout)")
    #expect(describe.stdout.contains("default-scheduler  Successfully assigned default/\(name) to \(fixture.nodeName)"), "\(describe.stdout)")
    #expect(describe.stdout.contains("kubelet            Pulling image \"busybox\""), "\(describe.stdout)")
    let get = try await fixture.sandbox.kubectl(["get", "events", "--field-selector", "involvedObject.name=\(name),reason=Started"])
    #expect(get.status == 0, "\(get.stderr)")
    #expect(get.stdout.contains("pod/\(name)") && get.stdout.contains("Started container \(name)"), "\(get.stdout)")
    #expect(get.stdout.split(separator: "\n").count == 2, "\(get.stdout)")
    let wide = try await fixture.sandbox.kubectl(["get", "events", "-o", "wide", "--field-selector", "involvedObject.name=\(name),reason=Pulled"])
    #expect(wide.stdout.contains("kubelet, \(fixture.nodeName)"), "\(wide.stdout)")
    let v1 = try await fixture.sandbox.kubectl(["get", "events.v1.events.k8s.io", "-o", "jsonpath={.items[*].regarding.name}"])
    #expect(v1.stdout.contains(name), "\(v1.stdout)\(v1.stderr)")
    try await fixture.sandbox.kubectl(["delete", "pod", name, "--wait=false"])
  }

  @Test("an unknown image: Failed (pull, ErrImagePull), BackOff and ImagePullBackOff; repeats count up")
  func pullFailureEvents() async throws {
    let fixture = try await AgentFixture.shared.start()
    let name = uniqueName("nope")
    try await fixture.sandbox.kubectl(["run", name, "--image=example.invalid/nope:1", "--restart=Never"])
    let api = try fixture.sandbox.client()
    var events: [Event] = []
    // The repeat comes a back-off (10 s) after the first, and a write that got no answer holds every
    // later event up to 10 s more. Under the full suite's load all five events were once written
    // together 15 s after the pod started, and 30 s were not enough.
    let deadline = ContinuousClock.now + .seconds(45)
    while ContinuousClock.now < deadline {
      events = try await api.events(namespace: "default", involvedObjectName: name)
      if events.contains(where: { $0.message == "Error: ImagePullBackOff" && ($0.count ?? 0) >= 2 }) { break }
      try await Task.sleep(for: .milliseconds(300))
    }
    let messages = events.map { $0.message ?? "" }
    #expect(messages.contains("Pulling image \"example.invalid/nope:1\""), "\(messages)")
    #expect(messages.contains { $0.hasPrefix("Failed to pull image \"example.invalid/nope:1\": rpc error: code = NotFound") }, "\(messages)")
    #expect(events.contains { $0.reason == "Failed" && $0.message == "Error: ErrImagePull" && $0.type == "Warning" })
    #expect(events.contains { $0.reason == "BackOff" && $0.message == "Back-off pulling image \"example.invalid/nope:1\"" && $0.type == "Normal" })
    #expect(
      events.contains { $0.message == "Error: ImagePullBackOff" && ($0.count ?? 0) >= 2 },
      "\(events)\nagent log on events:\n\(fixture.agentLogLines(mentioning: "event"))")
    let describe = try await fixture.sandbox.kubectl(["describe", "pod", name])
    #expect(describe.stdout.range(of: #"Warning  Failed .*\(x\d+ over"#, options: .regularExpression) != nil, "\(describe.stdout)")
    try await fixture.sandbox.kubectl(["delete", "pod", name, "--wait=false"])
  }

  @Test("a deleted running pod: Killing; sandbox-dev may list events in dev only")
  func killingAndPermissions() async throws {
    let fixture = try await AgentFixture.shared.start()
    let name = uniqueName("kill")
    try await fixture.sandbox.kubectl(["run", name, "--image=busybox", "--restart=Never", "--", "sleep", "300"])
    _ = try await fixture.sandbox.waitForPod(name) { $0.status?.phase == "Running" }
    try await fixture.sandbox.kubectl(["delete", "pod", name, "--wait=false"])
    try await fixture.sandbox.waitForPodGone(name)
    let api = try fixture.sandbox.client()
    let events = try await api.events(namespace: "default", involvedObjectName: name)
    #expect(events.contains { $0.reason == "Killing" && $0.message == "Stopping container \(name)" }, "\(events)")

    let dev = try await fixture.sandbox.kubectl(["auth", "can-i", "list", "events", "-n", "dev", "--context", "sandbox-dev"])
    #expect(dev.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "yes", "\(dev.stdout)\(dev.stderr)")
    let elsewhere = try await fixture.sandbox.kubectl(["auth", "can-i", "list", "events", "-n", "default", "--context", "sandbox-dev"])
    #expect(elsewhere.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "no")
  }
}
