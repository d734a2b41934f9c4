import Foundation
import NIOConcurrencyHelpers
import Testing

@testable import KubeSandbox
@testable import KubeletAPI

/// `GET /containerLogs/{ns}/{pod}/{container}` of the kubelet over real TLS, asked with real curl
/// holding the API server's kubelet client certificate, reading CRI log files the test writes.
@Suite("kubelet: container logs", .serialized)
struct KubeletContainerLogsTests {
  static let uid = "5f3e9d10-1111-4222-8333-444455556666"

  @Test func theLogIsTheContainersTextWithPartialRecordsJoined() async throws {
    try await LogKubelet.with { kubelet in
      try kubelet.write(
        """
        2026-11-26T23:59:01.123456789Z stdout F first line
        2026-11-26T23:59:01.2Z stderr F an error line
        2026-11-26T23:59:02.000000001Z stdout P partial 
        2026-11-26T23:59:02.000000002Z stdout P and more 
        2026-11-26T23:59:02.000000003Z stdout F and the end
        2026-11-26T23:59:03Z stdout F 
        2026-11-26T23:59:04.5Z stdout F last

        """)
      let answer = try kubelet.get("/containerLogs/default/p/c")
      #expect(answer.status == 200)
      #expect(answer.body == "first line\nan error line\npartial and more and the end\n\nlast\n")
    }
  }

