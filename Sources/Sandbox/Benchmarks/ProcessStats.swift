import Foundation

/// Another process's CPU time and memory, read from /proc (Linux only).
public enum ProcessStats {
  public struct Sample: Codable, Sendable {
    /// utime + stime, in seconds.
    public var cpuSeconds: Double
    /// VmHWM: peak resident set since start or the last `resetPeak`, in KiB.
    public var peakRSSKiB: Int
    public var rssKiB: Int
  }

  public static func sample(pid: Int32) throws(BenchError) -> Sample {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    else { throw BenchError("process \(pid) is gone") }
    // Fields after the command name (which may contain spaces) start at ") ": state is field 3,
    // utime 14 and stime 15 (1-based), so 11 and 12 after the state.
    guard let close = stat.lastIndex(of: ")") else { throw BenchError("unreadable /proc/\(pid)/stat") }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let utime = Double(fields[11]), let stime = Double(fields[12]) else {
      throw BenchError("unreadable /proc/\(pid)/stat")
    }
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    func kib(_ key: String) -> Int {
      for line in status.split(separator: "\n") where line.hasPrefix(key + ":") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
      }
      return 0
    }
    return Sample(cpuSeconds: (utime + stime) / ticks, peakRSSKiB: kib("VmHWM"), rssKiB: kib("VmRSS"))
  }

  /// Resets VmHWM to the current RSS (`echo 5 > /proc/PID/clear_refs`).
  public static func resetPeak(pid: Int32) throws(BenchError) {
    do {
      try "5".write(toFile: "/proc/\(pid)/clear_refs", atomically: false, encoding: .utf8)
    } catch { throw BenchError("cannot reset the peak RSS of \(pid): \(error)") }
  }
}
