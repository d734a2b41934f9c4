import Foundation
import KubeSandbox
import Testing
import TestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The result of a child process.
typealias ProcessResult = Binaries.Result

/// Runs the programs these tests drive (kubectl, curl, kftray-sandbox) with a minimal environment,
/// through TestSupport's posix_spawn helpers (Foundation.Process was seen to hang in the concurrent
/// test runner).
enum ProcessRunner {
  /// PATH, LANG and TMPDIR of ours, with `extra` over them.
  static func environment(_ extra: [String: String]) -> [String: String] {
    ProcessInfo.processInfo.environment.filter { ["PATH", "LANG", "TMPDIR"].contains($0.key) }.merging(extra) { _, new in new }
  }

  /// Runs `executable` to completion with `environment` (merged over a minimal one); `input` is its stdin.
  static func run(
    _ executable: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil
  ) throws -> ProcessResult {
    try Binaries.run(executable, arguments, environment: Self.environment(environment), input: input)
  }
}

/// A sandbox running in-process on an ephemeral port with its own temporary directory and a private
/// `HOME` for kubectl (so discovery caches never leak between tests).
final class SandboxFixture: Sendable {
  let sandbox: RunningSandbox
  let directory: URL
  let home: URL

  static let kubectlPath = "/usr/bin/kubectl"
  static let curlPath = "/usr/bin/curl"

  private init(sandbox: RunningSandbox, directory: URL, home: URL) {
    self.sandbox = sandbox
    self.directory = directory
    self.home = home
  }

  static func start(watchHistory: Int = 1000, bookmarkInterval: Double = 60) async throws -> SandboxFixture {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("kftray-sandbox-test-\(UUID().uuidString)")
    let directory = base.appendingPathComponent("sandbox")
    let home = base.appendingPathComponent("home")
    try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
    var options = SandboxOptions(watchHistory: watchHistory)
    options.watchBookmarkInterval = bookmarkInterval
    let sandbox = try await SandboxServer.start(directory: directory, options: options)
    return SandboxFixture(sandbox: sandbox, directory: directory, home: home)
  }

  /// Runs `body` with a fresh sandbox and always shuts it down and removes its files.
  static func with<T: Sendable>(
    watchHistory: Int = 1000, bookmarkInterval: Double = 60, _ body: (SandboxFixture) async throws -> T
  ) async throws -> T {
    let fixture = try await start(watchHistory: watchHistory, bookmarkInterval: bookmarkInterval)
    do {
      let result = try await body(fixture)
      await fixture.stop()
      return result
    } catch {
      await fixture.stop()
      throw error
    }
  }

  func stop() async {
    await sandbox.shutdown()
    try? FileManager.default.removeItem(at: directory.deletingLastPathComponent())
  }

  var kubectlEnvironment: [String: String] {
    ["KUBECONFIG": sandbox.kubeconfigPath, "HOME": home.path]
  }

  @discardableResult
  func kubectl(_ arguments: String..., context: String? = nil, input: String? = nil) throws -> ProcessResult {
    var all = arguments
    if let context { all += ["--context", context] }
    return try ProcessRunner.run(Self.kubectlPath, all, environment: kubectlEnvironment, input: input)
  }

  enum Credentials {
    case admin
    case token(String)
    case none
  }

  /// A raw request with curl: returns the HTTP status, the negotiated HTTP version and the body.
  func curl(
    _ path: String, method: String = "GET", body: String? = nil, contentType: String = "application/json",
    credentials: Credentials = .admin, http1: Bool = false, extraArguments: [String] = []
  ) throws -> (status: Int, httpVersion: String, body: String) {
    var arguments = ["-sS", "--cacert", sandbox.files.caCertificate.path, "-X", method]
    arguments.append(http1 ? "--http1.1" : "--http2")
    switch credentials {
    case .admin: arguments += ["--cert", sandbox.files.adminCertificate.path, "--key", sandbox.files.adminKey.path]
    case .token(let token): arguments += ["-H", "Authorization: Bearer \(token)"]
    case .none: break
    }
    if let body { arguments += ["-H", "Content-Type: \(contentType)", "--data-binary", body] }
    arguments += extraArguments
    arguments += ["-w", "\n%{http_code} %{http_version}", sandbox.serverURL + path]
    let result = try ProcessRunner.run(Self.curlPath, arguments)
    var lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
    let trailer = lines.popLast().map(String.init) ?? ""
    let parts = trailer.split(separator: " ")
    return (
      Int(parts.first ?? "") ?? -1, parts.count > 1 ? String(parts[1]) : "", lines.joined(separator: "\n")
    )
  }

  func token(_ user: String) throws -> String {
    try #require(sandbox.token(for: user))
  }
}

func parseJSON(_ text: String) throws -> [String: Any] {
  let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
  return try #require(object as? [String: Any])
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: TimeInterval = 10, _ condition: () throws -> Bool) async throws -> Bool {
  let deadline = Date().addingTimeInterval(timeout)
  while Date() < deadline {
    if try condition() { return true }
    try await Task.sleep(nanoseconds: 50_000_000)
  }
  return try condition()
}

let podManifest = """
  apiVersion: v1
  kind: Pod
  metadata:
    name: x
    labels:
      app: demo
  spec:
    containers:
    - name: c
      image: busybox
      ports:
      - containerPort: 8080
  """

extension BackgroundProcess {
  /// A child left running (e.g. `kubectl get -w`) with the minimal environment plus `environment`,
  /// its stdout and stderr going to a scratch file (`log`).
  convenience init(_ executable: String, _ arguments: [String], environment: [String: String]) throws {
    let directory = try Teardown.temporaryDirectory("kftray-bg")
    try self.init(
      executable, arguments, environment: ProcessRunner.environment(environment), logPath: directory + "/output")
  }
}
