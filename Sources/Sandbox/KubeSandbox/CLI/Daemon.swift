import ChildProcess
import Foundation
import SandboxNetwork

#if canImport(Glibc)
  import Glibc
#endif

/// Starting, finding and stopping the background `serve` process of `kftray-sandbox up`/`down`.
public enum Daemon {
  public enum Failure: Error, CustomStringConvertible {
    case alreadyRunning(pid: Int32, directory: String)
    case spawnFailed(Int32)
    case exitedEarly(log: String)
    case notReady(log: String)
    case notRunning(directory: String)
    case cannotRestart(String)
    case ownerNotRunning(pid: Int32)

    public var description: String {
      switch self {
      case .alreadyRunning(let pid, let directory):
        return "a sandbox is already running in \(directory) (pid \(pid)); run `kftray-sandbox down --dir \(directory)` first"
      case .spawnFailed(let code): return "could not start the server process: \(String(cString: strerror(code)))"
      case .exitedEarly(let log): return "the server process exited during start-up. Its log:\n\(log)"
      case .notReady(let log): return "the server did not become ready in time. Its log:\n\(log)"
      case .notRunning(let directory):
        return "no sandbox is running in \(directory); start one with `kftray-sandbox up --api-only --dir \(directory)`"
      case .cannotRestart(let why): return why
      case .ownerNotRunning(let pid):
        return "the --owner-pid process \(pid) is not running, so the sandbox would stop at once; pass a running process (a test run passes its own pid)"
      }
    }
  }

  /// The pid in `DIR/apiserver.pid` if that process is alive and is a `kftray-sandbox serve` for this
  /// directory (a stale file after a crash, or a recycled pid, reads as "not running").
  public static func runningPID(_ files: SandboxFiles) -> Int32? {
    guard let text = try? String(contentsOf: files.pid, encoding: .utf8),
      let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0, isAlive(pid)
    else { return nil }
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
    let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    guard arguments.contains("serve"), arguments.contains(files.directory.path) else { return nil }
    return pid
  }

