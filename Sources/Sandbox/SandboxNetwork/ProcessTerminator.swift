import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Ends processes: SIGTERM, a grace period, then SIGKILL. Zombies count as ended; they are reaped
/// by whoever started them (a pod's processes belong to the node agent, whose waitpid must get
/// their status), never here.
enum ProcessTerminator {
  /// Ends every process in the namespaces, again while new ones appear (a shell that ignores
  /// SIGTERM may start a child during the grace period), at most a few rounds.
  static func terminateAll(in namespaces: [String], ip: IPRoute) {
    for _ in 0..<4 {
      let pids = namespaces.flatMap { ip.pids(in: $0) }.filter(isRunning)
      if pids.isEmpty { return }
      terminate(pids)
    }
  }

  static func terminate(_ pids: [pid_t], grace: Duration = .seconds(3)) {
    let ours = pids.filter { $0 > 1 && $0 != getpid() }
    guard !ours.isEmpty else { return }
    for pid in ours { kill(pid, SIGTERM) }
    var remaining = waitUntilGone(ours, timeout: grace)
    guard !remaining.isEmpty else { return }
    for pid in remaining { kill(pid, SIGKILL) }
    remaining = waitUntilGone(remaining, timeout: .seconds(3))
  }

  private static func waitUntilGone(_ pids: [pid_t], timeout: Duration) -> [pid_t] {
    let deadline = ContinuousClock.now + timeout
    var remaining = pids
    while true {
      remaining = remaining.filter(isRunning)
      if remaining.isEmpty || ContinuousClock.now >= deadline { return remaining }
      usleep(20_000)
    }
  }

  /// True while the process exists and is not a zombie.
  static func isRunning(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
    // "pid (comm) S ...": the state follows the last ')' (comm may contain anything).
    guard let close = stat.lastIndex(of: ")") else { return false }
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
    return state != "Z" && state != "X"
  }
}
