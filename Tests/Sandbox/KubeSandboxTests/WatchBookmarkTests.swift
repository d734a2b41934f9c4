import Foundation
import KubeClient
import Testing
import TestSupport

@testable import KubeSandbox

/// BOOKMARK events: their bytes (the kind's Go zero value), their cadence, and a client that keeps
/// watching through them.
@Suite("watch bookmarks")
struct WatchBookmarkTests {
  @Test func periodicPodBookmarkIsTheRealServersLine() async throws {
    try await SandboxFixture.with(bookmarkInterval: 0.5) { sandbox in
      let result = try sandbox.curl("/api/v1/namespaces/default/pods?watch=true&allowWatchBookmarks=true&timeoutSeconds=4")
      let version = sandbox.sandbox.store.currentResourceVersion
      let lines = result.body.split(separator: "\n").map(String.init)
      let expected =
        "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"\(version)\"},\"spec\":{\"containers\":null},\"status\":{}}}"
      #expect(lines.count == 4, "\(result.body)")
      #expect(lines.allSatisfy { $0 == expected }, "\(result.body)")
    }
  }

  @Test func initialEventsEndBookmarkCarriesTheAnnotationAfterTheResourceVersion() async throws {
    try await SandboxFixture.with { sandbox in
      let result = try sandbox.curl(
        "/api/v1/namespaces/default/pods?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1")
      let version = sandbox.sandbox.store.currentResourceVersion
      #expect(
        result.body
          == "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"\(version)\",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}},\"spec\":{\"containers\":null},\"status\":{}}}\n")
    }
  }

  /// With the default minute, a 3 s watch still gets the bookmark the cacher sends 2 s before the deadline.
  @Test func bookmarkTwoSecondsBeforeTheDeadline() async throws {
    try await SandboxFixture.with { sandbox in
      let started = Date()
      let result = try sandbox.curl("/api/v1/nodes?watch=true&allowWatchBookmarks=true&timeoutSeconds=3&resourceVersion=1000000")
      #expect(Date().timeIntervalSince(started) >= 2.5)
      let bookmarks = result.body.split(separator: "\n").filter { $0.contains("\"type\":\"BOOKMARK\"") }
      #expect(bookmarks.count == 1, "\(result.body)")
      #expect(bookmarks.first?.hasSuffix(
        ",\"spec\":{},\"status\":{\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":0}},\"nodeInfo\":{\"machineID\":\"\",\"systemUUID\":\"\",\"bootID\":\"\",\"kernelVersion\":\"\",\"osImage\":\"\",\"containerRuntimeVersion\":\"\",\"kubeletVersion\":\"\",\"kubeProxyVersion\":\"\",\"operatingSystem\":\"\",\"architecture\":\"\"}}}}") == true)
    }
  }

  @Test func scheduleFollowsTheCacher() {
    let schedule = BookmarkSchedule(interval: 60, deadline: 300)
    #expect(schedule.next(after: 0) == 60)
    #expect(schedule.next(after: 240) == 298)
    #expect(schedule.next(after: 298) == nil)
    #expect(BookmarkSchedule(interval: 60, deadline: 1).next(after: 0) == nil)
  }

  @Test func eventZeroValues() {
    let core = String(decoding: WatchBookmark(kind: "Event", apiVersion: "v1").line(resourceVersion: 7, initialEventsEnd: false), as: UTF8.self)
    #expect(
      core
        == "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"7\"},\"involvedObject\":{},\"source\":{},\"firstTimestamp\":null,\"lastTimestamp\":null,\"eventTime\":null,\"reportingComponent\":\"\",\"reportingInstance\":\"\"}}\n")
  }

  static func pod(_ name: String) -> Pod {
    var spec = PodSpec(containers: [Container(name: "main", image: "busybox")])
    spec.restartPolicy = "Never"
    return Pod(metadata: ObjectMeta(name: name), spec: spec)
  }

  /// The product's client holds one watch through several bookmarks and still sees every change.
  @Test func kubeClientWatchesThroughBookmarks() async throws {
    try await SandboxFixture.with(bookmarkInterval: 0.3) { sandbox in
      var overrides = ConfigOverrides()
      overrides.kubeconfig = sandbox.sandbox.kubeconfigPath
      let config = try KubeconfigLoader(environment: ["HOME": sandbox.home.path]).load(overrides)
      let api = KubeAPI(config: config, credentials: KubeCredentials(config: config))
      defer { api.shutdown() }
      // The watch ends as soon as both pods are seen; 60 s only bounds a run on a loaded machine.
      let events = try await api.watchPods(namespace: "default", resourceVersion: String(sandbox.sandbox.store.currentResourceVersion), timeoutSeconds: 60)
      var bookmarks = 0
      var added: [String] = []
      for try await event in events {
        switch event.type {
        case .bookmark:
          bookmarks += 1
          if bookmarks == 3 || bookmarks == 6 {
            // Through the client, not kubectl: a blocking process wait here would hold one of the
            // cooperative pool's threads that the watch itself needs (seen under the full suite).
            _ = try await api.createPod(Self.pod("p\(bookmarks)"), namespace: "default")
          }
        case .added:
          added.append(event.object.metadata.name ?? "")
        default: break
        }
        if added.count == 2 { break }
      }
      #expect(bookmarks >= 6)
      #expect(added == ["p3", "p6"])

      // observePods skips bookmarks and keeps following.
      var seen: [String] = []
      for try await event in api.observePods(namespace: "default") {
        seen.append(event.object.metadata.name ?? "")
        if seen.count == 2 {
          try await Task.sleep(for: .seconds(1))  // several bookmarks pass
          _ = try await api.createPod(Self.pod("p9"), namespace: "default")
        }
        if seen.count == 3 { break }
      }
      #expect(seen == ["p3", "p6", "p9"])
    }
  }
}
