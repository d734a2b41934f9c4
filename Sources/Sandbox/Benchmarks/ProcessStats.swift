import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Another process's CPU time and memory, read from /proc (Linux only).
public enum ProcessStats {
  public struct Sample: Codable, Sendable {
    /// utime + stime, in seconds.
    public var cpuSeconds: Double
    /// VmHWM: peak resident set since start or the last `resetPeak`, in KiB.
    public var peakRSSKiB: Int
    public var rssKiB: Int
  }

  /// The fields of one `/proc/PID/stat` (or `/proc/PID/task/TID/stat`) line this tool reads.
  struct StatLine: Equatable {
    var command: String
    var parentPID: Int32
    /// utime and stime in clock ticks; for a process they cover all its threads, live and ended.
    var userTicks: Double
    var systemTicks: Double
  }

  /// Parses a stat line. The command name sits in parentheses and may itself contain spaces and
  /// parentheses, so the fields are counted from the LAST ")": state is field 3 (1-based), ppid 4,
  /// utime 14 and stime 15, i.e. 0, 1, 11 and 12 after the name.
  static func parseStat(_ text: String) -> StatLine? {
    guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")"), open < close else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
    guard fields.count > 12, let ppid = Int32(fields[1]), let utime = Double(fields[11]), let stime = Double(fields[12])
    else { return nil }
    return StatLine(
      command: String(text[text.index(after: open)..<close]), parentPID: ppid, userTicks: utime, systemTicks: stime)
  }

  static var ticksPerSecond: Double { Double(sysconf(Int32(_SC_CLK_TCK))) }

  static func stat(_ path: String) -> StatLine? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    return parseStat(text)
  }

  public static func sample(pid: Int32) throws(BenchError) -> Sample {
    guard let line = stat("/proc/\(pid)/stat"),
      let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    else { throw BenchError("process \(pid) is gone") }
    func kib(_ key: String) -> Int {
      for line in status.split(separator: "\n") where line.hasPrefix(key + ":") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
      }
      return 0
    }
    return Sample(
      cpuSeconds: (line.userTicks + line.systemTicks) / ticksPerSecond, peakRSSKiB: kib("VmHWM"), rssKiB: kib("VmRSS"))
  }

  /// The process whose environment has `HOSTNAME=<pod>` (the node agent gives every container the
  /// pod's name there, as the kubelet does) and that descends from `ancestor` (the sandbox daemon:
  /// other sandboxes on the machine may run pods of the same name).
  public static func podProcess(pod: String, ancestor: Int32) throws(BenchError) -> Int32 {
    let wanted = Data("HOSTNAME=\(pod)".utf8)
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    for entry in entries {
      guard let pid = Int32(entry), pid != ancestor,
        let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ"),
        environ.split(separator: 0).contains(where: { $0.elementsEqual(wanted) }),
        descends(pid, from: ancestor)
      else { continue }
      return pid
    }
    throw BenchError("no process of pod \(pod) under pid \(ancestor)")
  }

  static func descends(_ pid: Int32, from ancestor: Int32) -> Bool {
    var current = pid
    for _ in 0..<64 {
      guard let parent = stat("/proc/\(current)/stat")?.parentPID, parent > 1 else { return false }
      if parent == ancestor { return true }
      current = parent
    }
    return false
  }

  /// This process's own CPU seconds (user + system, all threads) so far.
  public static func ownCPUSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
  }

  /// Resets VmHWM to the current RSS (`echo 5 > /proc/PID/clear_refs`).
  public static func resetPeak(pid: Int32) throws(BenchError) {
    do {
      try "5".write(toFile: "/proc/\(pid)/clear_refs", atomically: false, encoding: .utf8)
    } catch { throw BenchError("cannot reset the peak RSS of \(pid): \(error)") }
  }
}
