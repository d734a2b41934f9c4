import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PortForwardCodecs
import Testing
import TestSupport

@testable import KubeSandbox
@testable import KubeletAPI

#if canImport(Glibc)
  import Glibc
#endif

/// The kubelet's `NetnsPodPortDialer` against a real network namespace made for the test, through the
/// kubelet's real `/portForward` over TLS: bytes reach a listener that exists only inside the
/// namespace, while nothing listens on the host's 127.0.0.1 at that port.
@Suite("kubelet: dialing pods inside their network namespace", .serialized)
struct KubeletNetnsTests {
  static let uid = "7e0c2a51-aaaa-4bbb-8ccc-0123456789ab"

  @Test func bytesReachAListenerThatOnlyExistsInsideThePodsNamespace() async throws {
    try await ThrowawayNetns.with { netns in
      let port = try netns.unusedPort()
      #expect(!hostLoopbackAccepts(port), "something listens on the host's 127.0.0.1:\(port); the test proves nothing")
      let listener = try netns.run(["/usr/bin/busybox", "nc", "-ll", "-p", String(port), "-e", "/bin/cat"])
      defer { listener.stop() }
      try await netns.waitForListener(port: port)
      // Still nothing on the host side: the listener is in the namespace only.
      #expect(!hostLoopbackAccepts(port))

      let pod = KubeletPod(namespace: "default", name: "p", uid: Self.uid, netnsPath: netns.path)
      try await KubeletHarness.with(pods: FixedPods([pod]), dialer: NetnsPodPortDialer()) { kubelet in
        let client = try await kubelet.upgradedClient()
        defer { client.close() }
        try client.openStreamPair(port: String(port))
        try client.send(.data(SPDYDataFrame(streamID: 3, payload: ArraySlice("hello from the host\n".utf8))))
        #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 1)))
        #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 3)))
        var echoed: [UInt8] = []
        while echoed.count < 20 {
          guard case .data(let frame) = try await client.nextFrame(), frame.streamID == 3 else {
            Issue.record("expected DATA on the data stream")
            return
          }
          echoed += frame.payload
        }
        #expect(String(decoding: echoed, as: UTF8.self) == "hello from the host\n")
      }
    }
  }

  /// The whole path: real kubectl → the sandbox API server (SPDY or the WebSocket tunnel) → its
  /// kubelet → a store pod whose namespace the sandbox-only annotation names.
  @Test(arguments: PortForwardKubectlTests.Mode.allCases)
  func kubectlPortForwardReachesAPodInsideItsNamespace(mode: PortForwardKubectlTests.Mode) async throws {
    try await ThrowawayNetns.with { netns in
      let port = try netns.unusedPort()
      let listener = try netns.run(["/usr/bin/busybox", "nc", "-ll", "-p", String(port), "-e", "/bin/cat"])
      defer { listener.stop() }
      try await netns.waitForListener(port: port)
      #expect(!hostLoopbackAccepts(port))
      try await PortForwardCluster.with { cluster in
        let manifest = """
          apiVersion: v1
          kind: Pod
          metadata:
            name: isolated
            annotations:
              \(StorePodDirectory.netnsAnnotation): \(netns.path)
          spec:
            nodeName: \(NodeRegistration.defaultNodeName)
            containers:
            - name: c
              image: busybox
          """
        let file = cluster.base.appendingPathComponent("isolated.yaml")
        try manifest.write(to: file, atomically: true, encoding: .utf8)
        let created = try cluster.kubectl(["create", "-f", file.path])
        #expect(created.code == 0, "\(created.output)")
        let patched = try cluster.kubectl([
          "patch", "pod", "isolated", "--subresource=status", "--type=merge", "-p", #"{"status":{"phase":"Running"}}"#,
        ])
        #expect(patched.code == 0, "\(patched.output)")
        let forward = try await cluster.portForward("isolated", remotePort: port, mode: mode)
        defer { forward.process.stop() }
        let payload = Array("across the namespace boundary\n".utf8)
        let echoed = try await exchange(port: forward.localPort, payload: payload, expecting: payload.count, group: cluster.group)
        #expect(echoed == payload, "kubectl output:\n\(forward.process.output)")
      }
    }
  }

