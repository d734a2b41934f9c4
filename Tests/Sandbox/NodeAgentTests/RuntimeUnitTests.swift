import Foundation
import KubeClient
import Testing

@testable import NodeAgent

@Suite("Node agent: runtime pieces")
struct RuntimeUnitTests {
  @Test(
    "image references are normalised like Docker's",
    arguments: [
      ("busybox", "docker.io/library/busybox:latest"), ("busybox:1.36", "docker.io/library/busybox:1.36"),
      ("docker.io/library/busybox:1.36", "docker.io/library/busybox:1.36"),
      ("kftray-sandbox/testserver:v1", "docker.io/kftray-sandbox/testserver:v1"),
      ("ghcr.io/hcavarsan/kftray-server:v0.15.0", "ghcr.io/hcavarsan/kftray-server:v0.15.0"),
      ("localhost:5000/x", "localhost:5000/x:latest"),
    ])
  func normalise(input: String, expected: String) {
    #expect(ImageCatalog.normalise(input) == expected)
  }

  @Test("the catalog maps images to programs; anything else fails to pull with containerd's wording")
  func catalog() throws {
    let catalog = ImageCatalog(binDirectory: "/bin-dir")
    guard case .busybox(let path, let applets) = try catalog.resolve("busybox:1.36").program else {
      Issue.record("busybox is not run as busybox")
      return
    }
    #expect(path == "/usr/bin/busybox")
    #expect(applets?.contains("sh") == true && applets?.contains("sleep") == true && applets?.contains("bash") == false)
    #expect(try catalog.resolve("ghcr.io/hcavarsan/kftray-server:v0.15.0").program == .fixed("/bin-dir/kftray-relay"))
    #expect(try catalog.resolve("kftray-sandbox/testserver:latest").program == .fixed("/bin-dir/kftray-testserver"))
    #expect(throws: ImageCatalog.PullError(reference: "docker.io/library/nginx:latest")) { try catalog.resolve("nginx") }
    #expect(
      ImageCatalog.PullError(reference: "docker.io/library/nginx:latest").message
        == "rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/library/nginx:latest\": failed to resolve reference \"docker.io/library/nginx:latest\": docker.io/library/nginx:latest: not found")
  }

  @Test("$(VAR) expansion as the kubelet does it")
  func expansion() {
    let values = ["A": "1", "B": "two"]
    #expect(Environment.expand("$(A)-$(B)", values) == "1-two")
    #expect(Environment.expand("$$(A)", values) == "$(A)")
    #expect(Environment.expand("$(MISSING)", values) == "$(MISSING)")
    #expect(Environment.expand("cost: $5 $", values) == "cost: $5 $")
    #expect(Environment.expand("$(A", values) == "$(A")
    let env = Environment.resolve([EnvVar(name: "X", value: "$(HOSTNAME)!"), EnvVar(name: "PATH", value: "/p")], podName: "pod", user: 0)
    #expect(env.contains("X=pod!"))
    #expect(env.contains("PATH=/p"))
    #expect(!env.contains { $0.hasPrefix("PATH=/usr") })
  }

  @Test("back-off: 10 s doubling to 5 min, printed as Go durations")
  func backoff() {
    var backoff = Backoff()
    let delays = (0..<7).map { _ in backoff.next() }
    #expect(delays == [10, 20, 40, 80, 160, 300, 300])
    #expect(delays.map(Backoff.goDuration) == ["10s", "20s", "40s", "1m20s", "2m40s", "5m0s", "5m0s"])
  }

  @Test("the launch command: ip netns exec, setpriv with user and bounding set, busybox applet")
  func launch() throws {
    var container = Container(name: "c", image: "busybox")
    container.command = ["/bin/sh", "-c"]
    container.args = ["echo $(X)"]
    container.env = [EnvVar(name: "X", value: "y")]
    var context = SecurityContext()
    context.runAsUser = 1000
    context.capabilities = Capabilities(add: ["NET_BIND_SERVICE"], drop: ["ALL"])
    container.securityContext = context
    var pod = Pod(metadata: ObjectMeta(name: "p", namespace: "ns"), spec: PodSpec(containers: [container]))
    pod.metadata.uid = "u"
    let image = try ImageCatalog(binDirectory: "/b").resolve("busybox")
    let launch = try ContainerLaunch.make(pod: pod, container: container, image: image, netnsName: "kft-x-p1")
    #expect(launch.executable == "/usr/sbin/ip")
    #expect(
      launch.arguments == [
        "netns", "exec", "kft-x-p1", "/usr/bin/setpriv", "--reuid=1000", "--regid=0", "--clear-groups",
        "--inh-caps=-all", "--bounding-set=-all,+net_bind_service", "/usr/bin/busybox", "sh", "-c", "echo y",
      ])
    #expect(launch.environment.contains("HOME=/"))

    var root = container
    root.securityContext = nil
    let rootLaunch = try ContainerLaunch.make(pod: pod, container: root, image: image, netnsName: "n")
    let bounding = try #require(rootLaunch.arguments.first { $0.hasPrefix("--bounding-set=") })
    #expect(bounding.contains("+net_bind_service") && bounding.contains("+chown") && !bounding.contains("sys_admin"))
  }

  @Test("CRI log records: full lines, partial records for long lines, the rest at EOF as a full line")
  func logRecords() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cri-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let file = try CRILogFile(path: directory + "/0.log")
    var fds: [Int32] = [0, 0]
    #expect(pipe(&fds) == 0)
    let long = String(repeating: "x", count: CRILogFile.maxLineBytes + 5)
    let input = Array("one\ntwo\n\(long)\ntail".utf8)
    _ = input.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
    close(fds[1])
    LogStreamReader(descriptor: fds[0], stream: "stderr", file: file).run()
    let lines = try String(contentsOfFile: directory + "/0.log", encoding: .utf8).split(separator: "\n").map { line in
      line.split(separator: " ", maxSplits: 1).last.map(String.init) ?? ""
    }
    // Compared by prefix and length: a failure must not print 16 KiB lines.
    #expect(lines.map { String($0.prefix(12)) } == ["stderr F one", "stderr F two", "stderr P xxx", "stderr F xxx", "stderr F tai"])
    #expect(lines.map(\.count) == [12, 12, 9 + CRILogFile.maxLineBytes, 14, 13])
  }

  @Test("timestamps: RFC 3339 with Go's trimmed nanoseconds")
  func timestamps() {
    #expect(Timestamps.rfc3339(seconds: 0, nanoseconds: 120_000_000) == "1970-01-01T00:00:00.12Z")
    #expect(Timestamps.rfc3339(seconds: 86_401, nanoseconds: 0) == "1970-01-02T00:00:01Z")
    #expect(Timestamps.rfc3339(seconds: 1, nanoseconds: 5) == "1970-01-01T00:00:01.000000005Z")
  }

  @Test("phases follow the kubelet's getPhase")
  func phases() {
    let builder = PodStatusBuilder(restartPolicy: "Never", hostIP: "127.0.0.1")
    func view(_ state: ContainerState, last: ContainerState? = nil, finished: Bool = false) -> ContainerView {
      ContainerView(name: "c", image: "i", state: state, lastState: last, restartCount: 0, finished: finished)
    }
    let waiting = ContainerState(waiting: .init(reason: "ContainerCreating"))
    let running = ContainerState(running: .init(startedAt: "t"))
    let ok = ContainerState(terminated: .init(exitCode: 0, reason: "Completed"))
    let bad = ContainerState(terminated: .init(exitCode: 2, reason: "Error"))
    #expect(builder.phase([view(waiting)]) == "Pending")
    #expect(builder.phase([view(running), view(waiting)]) == "Pending")
    #expect(builder.phase([view(running), view(ok, finished: true)]) == "Running")
    #expect(builder.phase([view(ok, finished: true)]) == "Succeeded")
    #expect(builder.phase([view(ok, finished: true), view(bad, finished: true)]) == "Failed")
    #expect(builder.phase([view(ContainerState(waiting: .init(reason: "CrashLoopBackOff")), last: bad)]) == "Running")
    var failed = builder
    failed.failure = ("DeadlineExceeded", "m")
    #expect(failed.phase([view(running)]) == "Failed")
  }
}
