import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The process whose end stops a sandbox (`--owner-pid`), so that a test run killed from outside,
/// which never reaches its teardown, leaves no daemon behind.
///
/// A pid alone does not identify a process for long: pids (and thread ids, which share their space,
/// 32768 by default) are reused, and under the full test suite's thread churn an owner's pid was seen
/// taken again within seconds, so `kill(pid, 0)` kept "finding" it. The process's start time (field
/// 22 of /proc/PID/stat) tells a successor apart. It is read by `up`, while the caller still waits for
/// it, and handed to the server: read later, by the server, it could already be a successor's.
public struct OwnerProcess: Sendable, Equatable {
  public var pid: Int32
  /// Field 22 of /proc/PID/stat; nil where there is no /proc (then the pid alone decides).
  public var startTime: String?

  public init(pid: Int32, startTime: String?) {
    self.pid = pid
    self.startTime = startTime
  }

  /// `pid` as it is now: with the start time of the process that has it, if any.
  public init(current pid: Int32) {
    self.init(pid: pid, startTime: Self.startTime(of: pid))
  }

  public var isAlive: Bool {
    // kill(pid, 0) probes without signalling; EPERM still means the process exists.
    guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
    guard let startTime else { return true }
    return Self.startTime(of: pid) == startTime
  }

  /// Calls `ended` once the process is gone. On a thread of its own, not a task: the daemon's
  /// cooperative pool (one thread per core) can be busy for long stretches, and an owner watch that
  /// never gets to run leaves the sandbox behind.
  public func watch(ended: @escaping @Sendable () -> Void) {
    Thread.detachNewThread {
      while self.isAlive { sleep(1) }
      ended()
    }
  }

  /// Field 22 of /proc/PID/stat (after the parenthesised command, which may contain spaces); nil
  /// where there is no such process or no /proc.
  public static func startTime(of pid: Int32) -> String? {
    guard pid > 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // After ")": state is field 3, so start time (22) is the 20th.
    return fields.count > 19 ? String(fields[19]) : nil
  }
}
