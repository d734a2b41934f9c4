import ChildProcess
import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Time to first byte through a new relay pod: starts a command that creates the pod and a local
/// forward (`kubectl kftray proxy ...`, or the manual habit as a shell script), then connects to
/// the local port again and again until a 1-byte echo comes back. The command marks the moment its
/// pod is Ready with a line containing `readyMarker`, so the part after Ready is measured too.
public enum StartupProbe {
  public struct Result: Codable, Sendable {
    /// From starting the command to the echoed byte.
    public var totalMilliseconds: Double?
    /// From the ready line to the echoed byte.
    public var afterReadyMilliseconds: Double?
    public var failure: String?
  }

  public static func run(command: [String], port: UInt16, readyMarker: String, log: String, timeoutSeconds: Int = 120) -> Result {
    var child = ChildSpawn(
      executable: resolve(command[0]), arguments: Array(command.dropFirst()), environment: nil, stdout: .file(log))
    child.grouping = .newProcessGroup
    let start = ContinuousClock.now
    let pid: pid_t
    do { pid = try child.start() } catch { return Result(failure: "\(error)") }
    defer {
      kill(-pid, SIGTERM)
      var status: Int32 = 0
      while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    }
    // The marker is watched on a thread of its own: the probe's first connection may be accepted
    // before the pod is Ready (proxy binds first) and then blocks until the echo.
    let ready = Mutex<ContinuousClock.Instant?>(nil)
    let finished = Atomic<Bool>(false)
    let watcher = Thread {
      while !finished.load(ordering: .relaxed) {
        if let text = try? String(contentsOfFile: log, encoding: .utf8), text.contains(readyMarker) {
          ready.withLock { $0 = $0 ?? .now }
          return
        }
        usleep(2_000)
      }
    }
    watcher.start()
    defer { finished.store(true, ordering: .relaxed) }
    let deadline = start + .seconds(timeoutSeconds)
    while ContinuousClock.now < deadline {
      // A connection accepted before the forward is up (the proxy binds first) simply waits for
      // its echo; one refused (nothing listens yet) is retried.
      if let fd = try? LoopbackSocket.connect(port: port, timeoutSeconds: timeoutSeconds) {
        defer { close(fd) }
        var byte: UInt8 = 0x2a
        var back: UInt8 = 0
        if send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) == 1, recv(fd, &back, 1, 0) == 1, back == 0x2a {
          let end = ContinuousClock.now
          let readyAt = ready.withLock { $0 }
          return Result(
            totalMilliseconds: milliseconds(end - start), afterReadyMilliseconds: readyAt.map { milliseconds(end - $0) })
        }
      }
      var status: Int32 = 0
      if waitpid(pid, &status, WNOHANG) == pid {
        return Result(failure: "the command ended before forwarding (see \(log))")
      }
      usleep(10_000)
    }
    return Result(failure: "no echo within \(timeoutSeconds) s (see \(log))")
  }

  /// A bare name is looked up on PATH, as a shell would.
  static func resolve(_ name: String) -> String {
    guard !name.contains("/") else { return name }
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
      return "\(directory)/\(name)"
    }
    return name
  }

  static func milliseconds(_ d: Duration) -> Double {
    Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
  }
}