  @Test func aClosedPortInsideTheNamespaceGivesContainerdsText() async throws {
    try await ThrowawayNetns.with { netns in
      // A listener on the host's loopback at the port must not answer for the pod. The kernel picks
      // the port (a random one may be some other test's connection's); nothing listens in the new
      // namespace, so it is closed there.
      let decoy = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0).get()
      defer { decoy.close(promise: nil) }
      let port = try #require(decoy.localAddress?.port)
      let pod = KubeletPod(namespace: "default", name: "p", uid: Self.uid, netnsPath: netns.path)
      #expect(hostLoopbackAccepts(port))
      try await KubeletHarness.with(pods: FixedPods([pod]), dialer: NetnsPodPortDialer()) { kubelet in
        let client = try await kubelet.upgradedClient()
        defer { client.close() }
        try client.openStreamPair(port: String(port), finishingTheErrorStream: false)
        #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 1)))
        #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 3)))
        let expected =
          "error forwarding port \(port) to pod \(Self.uid), uid : failed to connect to localhost:\(port) inside namespace "
          + "\"\(Self.uid)\", IPv4: dial tcp4 127.0.0.1:\(port): connect: connection refused"
        #expect(try await client.nextFrame() == .data(SPDYDataFrame(streamID: 1, payload: ArraySlice(expected.utf8))))
        #expect(try await client.nextFrame() == .rstStream(SPDYRstStream(streamID: 1, status: .cancel)))
        #expect(try await client.nextFrame() == .rstStream(SPDYRstStream(streamID: 3, status: .cancel)))
      }
    }
  }

  @Test func podsWithoutANamespaceAndGoneNamespacesFailLikeTheRuntime() async throws {
    let pods = FixedPods([
      KubeletPod(namespace: "default", name: "p", uid: Self.uid),
      KubeletPod(namespace: "default", name: "gone", uid: "u-gone", netnsPath: "/run/netns/kft-kt-never-made"),
    ])
    try await KubeletHarness.with(pods: pods, dialer: NetnsPodPortDialer()) { kubelet in
      for (name, uid, reason) in [
        ("p", Self.uid, "failed to find sandbox \"\(Self.uid)\" in store: not found"),
        ("gone", "u-gone", "network namespace for sandbox \"u-gone\" is closed"),
      ] {
        let client = try await kubelet.upgradedClient(pod: name)
        defer { client.close() }
        try client.openStreamPair(port: "80", finishingTheErrorStream: false)
        #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 1)))
        #expect(try await client.nextFrame() == .synReply(SPDYSynReply(streamID: 3)))
        let expected = "error forwarding port 80 to pod \(uid), uid : \(reason)"
        #expect(try await client.nextFrame() == .data(SPDYDataFrame(streamID: 1, payload: ArraySlice(expected.utf8))))
      }
    }
  }
}

/// A fixed set of pods.
struct FixedPods: KubeletPodDirectory {
  let pods: [KubeletPod]
  init(_ pods: [KubeletPod]) { self.pods = pods }
  func pod(namespace: String, name: String) -> KubeletPod? {
    pods.first { $0.namespace == namespace && $0.name == name }
  }
}

/// Whether something accepts TCP on the host's 127.0.0.1:port (loopback only).
func hostLoopbackAccepts(_ port: Int) -> Bool {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  address.sin_port = UInt16(port).bigEndian
  return withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
  }
}

/// A network namespace made for one test (`kft-kt-<random>`, loopback up), removed afterwards. It has
/// no other interface, so nothing in it can reach anything outside.
struct ThrowawayNetns {
  let name: String
  var path: String { "/run/netns/\(name)" }

  static func with(_ body: (ThrowawayNetns) async throws -> Void) async throws {
    let name = "kft-kt-\(UInt32.random(in: 0...UInt32.max))"
    let netns = ThrowawayNetns(name: name)
    try netns.ip(["netns", "add", name])
    do {
      try netns.ip(["netns", "exec", name, "ip", "link", "set", "lo", "up"])
      try await body(netns)
    } catch {
      try? netns.ip(["netns", "del", name])
      throw error
    }
    try netns.ip(["netns", "del", name])
  }

  func ip(_ arguments: [String]) throws {
    let process = try SpawnedProcess("/usr/sbin/ip", arguments, environment: [:])
    defer { process.stop() }
    let code = process.waitUntilExit()
    guard code == 0 else { throw TestFailure("ip \(arguments.joined(separator: " ")) exited \(code): \(process.output)") }
  }

  /// Runs a command inside the namespace, in the background.
  func run(_ command: [String]) throws -> SpawnedProcess {
    try SpawnedProcess("/usr/sbin/ip", ["netns", "exec", name] + command, environment: [:])
  }

  /// A port nothing listens on, neither on the host's loopback nor in the namespace.
  func unusedPort() throws -> Int {
    for _ in 0..<50 {
      let port = Int.random(in: 20000...60000)
      if !hostLoopbackAccepts(port) { return port }
    }
    throw TestFailure("no unused port")
  }

  /// Waits until `ss` inside the namespace shows a TCP listener on `port`.
  /// Generous: at the start of the full suite every suite builds its sandbox at once, and spawning
  /// `ss` in a loop is slow then.
  func waitForListener(port: Int, seconds: Double = 30) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      let process = try SpawnedProcess("/usr/sbin/ip", ["netns", "exec", name, "ss", "-Hltn"], environment: [:])
      _ = process.waitUntilExit()
      let output = process.output
      process.stop()
      if output.contains(":\(port) ") { return }
      try await Task.sleep(nanoseconds: 50_000_000)
    }
    throw TestFailure("nothing listens on port \(port) inside \(name)")
  }
}