  /// `up`: spawns `executable serve --dir DIR ...` in a new session with output to `DIR/apiserver.log`,
  /// waits for `DIR/kubeconfig` and a `200` from `/readyz` (with `options.join`: for `DIR/node.joined`,
  /// the joined node registered). Returns the kubeconfig path (with `join`: the node.joined path).
  public static func up(
    executable: String, files: SandboxFiles, options: SandboxOptions, timeout: TimeInterval = 90
  ) async throws -> String {
    if let pid = runningPID(files) { throw Failure.alreadyRunning(pid: pid, directory: files.directory.path) }
    if let owner = options.owner, !owner.isAlive { throw Failure.ownerNotRunning(pid: owner.pid) }
    try files.createDirectory()
    // Left over from a crashed run: never mistake an old kubeconfig for the new server's.
    // A saved store belongs to `restart`; a new sandbox starts from the seed.
    for stale in [files.kubeconfig, files.nodeKubeconfig, files.joinedNode, files.pid, files.log, files.store] {
      try? FileManager.default.removeItem(at: stale)
    }

    var arguments = [
      executable, "serve", "--dir", files.directory.path, "--port", String(options.port), "--watch-history",
      String(options.watchHistory), "--watch-bookmark-interval", String(options.watchBookmarkInterval),
    ]
    if let owner = options.owner {
      arguments += ["--owner-pid", String(owner.pid)]
      if let startTime = owner.startTime { arguments += ["--owner-start-time", startTime] }
    }
    if let join = options.join {
      arguments += join.serveArguments
    } else if !options.cluster {
      arguments.append("--api-only")
    }
    let pid = try spawnDetached(arguments, log: files.log.path)
    try Data("\(pid)\n".utf8).write(to: files.pid, options: .atomic)

    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      var status: Int32 = 0
      if waitpid(pid, &status, WNOHANG) == pid {
        try? FileManager.default.removeItem(at: files.pid)
        throw Failure.exitedEarly(log: logTail(files))
      }
      if options.join != nil {
        if FileManager.default.fileExists(atPath: files.joinedNode.path) { return files.joinedNode.path }
      } else if let port = serverPort(files), let ca = try? String(contentsOf: files.caCertificate, encoding: .utf8),
        await ReadinessProbe.isReady(port: port, caPEM: ca)
      {
        return files.kubeconfig.path
      }
      try await Task.sleep(nanoseconds: 100_000_000)
    }
    stop(pid: pid)
    throw Failure.notReady(log: logTail(files))
  }

  /// `restart`: stops the API server of `files` with SIGTERM (it saves its store to `DIR/store.json`
  /// first, see `serve`), then starts it again with the same arguments on the port it had, so the
  /// same kubeconfig reaches it, and waits until `/readyz` answers. Only for an API server (`up` or
  /// `up --api-only`): a joined node has none. Returns the port.
  public static func restart(files: SandboxFiles, timeout: TimeInterval = 90) async throws -> Int {
    guard let pid = runningPID(files) else { throw Failure.notRunning(directory: files.directory.path) }
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else {
      throw Failure.cannotRestart("cannot read the command line of the server (pid \(pid))")
    }
    var arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    guard !arguments.contains("--join") else {
      throw Failure.cannotRestart("\(files.directory.path) holds a joined node, which has no API server to restart")
    }
    guard !arguments.isEmpty, let port = serverPort(files) else {
      throw Failure.cannotRestart("no kubeconfig with the server's port in \(files.directory.path)")
    }
    // The same port (the first start may have asked for any free one): clients keep their kubeconfig.
    if let index = arguments.firstIndex(of: "--port"), index + 1 < arguments.count {
      arguments[index + 1] = String(port)
    } else {
      arguments += ["--port", String(port)]
    }
    try? FileManager.default.removeItem(at: files.store)
    // Grace as `down`'s: the server saves at once and ends within 3 s (see `serve`); a kill here
    // would mean it never got to save, which the check below reports.
    stop(pid: pid, grace: 10)
    guard FileManager.default.fileExists(atPath: files.store.path) else {
      throw Failure.cannotRestart("the server did not save its objects when stopped. Its log:\n\(logTail(files))")
    }
    let newPID = try spawnDetached(arguments, log: files.log.path)
    try Data("\(newPID)\n".utf8).write(to: files.pid, options: .atomic)
    let ca = (try? String(contentsOf: files.caCertificate, encoding: .utf8)) ?? ""
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      var status: Int32 = 0
      if waitpid(newPID, &status, WNOHANG) == newPID {
        try? FileManager.default.removeItem(at: files.pid)
        throw Failure.exitedEarly(log: logTail(files))
      }
      // The old process is gone, so whatever answers on the port now is the new one.
      if await ReadinessProbe.isReady(port: port, caPEM: ca) { return port }
      try await Task.sleep(nanoseconds: 50_000_000)
    }
    stop(pid: newPID)
    throw Failure.notReady(log: logTail(files))
  }

  /// `down`: stops the server (SIGTERM, SIGKILL after `grace`) and removes the sandbox files. Returns
  /// whether a server was running. Safe to repeat and after a crash.
  @discardableResult
  public static func down(files: SandboxFiles, grace: TimeInterval = 5) -> Bool {
    let pid = runningPID(files)
    if let pid { stop(pid: pid, grace: grace) }
    // After a crash of `serve` its namespaces, their processes and the network state are still there.
    try? ClusterNetwork.removeLeftovers(directory: files.directory, id: ClusterNetwork.identifier(for: files.directory))
    files.removeAll()
    return pid != nil
  }

  static func stop(pid: Int32, grace: TimeInterval = 5) {
    kill(pid, SIGTERM)
    let deadline = Date().addingTimeInterval(grace)
    while Date() < deadline {
      var status: Int32 = 0
      // Reaps our own child (up's failure path); for a foreign pid waitpid fails and kill(0) decides.
      _ = waitpid(pid, &status, WNOHANG)
      if !isAlive(pid) { return }
      usleep(50_000)
    }
    kill(pid, SIGKILL)
    var status: Int32 = 0
    _ = waitpid(pid, &status, WNOHANG)
    while isAlive(pid) { usleep(20_000) }
  }

  /// Whether `pid` runs. A zombie (dead, not yet reaped by its new parent, possibly never if PID 1 does
  /// not reap) counts as gone, although `kill(pid, 0)` still succeeds for it.
  static func isAlive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { return true }
    // Format: `pid (comm) state ...`; comm may contain spaces and parentheses, so read after the last `)`.
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
    return state != "Z" && state != "X"
  }

  /// The port from the `server:` line of the kubeconfig `serve` writes once it listens.
  static func serverPort(_ files: SandboxFiles) -> Int? {
    guard let text = try? String(contentsOf: files.kubeconfig, encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") {
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      if trimmed.hasPrefix("server: https://127.0.0.1:") {
        return Int(trimmed.dropFirst("server: https://127.0.0.1:".count))
      }
    }
    return nil
  }

  static func logTail(_ files: SandboxFiles) -> String {
    let text = (try? String(contentsOf: files.log, encoding: .utf8)) ?? ""
    return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(30).joined(separator: "\n")
  }

  /// posix_spawn in a new session (`setsid`), stdin from /dev/null, stdout and stderr appended to `log`.
  /// Nothing but 0-2 may leak into the daemon: an inherited descriptor keeps whatever it belongs to open
  /// for the daemon's lifetime (a caller's pipe, or the socket whose EOF Foundation's
  /// `Process.waitUntilExit` waits for when `up` itself was started by `Process`).
  static func spawnDetached(_ arguments: [String], log: String) throws -> Int32 {
    var spawn = ChildSpawn(
      executable: arguments[0], arguments: Array(arguments.dropFirst()), environment: nil, stdout: .file(log))
    spawn.grouping = .newSession
    spawn.closeOtherDescriptors = true
    do { return try spawn.start() } catch { throw Failure.spawnFailed(error.code) }
  }
}
