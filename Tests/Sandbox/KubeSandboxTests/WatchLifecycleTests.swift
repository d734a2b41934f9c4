import Foundation
import Testing
import TestSupport

@testable import KubeSandbox

/// Watches end on the server when their clients go away, over both protocols.
@Suite("watch lifecycle")
struct WatchLifecycleTests {
  @Test(arguments: [false, true])
  func watchEndsWithItsClient(http1: Bool) async throws {
    try await SandboxFixture.with { sandbox in
      let store = sandbox.sandbox.store
      #expect(store.watcherCount == 0)
      let curl = try BackgroundProcess(
        SandboxFixture.curlPath,
        [
          "-sSN", http1 ? "--http1.1" : "--http2", "--cacert", sandbox.sandbox.files.caCertificate.path, "--cert",
          sandbox.sandbox.files.adminCertificate.path, "--key", sandbox.sandbox.files.adminKey.path,
          sandbox.sandbox.serverURL + "/api/v1/pods?watch=true",
        ], environment: [:])
      #expect(try await eventually { store.watcherCount == 1 })
      try sandbox.kubectl("create", "-f", "-", input: podManifest)
      #expect(try await eventually { curl.log.contains("\"type\":\"ADDED\"") }, "\(curl.log)")
      curl.stop()
      #expect(try await eventually { store.watcherCount == 0 })
    }
  }

  @Test func kubectlWatchEndsWithKubectl() async throws {
    try await SandboxFixture.with { sandbox in
      let store = sandbox.sandbox.store
      let watch = try BackgroundProcess(
        SandboxFixture.kubectlPath, ["get", "pods", "-A", "-w"], environment: sandbox.kubectlEnvironment)
      #expect(try await eventually { store.watcherCount == 1 })
      watch.stop()
      #expect(try await eventually { store.watcherCount == 0 })
    }
  }

  @Test func timeoutSecondsEndsTheWatch() async throws {
    try await SandboxFixture.with { sandbox in
      let started = Date()
      let result = try sandbox.curl("/api/v1/namespaces?watch=true&timeoutSeconds=1")
      #expect(result.status == 200)
      #expect(Date().timeIntervalSince(started) < 5)
      // Synthetic ADDED events for the seeded namespaces, then the end of the stream.
      #expect(result.body.split(separator: "\n").filter { $0.hasPrefix("{") }.count == 6)
      #expect(try await eventually { sandbox.sandbox.store.watcherCount == 0 })
    }
  }

  @Test func watchListEndsInitialEventsWithABookmark() async throws {
    try await SandboxFixture.with { sandbox in
      let result = try sandbox.curl(
        "/api/v1/namespaces?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1")
      let events = try result.body.split(separator: "\n").filter { $0.hasPrefix("{") }.map { try parseJSON(String($0)) }
      #expect(events.count == 7)
      let bookmark = try #require(events.last)
      #expect(bookmark["type"] as? String == "BOOKMARK")
      let metadata = (bookmark["object"] as? [String: Any])?["metadata"] as? [String: Any]
      #expect((metadata?["annotations"] as? [String: String])?["k8s.io/initial-events-end"] == "true")
    }
  }
}
