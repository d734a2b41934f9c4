import Foundation
import TestSupport
import Testing

/// The built `kubectl-kftray`, run as a user runs it: directly and through kubectl's plugin discovery.
@Suite struct CLITests {
  static func plugin(_ arguments: [String], home: String, extraEnvironment: [String: String] = [:]) throws -> Binaries.Result {
    var env = ["HOME": home, "PATH": "\(Binaries.directory):/usr/local/bin:/usr/bin:/bin"]
    env.merge(extraEnvironment) { $1 }
    return try Binaries.run(Binaries.path("kubectl-kftray"), arguments, environment: env)
  }

  @Test func versionShowsClientAndServer() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let r = try Self.plugin(["version", "--kubeconfig", sandbox.kubeconfig, "--context", "sandbox-dev"], home: sandbox.directory)
    #expect(r.status == 0, "\(r.stderr)")
    let lines = r.stdout.split(separator: "\n").map(String.init)
    #expect(lines.first == "Client Version: v0.1.0")
    #expect(lines.count == 2 && lines[1].hasPrefix("Server Version: v1."), "\(r.stdout)")
  }

  @Test func versionThroughKubectlPluginDiscovery() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let kubectl = try #require(["/usr/bin/kubectl", "/usr/local/bin/kubectl"].first { FileManager.default.isExecutableFile(atPath: $0) })
    let r = try Binaries.run(
      kubectl, ["kftray", "version", "--context", "sandbox-readonly", "-o", "json"],
      environment: [
        "HOME": sandbox.directory, "KUBECONFIG": sandbox.kubeconfig,
        "PATH": "\(Binaries.directory):/usr/local/bin:/usr/bin:/bin",
      ])
    #expect(r.status == 0, "\(r.stderr)")
    let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
    let server = json?["serverVersion"] as? [String: Any]
    #expect((server?["gitVersion"] as? String)?.hasPrefix("v1.") == true, "\(r.stdout)")
  }

  @Test func clientVersionNeedsNoCluster() throws {
    let r = try Self.plugin(["version", "--client"], home: "/nonexistent")
    #expect(r.status == 0)
    #expect(r.stdout == "Client Version: v0.1.0\n")
  }

  @Test func usageErrorExits64() throws {
    let r = try Self.plugin(["version", "--no-such-flag"], home: "/nonexistent")
    #expect(r.status == 64)
    #expect(r.stderr.contains("Unknown option '--no-such-flag'"))
  }

  @Test func missingContextNamesTheFile() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let r = try Self.plugin(["version", "--kubeconfig", sandbox.kubeconfig, "--context", "nope"], home: sandbox.directory)
    #expect(r.status == 1)
    #expect(r.stderr.contains("nope"), "\(r.stderr)")
    #expect(r.stderr.contains(sandbox.kubeconfig), "the message names the file: \(r.stderr)")
  }

  @Test func rejectedTokenSaysWhatToDo() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let r = try Self.plugin(
      ["version", "--kubeconfig", sandbox.kubeconfig, "--context", "sandbox-readonly", "--token", "wrong"], home: sandbox.directory)
    #expect(r.status == 1)
    #expect(r.stderr.contains("did not accept your credentials"), "\(r.stderr)")
  }

  @Test func unreachableServerSaysWhatToDo() throws {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let r = try Self.plugin(["version", "--kubeconfig", "/dev/null", "--server", "https://127.0.0.1:1"], home: "/nonexistent")
    #expect(r.status == 1)
    #expect(r.stderr.contains("cannot reach the API server at https://127.0.0.1:1"), "\(r.stderr)")
  }

  @Test func flagsAloneWithAnEmptyKubeconfig() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let token = try sandbox.token(for: "sandbox-readonly")
    let server = try String(contentsOfFile: sandbox.kubeconfig, encoding: .utf8)
      .split(separator: "\n").first { $0.contains("server:") }!
      .split(separator: " ").last!
    let r = try Self.plugin(
      [
        "version", "--kubeconfig", "/dev/null", "--server", String(server), "--certificate-authority",
        sandbox.directory + "/ca.crt", "--token", token,
      ], home: "/nonexistent")
    #expect(r.status == 0, "\(r.stderr)")
  }

  @Test func completionBridgeSpeaksCobra() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let shim = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("completions/kubectl_complete-kftray").path
    let env = ["HOME": sandbox.directory, "PATH": "\(Binaries.directory):/usr/bin:/bin", "KUBECONFIG": sandbox.kubeconfig]
    let subcommands = try Binaries.run(shim, [""], environment: env)
    #expect(subcommands.stdout.split(separator: "\n").map { $0.split(separator: "\t").first ?? "" }
      == ["proxy", "doctor", "cleanup", "version", "completion", ":4"])
    let contexts = try Binaries.run(shim, ["version", "--context", "sandbox-"], environment: env)
    #expect(contexts.stdout == "sandbox-admin\nsandbox-dev\nsandbox-readonly\n:4\n")
    let files = try Binaries.run(shim, ["version", "--kubeconfig", ""], environment: env)
    #expect(files.stdout == ":0\n", "file names are left to the shell")
  }
}

/// The sandbox's own lifecycle guard, which every test run relies on to leave nothing behind.
@Suite struct SandboxOwnerTests {
  @Test func sandboxStopsWhenItsOwnerEnds() async throws {
    let dir = try Teardown.temporaryDirectory("kftray-owner")
    // The owner ends when the test says so, after `up` has read it: under load `up` can take longer
    // than any fixed lifetime, and an owner that is gone (or a zombie) by then proves nothing.
    let owner = try BackgroundProcess("/bin/sleep", ["600"], logPath: dir + "/sleep.log")
    let up = try Binaries.run(Binaries.path("kftray-sandbox"), ["up", "--dir", dir + "/sb", "--owner-pid", String(owner.pid)])
    try #require(up.status == 0, "\(up.stderr)")
    let pidText = try String(contentsOfFile: dir + "/sb/apiserver.pid", encoding: .utf8)
    let serverPID = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
    #expect(kill(serverPID, 0) == 0, "the sandbox runs while its owner does")
    owner.stop()  // SIGTERM and reaped: really gone, not a zombie
    let deadline = ContinuousClock.now + .seconds(30)
    while ContinuousClock.now < deadline, kill(serverPID, 0) == 0 {
      try await Task.sleep(for: .milliseconds(200))
    }
    let log = (try? String(contentsOfFile: dir + "/sb/apiserver.log", encoding: .utf8)) ?? ""
    #expect(kill(serverPID, 0) != 0, "the sandbox server outlived its owner (pid \(owner.pid)); its log:\n\(log.suffix(3000))")
    #expect(!FileManager.default.fileExists(atPath: dir + "/sb/kubeconfig"), "its files are removed")
    _ = try? Binaries.run(Binaries.path("kftray-sandbox"), ["down", "--dir", dir + "/sb"])
  }

  @Test func anOwnerThatIsNotRunningIsRefused() throws {
    let dir = try Teardown.temporaryDirectory("kftray-owner")
    // pid_max itself is never a pid: no process has it.
    let pidMax = try String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8)
      .trimmingCharacters(in: .whitespacesAndNewlines)
    let up = try Binaries.run(Binaries.path("kftray-sandbox"), ["up", "--api-only", "--dir", dir + "/sb", "--owner-pid", pidMax])
    #expect(up.status == 1)
    #expect(up.stderr.contains("the --owner-pid process \(pidMax) is not running"), "\(up.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir + "/sb/apiserver.pid"), "no server was started")
    #expect(!FileManager.default.fileExists(atPath: dir + "/sb/kubeconfig"))
  }
}
