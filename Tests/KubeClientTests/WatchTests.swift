import Foundation
import KubeClient
import TestSupport
import Testing

@Suite struct WatchTests {
  /// Collects events until `count` arrived or the deadline passed.
  static func collect(
    _ stream: AsyncThrowingStream<WatchEvent<Pod>, any Error>, count: Int, within seconds: Int = 20
  ) async throws -> [WatchEvent<Pod>] {
    try await withThrowingTaskGroup(of: [WatchEvent<Pod>]?.self) { group in
      group.addTask {
        var events: [WatchEvent<Pod>] = []
        for try await event in stream {
          events.append(event)
          if events.count == count { break }
        }
        return events
      }
      group.addTask {
        try await Task.sleep(for: .seconds(seconds))
        return nil
      }
      let first = try await group.next()!
      group.cancelAll()
      return try #require(first, "timed out waiting for \(count) watch events")
    }
  }

  @Test func eventsArriveInOrder() async throws {
    let api = try await SandboxCluster.shared.client(context: "sandbox-dev")
    defer { api.shutdown() }
    let name = APIClientTests.uniqueName("watch")
    let start = try await api.listPods(namespace: "dev")
    let events = try await api.watchPods(
      namespace: "dev", fieldSelector: "metadata.name=\(name)", resourceVersion: start.metadata.resourceVersion)
    async let collected = Self.collect(events, count: 3)
    try await Task.sleep(for: .milliseconds(200))
    _ = try await api.createPod(APIClientTests.busybox(name), namespace: "dev")
    _ = try await api.mergePatchPod(name, namespace: "dev", patch: Data(#"{"metadata":{"labels":{"step":"two"}}}"#.utf8))
    try await api.deletePod(name, namespace: "dev", gracePeriodSeconds: 0)
    let got = try await collected
    #expect(got.map(\.type) == [.added, .modified, .deleted])
    #expect(got[1].object.metadata.labels?["step"] == "two")
    let versions = got.compactMap { $0.object.metadata.resourceVersion.flatMap { Int($0) } }
    #expect(versions == versions.sorted() && Set(versions).count == 3, "resourceVersions increase: \(versions)")
  }

  @Test func observerStartsWithExistingPods() async throws {
    let api = try await SandboxCluster.shared.client(context: "sandbox-dev")
    defer { api.shutdown() }
    let name = APIClientTests.uniqueName("observe")
    _ = try await api.createPod(APIClientTests.busybox(name, labels: ["observe": name]), namespace: "dev")
    let events = api.observePods(namespace: "dev", labelSelector: "observe=\(name)")
    async let collected = Self.collect(events, count: 2)
    try await Task.sleep(for: .milliseconds(300))
    try await api.deletePod(name, namespace: "dev", gracePeriodSeconds: 0)
    let got = try await collected
    #expect(got.map(\.type) == [.added, .deleted])
    #expect(got.allSatisfy { $0.object.metadata.name == name })
  }

  /// A resourceVersion older than the server's watch history gives 410 Gone; the observer lists
  /// again and reports what happened meanwhile instead of failing.
  @Test func observerRecoversFromGone() async throws {
    let dir = try Teardown.temporaryDirectory("kftray-gone")
    let up = try Binaries.run(Binaries.path("kftray-sandbox"), ["up", "--api-only", "--dir", dir, "--watch-history", "4", "--owner-pid", String(getpid())])
    try #require(up.status == 0, "\(up.stderr)")
    defer { _ = try? Binaries.run(Binaries.path("kftray-sandbox"), ["down", "--dir", dir]) }
    let config = try KubeconfigLoader(environment: ["HOME": dir]).load(
      ConfigOverrides(kubeconfig: dir + "/kubeconfig", context: "sandbox-admin"))
    let api = KubeAPI(config: config, credentials: KubeCredentials(config: config))
    defer { api.shutdown() }

    let old = try await api.listPods(namespace: "default").metadata.resourceVersion
    for i in 0..<8 { _ = try await api.createPod(APIClientTests.busybox("filler-\(i)"), namespace: "default") }
    do {
      let stream = try await api.watchPods(namespace: "default", resourceVersion: old)
      for try await _ in stream {}
      Issue.record("a watch from an expired resourceVersion must end with 410")
    } catch let error as KubeError {
      #expect(error.isGone, "\(error)")
    }

    let events = api.observePods(namespace: "default", labelSelector: nil)
    let initial = try await Self.collect(events, count: 8)
    #expect(Set(initial.compactMap(\.object.metadata.name)) == Set((0..<8).map { "filler-\($0)" }))
  }
}
