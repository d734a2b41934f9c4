import Foundation
import Testing
import TestSupport

@testable import KubeSandbox

/// `kubectl logs` against the sandbox: the API server proxies `pods/log` to the node's kubelet, which
/// reads the CRI log files the test writes (named by the sandbox-only log annotation that stands in
/// for the node agent, see `StorePodDirectory`).
@Suite("API server: pods/log through the kubelet, with real kubectl", .serialized)
struct PodLogProxyTests {
  @Test func kubectlLogsTailAndTimestamps() async throws {
    try await PortForwardCluster.with { cluster in
      let log = try LogPod.create(in: cluster, name: "talker", lines: [
        "2026-11-26T23:59:01.5Z stdout F one",
        "2026-11-26T23:59:02Z stderr P tw",
        "2026-11-26T23:59:02.1Z stderr F o",
        "2026-11-26T23:59:03.123Z stdout F three",
      ])
      let all = try cluster.kubectl(["logs", "talker"])
      #expect(all.code == 0 && all.output == "one\ntwo\nthree\n", "\(all.output)")
      let tail = try cluster.kubectl(["logs", "talker", "--tail=1"])
      #expect(tail.output == "three\n", "\(tail.output)")
      let stamped = try cluster.kubectl(["logs", "talker", "--timestamps", "-c", "c"])
      #expect(
        stamped.output
          == "2026-11-26T23:59:01.500000000Z one\n2026-11-26T23:59:02.000000000Z two\n2026-11-26T23:59:03.123000000Z three\n",
        "\(stamped.output)")
      _ = log
    }
  }

  @Test func kubectlLogsFollowStreamsAndEndsWithThePod() async throws {
    try await PortForwardCluster.with { cluster in
      let log = try LogPod.create(in: cluster, name: "streamer", lines: ["2026-11-26T23:59:01Z stdout F started"])
      let env = ["KUBECONFIG": cluster.sandbox.kubeconfigPath, "HOME": cluster.base.appendingPathComponent("home").path]
      let follower = try SpawnedProcess(PortForwardCluster.kubectlPath, ["logs", "-f", "streamer"], environment: env)
      defer { follower.stop() }
      #expect(try await follower.waitForOutput("started\n"), "\(follower.output)")
      try log.append("2026-11-26T23:59:02Z stdout F later")
      #expect(try await follower.waitForOutput("started\nlater\n"), "\(follower.output)")
      #expect(follower.exitCode == nil)
      let deleted = try cluster.kubectl(["delete", "pod", "streamer", "--grace-period=0", "--force", "--wait=false"])
      #expect(deleted.code == 0, "\(deleted.output)")
      // The kubelet ends the stream once the pod is gone (its state check runs every 5 s).
      #expect(try await follower.waitForExit(seconds: 30) == 0, "\(follower.output)")
      #expect(follower.output == "started\nlater\n")
    }
  }

  @Test func kubectlShowsTheKubeletsAndTheAPIServersRefusals() async throws {
    try await PortForwardCluster.with { cluster in
      _ = try LogPod.create(in: cluster, name: "pair", lines: ["2026-11-26T23:59:01Z stdout F hi"], extraContainer: "w")
      let waiting = try cluster.kubectl(["logs", "pair", "-c", "w"])
      #expect(waiting.code != 0)
      #expect(
        waiting.output.contains(#"Error from server (BadRequest): container "w" in pod "pair" is waiting to start: ContainerCreating"#),
        "\(waiting.output)")
      let unknown = try cluster.kubectl(["logs", "pair", "-c", "nope"])
      #expect(unknown.output.contains("container nope is not valid for pod pair"), "\(unknown.output)")
      let logs = try cluster.kubectl(["logs", "pair", "-c", "c"])
      #expect(logs.output == "hi\n", "\(logs.output)")
      // Without -c kubectl picks the first container itself (and says so); the API server would refuse.
      let raw = try cluster.kubectl(["get", "--raw", "/api/v1/namespaces/default/pods/pair/log"])
      #expect(raw.output.contains("a container name must be specified for pod pair, choose one of: [c w]"), "\(raw.output)")
    }
  }
}

/// A pod bound to the sandbox node whose container `c` logs to a CRI file the test writes.
struct LogPod {
  let path: String

  static func create(
    in cluster: PortForwardCluster, name: String, lines: [String], extraContainer: String? = nil
  ) throws -> LogPod {
    let directory = cluster.base.appendingPathComponent("logs/default_\(name)/c")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent("0.log").path
    try lines.map { $0 + "\n" }.joined().write(toFile: path, atomically: true, encoding: .utf8)
    let extra = extraContainer.map { "\n  - name: \($0)\n    image: busybox" } ?? ""
    let manifest = """
      apiVersion: v1
      kind: Pod
      metadata:
        name: \(name)
        annotations:
          \(StorePodDirectory.logAnnotationPrefix)c: \(path)
      spec:
        nodeName: \(NodeRegistration.defaultNodeName)
        containers:
        - name: c
          image: busybox\(extra)
      """
    let file = cluster.base.appendingPathComponent("\(name).yaml")
    try manifest.write(to: file, atomically: true, encoding: .utf8)
    let created = try cluster.kubectl(["create", "-f", file.path])
    guard created.code == 0 else { throw TestFailure("kubectl create: \(created.output)") }
    return LogPod(path: path)
  }

  func append(_ line: String) throws {
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seekToEnd()
    try handle.write(contentsOf: Data((line + "\n").utf8))
  }
}
