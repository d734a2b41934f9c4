import Foundation
import Testing

@testable import KubeSandbox

#if canImport(Glibc)
  import Glibc
#endif

/// `kftray-sandbox up`/`down` through the built binary.
@Suite("kftray-sandbox command line")
struct CLITests {
  /// The binary SwiftPM built next to the test bundle.
  static func binary() throws -> String {
    let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
    // The test runner may live inside the .xctest bundle directory.
    if directory.lastPathComponent.hasSuffix(".xctest") { directory.deleteLastPathComponent() }
    let candidate = directory.appendingPathComponent("kftray-sandbox").path
    #expect(FileManager.default.isExecutableFile(atPath: candidate), "build the kftray-sandbox product first")
    return candidate
  }

  @Test func upThenDownLeavesNothingBehind() async throws {
    let binary = try Self.binary()
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("kftray-cli-\(UUID().uuidString)")
    let directory = base.appendingPathComponent("sandbox")
    let home = base.appendingPathComponent("home")
    try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
    defer {
      _ = try? ProcessRunner.run(binary, ["down", "--dir", directory.path])
      try? FileManager.default.removeItem(at: base)
    }

    let up = try ProcessRunner.run(binary, ["up", "--api-only", "--dir", directory.path])
    #expect(up.status == 0, "\(up.stderr)")
    let kubeconfig = directory.appendingPathComponent("kubeconfig").path
    #expect(up.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == kubeconfig)
    let pidText = try String(contentsOfFile: directory.appendingPathComponent("apiserver.pid").path, encoding: .utf8)
    let pid = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
    #expect(Daemon.isAlive(pid))

    let environment = ["KUBECONFIG": kubeconfig, "HOME": home.path]
    let version = try ProcessRunner.run(SandboxFixture.kubectlPath, ["version"], environment: environment)
    #expect(version.stdout.contains("Server Version: v1.32.0-kftray-sandbox"), "\(version.stderr)")
    let contexts = try ProcessRunner.run(
      SandboxFixture.kubectlPath, ["config", "get-contexts", "-o", "name"], environment: environment)
    #expect(Set(contexts.stdout.split(separator: "\n").map(String.init))
      == ["sandbox-admin", "sandbox-dev", "sandbox-readonly"])
    let devNamespace = try ProcessRunner.run(
      SandboxFixture.kubectlPath, ["config", "view", "--minify", "--context", "sandbox-dev", "-o", "jsonpath={.contexts[0].context.namespace}"],
      environment: environment)
    #expect(devNamespace.stdout == "dev")
    for name in [
      "ca.crt", "apiserver.crt", "admin.crt", "admin.key", "kubelet-client.crt", "kubelet-client.key", "node.crt",
      "node.key", "node.kubeconfig", "tokens.csv",
    ] {
      #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path), "\(name)")
    }

    let second = try ProcessRunner.run(binary, ["up", "--api-only", "--dir", directory.path])
    #expect(second.status != 0)
    #expect(second.stderr.contains("already running"))

    let down = try ProcessRunner.run(binary, ["down", "--dir", directory.path])
    #expect(down.status == 0, "\(down.stderr)")
    #expect(!Daemon.isAlive(pid))
    #expect(!FileManager.default.fileExists(atPath: directory.path))

    let again = try ProcessRunner.run(binary, ["down", "--dir", directory.path])
    #expect(again.status == 0)
  }

  @Test func downAfterACrashCleansUp() async throws {
    let binary = try Self.binary()
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kftray-cli-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let up = try ProcessRunner.run(binary, ["up", "--api-only", "--dir", directory.path])
    #expect(up.status == 0, "\(up.stderr)")
    let pidText = try String(contentsOfFile: directory.appendingPathComponent("apiserver.pid").path, encoding: .utf8)
    let pid = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
    kill(pid, SIGKILL)
    #expect(try await eventually { !Daemon.isAlive(pid) })
    let down = try ProcessRunner.run(binary, ["down", "--dir", directory.path])
    #expect(down.status == 0)
    #expect(!FileManager.default.fileExists(atPath: directory.path))
    // A fresh `up` works in the same directory afterwards.
    let upAgain = try ProcessRunner.run(binary, ["up", "--api-only", "--dir", directory.path])
    #expect(upAgain.status == 0, "\(upAgain.stderr)")
    #expect(try ProcessRunner.run(binary, ["down", "--dir", directory.path]).status == 0)
  }
}
