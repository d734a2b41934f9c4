import ChildProcess
import Foundation
import KubeClient
import Synchronization

/// A real sandbox cluster (the built `kftray-sandbox` binary, real TLS on loopback) shared by the
/// tests of one process. Started on first use; `down` runs when the test process exits.
public actor SandboxCluster {
  public static let shared = SandboxCluster()

  public struct Running: Sendable {
    public var directory: String
    public var kubeconfig: String

    public init(directory: String, kubeconfig: String) {
      self.directory = directory
      self.kubeconfig = kubeconfig
    }
    /// kube-apiserver's --token-auth-file format: token,user,uid,"groups".
    public func token(for user: String) throws -> String {
      let csv = try String(contentsOfFile: directory + "/tokens.csv", encoding: .utf8)
      for line in csv.split(separator: "\n") {
        let fields = line.split(separator: ",", omittingEmptySubsequences: false)
        if fields.count >= 2, fields[1] == user { return String(fields[0]) }
      }
      throw SandboxError("no token for \(user) in tokens.csv")
    }
  }

  private var running: Running?

  public func start() async throws -> Running {
    if let running { return running }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kftray-test-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    // --owner-pid: if this test process is killed before its teardown runs, the sandbox goes too.
    let result = try Binaries.run(Binaries.path("kftray-sandbox"), ["up", "--dir", dir, "--owner-pid", String(getpid())])
    guard result.status == 0 else {
      throw SandboxError("kftray-sandbox up failed (\(result.status)): \(result.stderr)\(result.stdout)")
    }
    Teardown.register(dir)
    let r = Running(directory: dir, kubeconfig: dir + "/kubeconfig")
    running = r
    return r
  }

  /// A client for one of the sandbox's contexts, configured exactly as the plugin would be.
  public func client(context: String, overrides: ConfigOverrides = ConfigOverrides()) async throws -> KubeAPI {
    let running = try await start()
    var o = overrides
    o.kubeconfig = running.kubeconfig
    o.context = context
    let loader = KubeconfigLoader(environment: ["HOME": running.directory])
    let config = try loader.load(o)
    return KubeAPI(config: config, credentials: KubeCredentials(config: config))
  }
}


/// Stops every sandbox this process started and removes its scratch directories, when it exits
/// (also after a failed test).
public enum Teardown {
  private static let sandboxes = Mutex<[String]>([])
  private static let scratch = Mutex<[String]>([])
  private static let installed: Void = {
    atexit {
      for dir in Teardown.sandboxes.withLock({ $0 }) {
        _ = try? Binaries.run(Binaries.path("kftray-sandbox"), ["down", "--dir", dir])
        try? FileManager.default.removeItem(atPath: dir)
      }
      for path in Teardown.scratch.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
    }
  }()

  public static func register(_ dir: String) {
    _ = installed
    sandboxes.withLock { $0.append(dir) }
  }

  /// A new directory under the system's temporary directory, removed when the process exits.
  public static func temporaryDirectory(_ prefix: String) throws -> String {
    _ = installed
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    scratch.withLock { $0.append(path) }
    return path
  }
}

/// The binaries this package builds, found next to the test bundle or through KFTRAY_BIN_DIR.
public enum Binaries {
  public static var directory: String {
    if let dir = ProcessInfo.processInfo.environment["KFTRAY_BIN_DIR"], !dir.isEmpty { return dir }
    // swift test runs <bin>/<package>PackageTests.xctest: the executables sit beside it.
    return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
  }

  public static func path(_ name: String) -> String { directory + "/" + name }

  public struct Result: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
  }

  /// Runs a program to completion. posix_spawn and waitpid rather than Foundation.Process, whose
  /// exit detection was seen to hang inside the concurrent test runner on Linux. `input` is what the
  /// program reads on stdin (none: /dev/null); `workingDirectory` nil keeps ours.
  public static func run(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil, input: String? = nil,
    workingDirectory: String? = nil
  ) throws -> Result {
    // Files, not pipes: `kftray-sandbox up` leaves a daemon behind, and a daemon that inherited
    // a pipe (here or in a test running concurrently) would keep it open and a read would never end.
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kftray-run-\(UUID().uuidString)").path
    let outPath = scratch + ".out"
    let errPath = scratch + ".err"
    let inPath = scratch + ".in"
    defer {
      for path in [outPath, errPath, inPath] { try? FileManager.default.removeItem(atPath: path) }
    }
    if let input { try Data(input.utf8).write(to: URL(fileURLWithPath: inPath)) }
    let env = environment.map { $0.map { "\($0.key)=\($0.value)" } }
    let pid = try spawn(
      executable, arguments, environment: env, stdin: input == nil ? nil : inPath, stdout: outPath, stderr: errPath,
      workingDirectory: workingDirectory)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    let exited = (status & 0x7f) == 0
    let code = exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    let outData = (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data()
    let errData = (try? Data(contentsOf: URL(fileURLWithPath: errPath))) ?? Data()
    return Result(status: code, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
  }
}

extension Binaries {
  /// `run` on a thread of its own, for async tests: a blocking wait on Swift's small cooperative pool
  /// (one thread per core) can starve in-process work the program itself waits for, e.g. `kubectl
  /// delete` waiting for a node agent that runs in the test process.
  /// Runs blocking work (sockets, processes) on a thread of its own, off Swift's small cooperative pool.
  public static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
      Thread.detachNewThread { continuation.resume(with: Swift.Result { try body() }) }
    }
  }

  public static func runOffPool(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil
  ) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
      Thread.detachNewThread {
        continuation.resume(with: Swift.Result { try run(executable, arguments, environment: environment) })
      }
    }
  }
}

/// A helper program running for the duration of a test (a proxy, a server), stopped with SIGTERM.
public final class BackgroundProcess: Sendable {
  public let pid: pid_t
  public let logPath: String
  private let stopped = Mutex(false)

  /// Starts `executable` with stdout and stderr appended to `logPath`; `environment` nil passes ours on.
  public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, logPath: String) throws {
    let env = environment.map { $0.map { "\($0.key)=\($0.value)" } }
    let pid = try spawn(executable, arguments, environment: env, stdout: logPath, stderr: nil)
    self.pid = pid
    self.logPath = logPath
  }

  public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

  /// False once the process has exited (it is then reaped, and `stop` does nothing).
  public var isRunning: Bool {
    stopped.withLock { stopped in
      guard !stopped else { return false }
      var status: Int32 = 0
      if waitpid(pid, &status, WNOHANG) == pid { stopped = true }
      return !stopped
    }
  }

  /// Idempotent: a second call must not signal a pid the system may have reused.
  public func stop() {
    guard !stopped.withLock({ s in defer { s = true }; return s }) else { return }
    kill(pid, SIGTERM)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
  }

  deinit { stop() }
}



/// Starts a program with stdin from a file (nil: /dev/null) and output appended to files (stderr to
/// stdout's file when nil), with a clean signal state (see `ChildSpawn`).
public func spawn(
  _ executable: String, _ arguments: [String], environment: [String]?, stdin: String? = nil, stdout: String,
  stderr: String?, workingDirectory: String? = nil
) throws -> pid_t {
  var child = ChildSpawn(executable: executable, arguments: arguments, environment: environment, stdout: .file(stdout))
  if let stderr { child.stderr = .file(stderr) }
  child.stdin = stdin
  child.workingDirectory = workingDirectory
  do { return try child.start() } catch {
    throw SandboxError("cannot run \(executable): \(error.reason)")
  }
}