  @Test func timestampsPrefixEachLineWithNineFractionDigits() async throws {
    try await LogKubelet.with { kubelet in
      try kubelet.write(
        """
        2026-11-26T23:59:01.123456789Z stdout F one
        2026-11-26T23:59:01.2Z stdout P two 
        2026-11-26T23:59:01.3Z stdout F halves
        2026-11-26T23:59:03Z stderr F three

        """)
      let answer = try kubelet.get("/containerLogs/default/p/c?timestamps=true")
      #expect(
        answer.body
          == "2026-11-26T23:59:01.123456789Z one\n2026-11-26T23:59:01.200000000Z two halves\n"
          + "2026-11-26T23:59:03.000000000Z three\n")
    }
  }

  @Test func tailLinesAndLimitBytes() async throws {
    try await LogKubelet.with { kubelet in
      try kubelet.write((1...50).map { "2026-11-26T23:59:\(String(format: "%02d", $0 % 60)).0Z stdout F line \($0)\n" }.joined())
      #expect(try kubelet.get("/containerLogs/default/p/c?tailLines=2").body == "line 49\nline 50\n")
      #expect(try kubelet.get("/containerLogs/default/p/c?tailLines=0").body == "")
      #expect(try kubelet.get("/containerLogs/default/p/c?tailLines=500").body.hasPrefix("line 1\nline 2\n"))
      #expect(try kubelet.get("/containerLogs/default/p/c?limitBytes=10").body == "line 1\nlin")
      #expect(try kubelet.get("/containerLogs/default/p/c?tailLines=1&timestamps=1&limitBytes=34").body == "2026-11-26T23:59:50.000000000Z lin")
      let invalid = try kubelet.get("/containerLogs/default/p/c?tailLines=-1")
      #expect(invalid.status == 422 && invalid.body == #"{"message": "Invalid request."}"#, "\(invalid)")
      let undecodable = try kubelet.get("/containerLogs/default/p/c?follow=perhaps")
      #expect(undecodable.status == 400 && undecodable.body == #"{"message": "Unable to decode query."}"#, "\(undecodable)")
    }
  }

  @Test func sinceTimeSkipsOlderRecords() async throws {
    try await LogKubelet.with { kubelet in
      try kubelet.write(
        """
        2026-11-26T23:59:01Z stdout F old
        2026-11-26T23:59:02.5Z stdout F new
        2026-11-27T00:00:00Z stdout F newer

        """)
      #expect(try kubelet.get("/containerLogs/default/p/c?sinceTime=2026-11-26T23%3A59%3A02Z").body == "new\nnewer\n")
    }
  }

  @Test func followSeesAppendedLinesAndEndsWhenTheContainerIsGone() async throws {
    try await LogKubelet.with { kubelet in
      try kubelet.write("2026-11-26T23:59:01Z stdout F before\n")
      let follower = try kubelet.follow("/containerLogs/default/p/c?follow=true")
      defer { follower.stop() }
      #expect(try await follower.waitForOutput("before\n"))
      try kubelet.append("2026-11-26T23:59:02Z stdout P appended \n")
      try kubelet.append("2026-11-26T23:59:03Z stdout F while following\n")
      #expect(try await follower.waitForOutput("before\nappended while following\n"), "\(follower.output)")
      #expect(follower.exitCode == nil, "the stream ended while the container still writes")
      // The container restarts into a new file: this stream is over (what was written is still read).
      try kubelet.append("2026-11-26T23:59:04Z stdout F the last words\n")
      kubelet.pods.set(KubeletPod(namespace: "default", name: "p", uid: KubeletContainerLogsTests.uid, containerLogPaths: ["c": kubelet.logPath + ".next"]))
      let code = try await follower.waitForExit(seconds: 20)
      #expect(code == 0, "\(follower.output)")
      #expect(follower.output == "before\nappended while following\nthe last words\n")
    }
  }

  @Test func followEndsWhenThePodIsGoneAndWhenTheClientGoes() async throws {
    try await LogKubelet.with { kubelet in
      try kubelet.write("2026-11-26T23:59:01Z stdout F hello\n")
      let client = try kubelet.follow("/containerLogs/default/p/c?follow=true")
      #expect(try await client.waitForOutput("hello\n"))
      client.stop()  // the client goes: the kubelet's reader must notice and stop (no leak to see here)
      let follower = try kubelet.follow("/containerLogs/default/p/c?follow=true")
      defer { follower.stop() }
      #expect(try await follower.waitForOutput("hello\n"))
      kubelet.pods.set()
      #expect(try await follower.waitForExit(seconds: 20) == 0, "\(follower.output)")
    }
  }

  @Test func unknownPodsAndContainersWaitingContainersAndMissingPreviousLogs() async throws {
    try await LogKubelet.with { kubelet in
      try kubelet.write("2026-11-26T23:59:01Z stdout F hi\n")
      kubelet.pods.set(
        KubeletPod(
          namespace: "default", name: "p", uid: KubeletContainerLogsTests.uid, containerLogPaths: ["c": kubelet.logPath],
          waitingReasons: ["w": "ContainerCreating", "img": "ImagePullBackOff"]))
      let noPod = try kubelet.get("/containerLogs/default/nope/c")
      #expect(noPod.status == 404 && noPod.body == #"pod "nope" does not exist"#, "\(noPod)")
      let noContainer = try kubelet.get("/containerLogs/default/p/nope")
      #expect(noContainer.status == 404 && noContainer.body == #"container "nope" not found in pod "p""#, "\(noContainer)")
      let waiting = try kubelet.get("/containerLogs/default/p/w")
      #expect(waiting.status == 400 && waiting.body == #"container "w" in pod "p" is waiting to start: ContainerCreating"#)
      let pulling = try kubelet.get("/containerLogs/default/p/img")
      #expect(
        pulling.status == 400 && pulling.body == #"container "img" in pod "p" is waiting to start: trying and failing to pull image"#)
      let previous = try kubelet.get("/containerLogs/default/p/c?previous=true")
      #expect(previous.status == 400 && previous.body == #"previous terminated container "c" in pod "p" not found"#)
    }
  }

  @Test func previousReadsTheFileOfTheLastRestart() async throws {
    try await LogKubelet.with { kubelet in
      try kubelet.write("2026-11-26T23:59:01Z stdout F before the crash\n")
      let current = kubelet.directory.appendingPathComponent("1.log").path
      try "2026-11-26T23:59:05Z stdout F after the restart\n".write(toFile: current, atomically: true, encoding: .utf8)
      kubelet.pods.set(KubeletPod(namespace: "default", name: "p", uid: KubeletContainerLogsTests.uid, containerLogPaths: ["c": current]))
      #expect(try kubelet.get("/containerLogs/default/p/c").body == "after the restart\n")
      #expect(try kubelet.get("/containerLogs/default/p/c?previous=true").body == "before the crash\n")
    }
  }

  @Test func onlyTheAPIServersIdentityIsServed() async throws {
    try await LogKubelet.with { kubelet in
      try kubelet.write("2026-11-26T23:59:01Z stdout F secret\n")
      let admin = try kubelet.get("/containerLogs/default/p/c", asAdmin: true)
      #expect(admin.status == 403, "\(admin)")
      #expect(admin.body == "Forbidden (user=sandbox-admin, verb=get, resource=nodes, subresource=proxy)")
    }
  }
}

