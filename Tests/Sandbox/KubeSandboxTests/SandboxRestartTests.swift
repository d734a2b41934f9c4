import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `kftray-sandbox restart`: the API server saves its objects on SIGTERM and the new one takes them
/// up on the same port, as a kube-apiserver restarted over the same etcd. Through the built binary
/// and real kubectl; the API server alone (`--api-only`), so no root is needed.
@Suite("kftray-sandbox restart", .serialized)
struct SandboxRestartTests {
  struct Sandbox {
    let directory: String
    let home: String
    var kubeconfig: String { directory + "/kubeconfig" }

    func kubectl(_ arguments: [String]) throws -> Binaries.Result {
      try Binaries.run(SandboxFixture.kubectlPath, arguments, environment: ProcessRunner.environment(["KUBECONFIG": kubeconfig, "HOME": home]))
    }

    func sandbox(_ arguments: [String]) throws -> Binaries.Result {
      try Binaries.run(Binaries.path("kftray-sandbox"), arguments + ["--dir", directory])
    }

    func server() throws -> String { try SplitSandbox.serverURL(kubeconfig: kubeconfig) }

    func resourceVersion(_ pod: String) throws -> UInt64 {
      let r = try kubectl(["get", "pod", pod, "-n", "restart", "-o", "jsonpath={.metadata.resourceVersion}"])
      guard let version = UInt64(r.stdout) else { throw TestFailure("no resourceVersion for \(pod): \(r.stdout)\(r.stderr)") }
      return version
    }

    /// The events of a watch of namespace `restart`'s pods from `since`, for a second.
    func watch(since: UInt64) throws -> String {
      try kubectl(["get", "--raw", "/api/v1/namespaces/restart/pods?watch=1&resourceVersion=\(since)&timeoutSeconds=1"]).stdout
    }
  }

  static func start(watchHistory: Int) throws -> Sandbox {
    let base = try Teardown.temporaryDirectory("kftray-restart")
    let sandbox = Sandbox(directory: base + "/sandbox", home: base + "/home")
    try FileManager.default.createDirectory(atPath: sandbox.home, withIntermediateDirectories: true)
    Teardown.register(sandbox.directory)
    let up = try sandbox.sandbox(["up", "--api-only", "--watch-history", String(watchHistory), "--owner-pid", String(getpid())])
    guard up.status == 0 else { throw TestFailure("up failed: \(up.stderr)") }
    return sandbox
  }

  @Test("objects, uids and resourceVersions survive on the same port; a watch resumes across it; too old gets 410")
  func objectsSurvive() async throws {
    let sandbox = try Self.start(watchHistory: 20)
    #expect(try sandbox.kubectl(["create", "namespace", "restart"]).status == 0)
    let run = try sandbox.kubectl(["run", "keep", "-n", "restart", "--image=busybox", "--restart=Never", "--", "sleep", "1"])
    #expect(run.status == 0, "\(run.stderr)")
    // Enough writes that the history (20 events) no longer reaches the seeded objects.
    for i in 0..<12 { #expect(try sandbox.kubectl(["label", "pod", "keep", "-n", "restart", "step=\(i)", "--overwrite"]).status == 0) }
    let uid = try sandbox.kubectl(["get", "pod", "keep", "-n", "restart", "-o", "jsonpath={.metadata.uid}"]).stdout
    let before = try sandbox.resourceVersion("keep")
    let server = try sandbox.server()
    let oldPID = try String(contentsOfFile: sandbox.directory + "/apiserver.pid", encoding: .utf8)

    let restart = try sandbox.sandbox(["restart"])
    #expect(restart.status == 0, "\(restart.stderr)")
    #expect(restart.stdout == "restarted the API server on \(server)\n", "\(restart.stdout)")
    #expect(try sandbox.server() == server, "the same port")
    #expect(try String(contentsOfFile: sandbox.directory + "/apiserver.pid", encoding: .utf8) != oldPID)
    let log = try String(contentsOfFile: sandbox.directory + "/apiserver.log", encoding: .utf8)
    #expect(log.contains("kftray-sandbox: saved "), "\(log.suffix(2000))")
    // Taken up once: a later crash must not bring back this state.
    #expect(!FileManager.default.fileExists(atPath: sandbox.directory + "/store.json"))

    #expect(try sandbox.kubectl(["get", "pod", "keep", "-n", "restart", "-o", "jsonpath={.metadata.uid}"]).stdout == uid)
    #expect(try sandbox.resourceVersion("keep") == before)
    #expect(try sandbox.kubectl(["get", "namespace", "restart"]).status == 0)
    // The counter goes on: a write after the restart is newer than everything before it, and a
    // watch from before the restart gets exactly that change.
    #expect(try sandbox.kubectl(["label", "pod", "keep", "-n", "restart", "after=restart"]).status == 0)
    let after = try sandbox.resourceVersion("keep")
    #expect(after > before)
    let events = try sandbox.watch(since: before)
    #expect(events.contains(#""type":"MODIFIED""#) && events.contains(#""resourceVersion":"\#(after)""#), "\(events)")
    #expect(!events.contains(#""resourceVersion":"\#(before)""#), "nothing from before `since`: \(events)")
    let expired = try sandbox.watch(since: 1)
    #expect(expired.contains("too old resource version: 1"), "\(expired)")

    let down = try sandbox.sandbox(["down"])
    #expect(down.status == 0)
    #expect(!FileManager.default.fileExists(atPath: sandbox.directory + "/store.json"))
  }

  @Test("a store left by a stopped server is not taken up by `up`: a new sandbox starts from the seed")
  func upStartsFresh() async throws {
    let sandbox = try Self.start(watchHistory: 1000)
    #expect(try sandbox.kubectl(["create", "namespace", "restart"]).status == 0)
    let pid = try #require(pid_t(try String(contentsOfFile: sandbox.directory + "/apiserver.pid", encoding: .utf8)
      .trimmingCharacters(in: .whitespacesAndNewlines)))
    kill(pid, SIGTERM)
    let deadline = ContinuousClock.now + .seconds(10)
    while kill(pid, 0) == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
    #expect(FileManager.default.fileExists(atPath: sandbox.directory + "/store.json"), "SIGTERM saves the store")
    let up = try sandbox.sandbox(["up", "--api-only", "--owner-pid", String(getpid())])
    #expect(up.status == 0, "\(up.stderr)")
    #expect(try sandbox.kubectl(["get", "namespace", "restart"]).status != 0, "the stale store was not loaded")
    #expect(try sandbox.kubectl(["get", "namespace", "dev"]).status == 0)
    #expect(try sandbox.sandbox(["down"]).status == 0)
  }

  @Test("restart without a running sandbox says how to start one")
  func restartWithoutSandbox() throws {
    let directory = try Teardown.temporaryDirectory("kftray-restart-none")
    let r = try Binaries.run(Binaries.path("kftray-sandbox"), ["restart", "--dir", directory])
    #expect(r.status == 1)
    #expect(r.stderr.contains("no sandbox is running in \(directory)") && r.stderr.contains("kftray-sandbox up"), "\(r.stderr)")
  }
}
