import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Runs one exec credential plugin once, as client-go does: environment = process environment +
/// `exec.env` + `KUBERNETES_EXEC_INFO`; stdin only when interactive; stderr passed through; stdout
/// captured and decoded.
struct ExecPluginRunner: Sendable {
  var config: ExecConfig
  /// The plugin's inherited environment (also where PATH comes from).
  var environment: [String: String]
  var stdinIsTerminal: Bool
  /// Receives the plugin's stderr as it arrives (the user's terminal by default).
  var stderrSink: @Sendable (Data) -> Void

  static let stderrTailLimit = 4096

  func run() async throws(CredentialError) -> ExecCredentialResult {
    let interactive: Bool
    switch config.interactiveMode {
    case .never: interactive = false
    case .ifAvailable: interactive = stdinIsTerminal
    case .always:
      guard stdinIsTerminal else { throw .execNeedsTerminal(command: config.command) }
      interactive = true
    }
    guard let executable = resolveExecutable() else {
      throw .execNotFound(command: config.command, installHint: config.installHint)
    }
    var env = environment
    for v in config.env { env[v.name] = v.value }
    env["KUBERNETES_EXEC_INFO"] = ExecInfoEncoder.encode(config, interactive: interactive)

    let outcome = await Self.launch(
      executable: executable, arguments: config.args, environment: env, interactive: interactive,
      stderrSink: stderrSink)
    switch outcome {
    case .launchFailed(let reason):
      throw .execLaunchFailed(command: config.command, reason: reason)
    case .finished(let status, let signaled, let stdout, let stderrTail):
      if signaled { throw .execKilled(command: config.command, signal: status, stderrTail: stderrTail) }
      if status != 0 { throw .execFailed(command: config.command, exitCode: status, stderrTail: stderrTail) }
      return try ExecCredentialDecoder(command: config.command, apiVersion: config.apiVersion).decode(stdout)
    }
  }

  /// A path when the command has a slash (made absolute at load time), else Go's `exec.LookPath`
  /// over the PATH of the plugin's environment.
  func resolveExecutable() -> String? {
    if config.command.contains("/") {
      return FileManager.default.isExecutableFile(atPath: config.command) ? config.command : nil
    }
    for dir in (environment["PATH"] ?? "").split(separator: ":", omittingEmptySubsequences: true) {
      let candidate = "\(dir)/\(config.command)"
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
        FileManager.default.isExecutableFile(atPath: candidate)
      {
        return candidate
      }
    }
    return nil
  }

  enum Outcome: Sendable {
    case launchFailed(String)
    case finished(status: Int32, signaled: Bool, stdout: Data, stderrTail: String)
  }

  /// Blocking process handling runs on its own threads, never on Swift's cooperative pool, and not
  /// on GCD's global queue either: its width is the core count, and a blocked runner waiting for a
  /// reader block queued behind it stalled for seconds on a 2-core machine.
  static func launch(
    executable: String, arguments: [String], environment: [String: String], interactive: Bool,
    stderrSink: @escaping @Sendable (Data) -> Void
  ) async -> Outcome {
    await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
      Thread {
        continuation.resume(
          returning: runBlocking(
            executable: executable, arguments: arguments, environment: environment, interactive: interactive,
            stderrSink: stderrSink))
      }.start()
    }
  }

  private static func runBlocking(
    executable: String, arguments: [String], environment: [String: String], interactive: Bool,
    stderrSink: @escaping @Sendable (Data) -> Void
  ) -> Outcome {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = environment
    process.standardInput = interactive ? FileHandle.standardInput : FileHandle.nullDevice
    let stdoutPipe = Pipe()
    let stderrPipe = Pipe()
    process.standardOutput = stdoutPipe
    process.standardError = stderrPipe
    do {
      try process.run()
    } catch {
      return .launchFailed("\(error)")
    }
    // Both pipes are drained concurrently so a chatty plugin cannot block on a full pipe.
    let stderrDone = DispatchSemaphore(value: 0)
    let stderrTail = TailBuffer(limit: stderrTailLimit)
    Thread {
      let handle = stderrPipe.fileHandleForReading
      while true {
        let chunk = handle.availableData
        if chunk.isEmpty { break }
        stderrSink(chunk)
        stderrTail.append(chunk)
      }
      stderrDone.signal()
    }.start()
    let stdout = stdoutPipe.fileHandleForReading.readDataToEndOfFile()
    stderrDone.wait()
    process.waitUntilExit()
    let signaled = process.terminationReason == .uncaughtSignal
    return .finished(
      status: process.terminationStatus, signaled: signaled, stdout: stdout, stderrTail: stderrTail.text)
  }
}

/// The last bytes of a plugin's stderr, kept for error messages. Written by one reader thread and
/// read after it finished (ordered by a semaphore), but the lock keeps that honest for Sendable.
final class TailBuffer: Sendable {
  private let limit: Int
  private let storage = Mutex(Data())

  init(limit: Int) { self.limit = limit }

  func append(_ chunk: Data) {
    storage.withLock { data in
      data.append(chunk)
      if data.count > limit { data = Data(data.suffix(limit)) }
    }
  }

  var text: String { storage.withLock { String(decoding: $0, as: UTF8.self) } }
}
