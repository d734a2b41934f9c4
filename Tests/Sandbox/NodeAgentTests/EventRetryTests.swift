import Foundation
import KubeClient
import Synchronization
import Testing
import TestSupport

@testable import NodeAgent

/// The kubelet's event recorder (client-go's broadcaster) keeps an event it could not deliver and
/// tries again: a pod's "Started" written while the API server was briefly away still shows up.
@Suite("events: the API server away", .timeLimit(.minutes(3)))
struct EventRetryTests {
  @Test("an event recorded while the API server refuses connections is written once it answers")
  func eventIsWrittenOnceTheServerAnswers() async throws {
    let sandbox = try OwnSandbox.start()
    let scratch = try Teardown.temporaryDirectory("kftray-event-retry")
    // The recorder's kubeconfig points at a loopback port where nothing listens yet.
    let away = try AwayAPIServer(copying: sandbox.kubeconfig, into: scratch)

    let logged = Mutex<[String]>([])
    // client-go's 10 s between tries would make a slow test; 100 tries cover 20 s of absence.
    let recorder = EventRecorder(
      api: try sandbox.client(kubeconfig: away.kubeconfig), reporter: .kubelet(node: "away-node"), maxTries: 100,
      retrySleep: .milliseconds(200), log: { line in logged.withLock { $0.append(line) } })
    let name = "away-\(UUID().uuidString.prefix(6).lowercased())"
    var pod = Pod(metadata: ObjectMeta(name: name, namespace: "default"), spec: PodSpec(containers: []))
    pod.metadata.uid = UUID().uuidString.lowercased()
    recorder.record(pod, "Normal", "Started", "Started container \(name)")
    try await waitFor { logged.withLock { $0.contains { $0.contains("(trying again)") } } }

    let relay = try away.answer()
    defer { relay.stop() }
    await recorder.flush()

    let events = try await sandbox.client().events(namespace: "default", involvedObjectName: name)
    #expect(events.map { $0.reason ?? "" } == ["Started"], "recorder log: \(logged.withLock { $0 })")
  }
}
