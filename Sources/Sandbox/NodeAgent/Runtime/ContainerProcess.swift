import Foundation

/// How a container's process ended.
struct ExitStatus: Sendable, Equatable {
  /// The exit code, or 128 + the signal number for a process killed by a signal (as runtimes report it).
  var code: Int
  var signal: Int?
  var finishedAt: String
}

/// One run of one container: the spawned process group, a reader thread per output stream writing the
/// CRI log file, and a waiter thread that reaps the process. When the main process ends, the rest of
/// its process group is killed (as a container's PID namespace would be), the readers drain, and
/// `onExit` runs once.
final class ContainerProcess: Sendable {
  let pid: pid_t
  let startedAt: String
  let logPath: String

  static func start(
    _ launch: ContainerLaunch, logPath: String, onExit: @escaping @Sendable (ExitStatus) -> Void
  ) throws(ProcessSpawner.Failure) -> ContainerProcess {
    let file = try CRILogFile(path: logPath)
    let spawned = try ProcessSpawner.spawn(
      executable: launch.executable, arguments: launch.arguments, environment: launch.environment,
      workingDirectory: launch.workingDirectory)
    let process = ContainerProcess(pid: spawned.pid, startedAt: Timestamps.now(), logPath: logPath)
    let readers = DispatchGroup()
    for (descriptor, stream) in [(spawned.stdout, "stdout"), (spawned.stderr, "stderr")] {
      readers.enter()
      let reader = LogStreamReader(descriptor: descriptor, stream: stream, file: file)
      Thread.detachNewThread {
        reader.run()
        readers.leave()
      }
    }
    let pid = spawned.pid
    Thread.detachNewThread {
      var status: Int32 = 0
      while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
      let finishedAt = Timestamps.now()
      kill(-pid, SIGKILL)
      // A daemonised grandchild in another process group could hold the pipes open for ever; its output
      // after this point is not this run's any more.
      _ = readers.wait(timeout: .now() + 2)
      let signal = status & 0x7f
      if signal == 0 {
        onExit(ExitStatus(code: Int((status >> 8) & 0xff), signal: nil, finishedAt: finishedAt))
      } else {
        onExit(ExitStatus(code: 128 + Int(signal), signal: Int(signal), finishedAt: finishedAt))
      }
    }
    return process
  }

  private init(pid: pid_t, startedAt: String, logPath: String) {
    self.pid = pid
    self.startedAt = startedAt
    self.logPath = logPath
  }

  /// Signals the whole process group. The pod worker calls it only while it has not yet handled this
  /// run's exit, so the group id is at most milliseconds stale.
  func signal(_ signal: Int32) {
    kill(-pid, signal)
  }
}
