import Foundation
import KubeClient
import Synchronization

/// A real sandbox cluster (the built `kftray-sandbox` binary, real TLS on loopback) shared by the
/// tests of one process. Started on first use; `down` runs when the test process exits.
actor SandboxCluster {
  static let shared = SandboxCluster()

  struct Running: Sendable {
    var directory: String
    var kubeconfig: String
    /// kube-apiserver's --token-auth-file format: token,user,uid,"groups".
    func token(for user: String) throws -> String {
      let csv = try String(contentsOfFile: directory + "/tokens.csv", encoding: .utf8)
      for line in csv.split(separator: "\n") {
        let fields = line.split(separator: ",", omittingEmptySubsequences: false)
        if fields.count >= 2, fields[1] == user { return String(fields[0]) }
      }
      throw SandboxError("no token for \(user) in tokens.csv")
    }
  }

  private var running: Running?

  func start() async throws -> Running {
    if let running { return running }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kftray-test-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let result = try Binaries.run(Binaries.path("kftray-sandbox"), ["up", "--dir", dir])
    guard result.status == 0 else {
      throw SandboxError("kftray-sandbox up failed (\(result.status)): \(result.stderr)\(result.stdout)")
    }
    Teardown.register(dir)
    let r = Running(directory: dir, kubeconfig: dir + "/kubeconfig")
    running = r
    return r
  }

  /// A client for one of the sandbox's contexts, configured exactly as the plugin would be.
  func client(context: String, overrides: ConfigOverrides = ConfigOverrides()) async throws -> KubeAPI {
    let running = try await start()
    var o = overrides
    o.kubeconfig = running.kubeconfig
    o.context = context
    let loader = KubeconfigLoader(environment: ["HOME": running.directory])
    let config = try loader.load(o)
    return KubeAPI(config: config, credentials: KubeCredentials(config: config))
  }
}

struct SandboxError: Error, CustomStringConvertible {
  var description: String
  init(_ d: String) { description = d }
}

/// Stops every sandbox this process started, when it exits (also after a failed test).
enum Teardown {
  private static let directories = Mutex<[String]>([])
  private static let installed: Void = {
    atexit {
      for dir in Teardown.directories.withLock({ $0 }) {
        _ = try? Binaries.run(Binaries.path("kftray-sandbox"), ["down", "--dir", dir])
        try? FileManager.default.removeItem(atPath: dir)
      }
    }
  }()

  static func register(_ dir: String) {
    _ = installed
    directories.withLock { $0.append(dir) }
  }
}

/// The binaries this package builds, found next to the test bundle or through KFTRAY_BIN_DIR.
enum Binaries {
  static var directory: String {
    if let dir = ProcessInfo.processInfo.environment["KFTRAY_BIN_DIR"], !dir.isEmpty { return dir }
    // swift test runs <bin>/<package>PackageTests.xctest: the executables sit beside it.
    return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
  }

  static func path(_ name: String) -> String { directory + "/" + name }

  struct Result {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> Result {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Read both pipes before waiting, so a chatty child cannot fill a pipe and stall.
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Result(
      status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
      stderr: String(decoding: errData, as: UTF8.self))
  }
}
