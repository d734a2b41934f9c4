import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The CPU cost of the whole forwarded path during a bulk transfer, process by process: the client
/// (plugin or kubectl), the sandbox daemon, the relay in the pod, the target, the probe. `make bench`
/// samples every process before and after each transfer and divides by the bytes moved; from that
/// it derives the throughput this machine would allow if the client cost nothing.
public enum PathCost {
  /// One process at one moment.
  public struct ProcessSample: Codable, Sendable, Equatable {
    public var pid: Int32
    /// utime + stime of the whole process (threads that ended included), seconds.
    public var cpuSeconds: Double
    /// Live threads, keyed `name/tid`, seconds each.
    public var threads: [String: Double]
  }

  /// Every role's process at one moment; `cores` is the machine's online CPU count.
  public struct Sample: Codable, Sendable {
    public var cores: Int
    public var roles: [String: ProcessSample]
  }

  public static func sample(roles: [String: Int32]) throws(BenchError) -> Sample {
    var sampled: [String: ProcessSample] = [:]
    for (role, pid) in roles {
      let total = try ProcessStats.sample(pid: pid).cpuSeconds
      sampled[role] = ProcessSample(pid: pid, cpuSeconds: total, threads: ProcessStats.threadSecondsByID(pid: pid))
    }
    return Sample(cores: sysconf(Int32(_SC_NPROCESSORS_ONLN)), roles: sampled)
  }

  /// What one process spent between two samples.
  public struct Spent: Codable, Sendable, Equatable {
    public var cpuSeconds: Double
    /// The most one thread spent. Work done by threads that ended before the second sample (the
    /// relay's and the target's per-connection threads) shows only in the process total; that part
    /// is counted as one thread's, which is what those processes do for one connection's direction.
    public var busiestThreadSeconds: Double
    /// By thread name (tids dropped, same names summed).
    public var byThreadName: [String: Double]

    public init(cpuSeconds: Double, busiestThreadSeconds: Double, byThreadName: [String: Double] = [:]) {
      self.cpuSeconds = cpuSeconds
      self.busiestThreadSeconds = busiestThreadSeconds
      self.byThreadName = byThreadName
    }

    static func + (a: Spent, b: Spent) -> Spent {
      Spent(
        cpuSeconds: a.cpuSeconds + b.cpuSeconds, busiestThreadSeconds: a.busiestThreadSeconds + b.busiestThreadSeconds,
        byThreadName: a.byThreadName.merging(b.byThreadName, uniquingKeysWith: +))
    }
  }

  /// Per role, what was spent from `before` to `after`. A role whose pid changed (the process was
  /// replaced) is left out: its difference would mean nothing.
  public static func spent(before: Sample, after: Sample) -> [String: Spent] {
    var result: [String: Spent] = [:]
    for (role, end) in after.roles {
      guard let start = before.roles[role], start.pid == end.pid else { continue }
      var perThread: [String: Double] = [:]
      var byName: [String: Double] = [:]
      for (key, seconds) in end.threads {
        let delta = max(0, seconds - (start.threads[key] ?? 0))
        perThread[key] = delta
        let name = key.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        byName[name.isEmpty ? key : name, default: 0] += delta
      }
      let total = max(0, end.cpuSeconds - start.cpuSeconds)
      let ended = max(0, total - perThread.values.reduce(0, +))
      let busiest = max(perThread.values.max() ?? 0, ended)
      if ended > 0 { byName["(ended threads)", default: 0] += ended }
      result[role] = Spent(cpuSeconds: total, busiestThreadSeconds: busiest, byThreadName: byName)
    }
    return result
  }

  public static let gibibyte = 1_073_741_824.0

  /// CPU seconds per GiB moved.
  public static func perGiB(_ cpuSeconds: Double, bytes: Double) -> Double? {
    bytes > 0 ? cpuSeconds / (bytes / gibibyte) : nil
  }

  /// Throughput (bytes/s) this machine allows if the client cost nothing: the other processes'
  /// CPU per byte spread over every core, capped by the slowest single thread on the path (one
  /// connection's bytes cross each stage on one thread, which can use at most one core).
  /// - Parameters:
  ///   - nonClientSecondsPerByte: CPU seconds per byte of every process but the client.
  ///   - busiestThreadSecondsPerByte: the highest one-thread CPU seconds per byte among them.
  public static func ceiling(cores: Int, nonClientSecondsPerByte: Double, busiestThreadSecondsPerByte: Double)
    -> Double?
  {
    guard cores > 0, nonClientSecondsPerByte > 0 else { return nil }
    let allCores = Double(cores) / nonClientSecondsPerByte
    guard busiestThreadSecondsPerByte > 0 else { return allCores }
    return min(allCores, 1 / busiestThreadSecondsPerByte)
  }
}

extension ProcessStats {
  /// CPU seconds of each live thread of `pid`, keyed `name/tid`.
  static func threadSecondsByID(pid: Int32) -> [String: Double] {
    let directory = "/proc/\(pid)/task"
    guard let tids = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [:] }
    var result: [String: Double] = [:]
    for tid in tids {
      guard let line = stat("\(directory)/\(tid)/stat") else { continue }
      result["\(line.command)/\(tid)"] = (line.userTicks + line.systemTicks) / ticksPerSecond
    }
    return result
  }
}