/// A pod directory the test changes while the kubelet runs.
final class MutablePods: KubeletPodDirectory {
  private let pods = NIOLockedValueBox<[KubeletPod]>([])
  func set(_ pods: KubeletPod...) { self.pods.withLockedValue { $0 = pods } }
  func pod(namespace: String, name: String) -> KubeletPod? {
    pods.withLockedValue { $0.first { $0.namespace == namespace && $0.name == name } }
  }
}

/// A kubelet (its own PKI) whose one pod `default/p` has container `c` logging to `<dir>/0.log`, and
/// curl as its clients.
struct LogKubelet {
  let harness: KubeletHarness
  let pods: MutablePods
  let directory: URL
  let certificates: URL
  var logPath: String { directory.appendingPathComponent("0.log").path }

  static func with(_ body: (LogKubelet) async throws -> Void) async throws {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("kftray-logs-\(UUID().uuidString)")
    let directory = base.appendingPathComponent("default_p_\(KubeletContainerLogsTests.uid)/c")
    let certificates = base.appendingPathComponent("certs")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(at: certificates, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: base) }
    let pods = MutablePods()
    pods.set(
      KubeletPod(
        namespace: "default", name: "p", uid: KubeletContainerLogsTests.uid,
        containerLogPaths: ["c": directory.appendingPathComponent("0.log").path]))
    try await KubeletHarness.with(pods: pods, logStateCheckInterval: .milliseconds(200)) { harness in
      let kubelet = LogKubelet(harness: harness, pods: pods, directory: directory, certificates: certificates)
      try kubelet.writeCertificates()
      try await body(kubelet)
    }
  }

  private func writeCertificates() throws {
    let pki = harness.pki
    for (name, text) in [
      ("ca.crt", pki.ca.certificatePEM), ("client.crt", pki.kubeletClient.certificatePEM),
      ("client.key", pki.kubeletClient.keyPEM), ("admin.crt", pki.admin.certificatePEM), ("admin.key", pki.admin.keyPEM),
    ] {
      try text.write(to: certificates.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }
  }

  func write(_ text: String) throws {
    try text.write(toFile: logPath, atomically: false, encoding: .utf8)
  }

  func append(_ text: String) throws {
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
    defer { try? handle.close() }
    try handle.seekToEnd()
    try handle.write(contentsOf: Data(text.utf8))
  }

  private func curlArguments(asAdmin: Bool) -> [String] {
    let identity = asAdmin ? "admin" : "client"
    return [
      "-sS", "--cacert", certificates.appendingPathComponent("ca.crt").path,
      "--cert", certificates.appendingPathComponent("\(identity).crt").path,
      "--key", certificates.appendingPathComponent("\(identity).key").path,
    ]
  }

  private func url(_ path: String) -> String { "https://localhost:\(harness.server.port)\(path)" }

  /// A whole answer: status and body.
  func get(_ path: String, asAdmin: Bool = false) throws -> (status: Int, body: String) {
    let process = try SpawnedProcess(
      "/usr/bin/curl", curlArguments(asAdmin: asAdmin) + ["-w", "\n%{http_code}", url(path)], environment: [:])
    defer { process.stop() }
    _ = process.waitUntilExit()
    var lines = process.output.split(separator: "\n", omittingEmptySubsequences: false)
    let status = Int(lines.popLast() ?? "") ?? -1
    return (status, lines.joined(separator: "\n"))
  }

  /// A streaming GET left running (`-N`: no buffering), its body in `output`.
  func follow(_ path: String) throws -> SpawnedProcess {
    try SpawnedProcess("/usr/bin/curl", curlArguments(asAdmin: false) + ["-N", url(path)], environment: [:])
  }
}

