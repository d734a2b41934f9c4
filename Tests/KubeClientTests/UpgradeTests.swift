import Foundation
import KubeClient
import Synchronization
import TestSupport
import Testing

/// The raw upgrade primitive against the sandbox's echo endpoint over real TLS.
@Suite struct UpgradeTests {
  /// Gathers what an upgraded connection receives, for assertions.
  final class Inbox: Sendable {
    private let state = Mutex<(bytes: [UInt8], closed: Bool, error: String?)>(([], false, nil))

    var events: UpgradeEvents {
      UpgradeEvents(
        received: { chunk in self.state.withLock { $0.bytes.append(contentsOf: chunk) } },
        closed: { error in self.state.withLock { $0.closed = true; $0.error = error.map { "\($0)" } } })
    }

    var bytes: [UInt8] { state.withLock { $0.bytes } }
    var closed: Bool { state.withLock { $0.closed } }

    func wait(until condition: @escaping @Sendable ([UInt8], Bool) -> Bool, seconds: Double = 60) async throws {
      let deadline = ContinuousClock.now + .seconds(seconds)
      while ContinuousClock.now < deadline {
        if state.withLock({ condition($0.bytes, $0.closed) }) { return }
        try await Task.sleep(for: .milliseconds(10))
      }
      let (count, closed, error) = state.withLock { ($0.bytes.count, $0.closed, $0.error) }
      throw SandboxError("condition not met: \(count) bytes, closed=\(closed), error=\(error ?? "none")")
    }
  }

  static func open(_ query: String, inbox: Inbox, context: String = "sandbox-dev") async throws -> UpgradedConnection {
    let api = try await SandboxCluster.shared.client(context: context)
    defer { api.shutdown() }
    let credentials = try await api.credentials.credentials()
    return try await UpgradedConnection.open(
      config: api.config, credentials: credentials,
      request: UpgradeRequest(
        method: "GET", path: "/sandbox/echo-upgrade\(query)",
        headers: [HTTPHeader("Connection", "Upgrade"), HTTPHeader("Upgrade", "kftray-echo")]),
      events: inbox.events)
  }

  @Test func earlyBytesComeFirst() async throws {
    let inbox = Inbox()
    let connection = try await Self.open("?greeting=hello-early", inbox: inbox)
    #expect(connection.head.status == 101)
    connection.write(Data("ping".utf8))
    try await inbox.wait { bytes, _ in bytes.count >= 15 }
    #expect(String(decoding: inbox.bytes, as: UTF8.self) == "hello-earlyping")
    connection.close()
    try await inbox.wait { _, closed in closed }
  }

  /// A burst larger than any TLS record arrives whole: reads are drained before polling.
  @Test func burstIsDrainedCompletely() async throws {
    let inbox = Inbox()
    let size = 3 * 1024 * 1024 + 17
    let connection = try await Self.open("?burst=\(size)", inbox: inbox)
    try await inbox.wait { bytes, _ in bytes.count >= size }
    let bytes = inbox.bytes
    #expect(bytes.count == size)
    #expect(bytes.enumerated().allSatisfy { $0.element == UInt8($0.offset % 251) })
    connection.close()
  }

  @Test func echoesEightMegabytesBothWays() async throws {
    let inbox = Inbox()
    let connection = try await Self.open("", inbox: inbox)
    var sent = [UInt8]()
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<128 {
      let chunk = (0..<(64 * 1024)).map { _ in UInt8.random(in: 0...255, using: &rng) }
      sent.append(contentsOf: chunk)
      connection.write(Data(chunk))
    }
    let total = sent.count
    try await inbox.wait { bytes, _ in bytes.count >= total }
    #expect(inbox.bytes == sent)
    #expect(connection.pendingBytes == 0)
    connection.close()
    try await inbox.wait { _, closed in closed }
  }

  @Test func refusalKeepsTheStatus() async throws {
    let inbox = Inbox()
    let api = try await SandboxCluster.shared.client(context: "sandbox-dev")
    defer { api.shutdown() }
    let credentials = try await api.credentials.credentials()
    do {
      _ = try await UpgradedConnection.open(
        config: api.config, credentials: credentials,
        request: UpgradeRequest(
          method: "POST", path: "/api/v1/namespaces/dev/pods/no-such-pod/portforward",
          headers: [
            HTTPHeader("Connection", "Upgrade"), HTTPHeader("Upgrade", "SPDY/3.1"),
            HTTPHeader("X-Stream-Protocol-Version", "portforward.k8s.io"),
          ]),
        events: inbox.events)
      Issue.record("expected the upgrade to be refused")
    } catch {
      guard case .rejected(let response) = error else {
        Issue.record("expected a refusal, got \(error)")
        return
      }
      #expect(response.status == 404)
      let status = try JSONDecoder().decode(APIStatus.self, from: response.body)
      #expect(status.message == #"pods "no-such-pod" not found"#)
    }
  }
}