/// The CRI line parser and the time handling behind `timestamps`, `sinceTime` and `sinceSeconds`.
@Suite("kubelet: CRI log records")
struct CRILogRecordTests {
  @Test func recordsParseLikeTheKubelet() throws {
    let full = try CRILogRecord.parse(ArraySlice("2026-11-26T23:59:01.1Z stderr F a b  c\n".utf8))
    #expect(full == CRILogRecord(timestamp: "2026-11-26T23:59:01.1Z", stream: .stderr, partial: false, content: Array("a b  c\n".utf8)))
    let partial = try CRILogRecord.parse(ArraySlice("2026-11-26T23:59:01Z stdout P:x half".utf8))
    #expect(partial.partial && partial.content == Array("half".utf8))
    let empty = try CRILogRecord.parse(ArraySlice("2026-11-26T23:59:01Z stdout F".utf8))
    #expect(empty.content == [UInt8(ascii: "\n")])
    #expect(throws: CRILogRecord.ParseError.unexpectedStream("stdin")) {
      try CRILogRecord.parse(ArraySlice("2026-11-26T23:59:01Z stdin F x".utf8))
    }
    #expect(throws: CRILogRecord.ParseError.missingTimestamp) { try CRILogRecord.parse(ArraySlice("garbage".utf8)) }
  }

  @Test func timestampsAreInstantsAndPrintWithNineDigits() {
    #expect(LogTimestamp(rfc3339: "1970-01-01T00:00:00Z") == LogTimestamp(seconds: 0, nanoseconds: 0))
    #expect(LogTimestamp(rfc3339: "2026-11-26T23:59:01.5Z") == LogTimestamp(seconds: 1_795_737_541, nanoseconds: 500_000_000))
    #expect(LogTimestamp(rfc3339: "2026-11-27T01:59:01.5+02:00") == LogTimestamp(seconds: 1_795_737_541, nanoseconds: 500_000_000))
    #expect(LogTimestamp(rfc3339: "2026-11-26 23:59:01Z") == nil)
    #expect(LogTimestamp.fixedNano("2026-11-26T23:59:01Z") == "2026-11-26T23:59:01.000000000Z")
    #expect(LogTimestamp.fixedNano("2026-11-26T23:59:01.12Z") == "2026-11-26T23:59:01.120000000Z")
    #expect(LogTimestamp.fixedNano("2026-11-26T23:59:01.123456789Z") == "2026-11-26T23:59:01.123456789Z")
  }

  @Test func optionsDecodeAndValidateLikeTheKubelet() throws {
    let options = try ContainerLogOptions.decode(
      query: [("follow", "true"), ("tail", "3"), ("timestamps", "1"), ("sinceSeconds", "10")], now: 1000)
    #expect(options.follow && options.timestamps && options.tailLines == 3 && options.since == LogTimestamp(seconds: 990, nanoseconds: 0))
    #expect(try ContainerLogOptions.decode(query: [("tail", "all"), ("tailLines", "4")], now: 0).tailLines == nil)
    #expect(throws: ContainerLogOptions.Failure.invalid) {
      try ContainerLogOptions.decode(query: [("sinceSeconds", "1"), ("sinceTime", "2026-11-26T23:59:01Z")], now: 0)
    }
    #expect(throws: ContainerLogOptions.Failure.invalid) { try ContainerLogOptions.decode(query: [("limitBytes", "0")], now: 0) }
    #expect(throws: ContainerLogOptions.Failure.undecodable) { try ContainerLogOptions.decode(query: [("tailLines", "x")], now: 0) }
  }
}
