import Foundation

/// Turns the raw measurement files of one `make bench` run into the comparison table and
/// `bench-results.json`.
///
/// Layout read: `<dir>/<mode>/<impl>/` with mode `websocket|spdy`, impl `engine|kubectl`, and the
/// files `bulk-up-<n>.json`, `bulk-down-<n>.json` (`BulkTransfer.Result`, one per run),
/// `cpu-before.json`, `cpu-after.json` (`ProcessStats.Sample` around all bulk runs),
/// `latency-<n>.json`, `concurrent-<n>.json`, and `rss-<n>.json` (the sample taken right after
/// each concurrent run, peak reset before it). Repeated runs: throughput, wall time and the
/// latency percentiles are medians over the runs, CPU per GiB covers all bulk runs, failures are
/// summed and the peak RSS is the highest.
public enum BenchReport {
  public struct Figure: Codable, Sendable {
    public var mode: String
    public var name: String
    public var unit: String
    public var engine: Double?
    public var kubectl: Double?
    /// engine / kubectl.
    public var ratio: Double?
    public var target: String
    public var met: Bool?
  }

  public struct Document: Codable, Sendable {
    public var figures: [Figure]
    public var raw: [String: [String: Raw]]
  }

  public struct Raw: Codable, Sendable {
    /// Medians over the runs.
    public var uploadBitsPerSecond: Double?
    public var downloadBitsPerSecond: Double?
    public var uploadRuns: [Double] = []
    public var downloadRuns: [Double] = []
    public var bulkBytes: Double?
    public var cpuSecondsBulk: Double?
    public var latencyRuns: [LatencyProbe.Result] = []
    public var latencyP50Microseconds: Double?
    public var latencyP99Microseconds: Double?
    public var latencyFailures: Int?
    public var concurrentRuns: [ConcurrentProbe.Result] = []
    public var concurrentWallSeconds: Double?
    public var concurrentFailures: Int?
    public var peakRSSKiBConcurrent: Int?
  }

  static func load<T: Decodable>(_ type: T.Type, _ path: String) -> T? {
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    return try? JSONDecoder().decode(T.self, from: data)
  }

  /// `<prefix>-1.json`, `<prefix>-2.json`, ... as long as they exist.
  static func runs<T: Decodable>(_ type: T.Type, _ prefix: String) -> [T] {
    var found: [T] = []
    while let next = load(T.self, "\(prefix)-\(found.count + 1).json") { found.append(next) }
    return found
  }

  static func median(_ values: [Double]) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  }

  static func raw(_ dir: String) -> Raw {
    let ups = runs(BulkTransfer.Result.self, dir + "/bulk-up")
    let downs = runs(BulkTransfer.Result.self, dir + "/bulk-down")
    let before = load(ProcessStats.Sample.self, dir + "/cpu-before.json")
    let after = load(ProcessStats.Sample.self, dir + "/cpu-after.json")
    var r = Raw()
    r.uploadRuns = ups.map(\.bitsPerSecond)
    r.downloadRuns = downs.map(\.bitsPerSecond)
    r.uploadBitsPerSecond = median(r.uploadRuns)
    r.downloadBitsPerSecond = median(r.downloadRuns)
    if !ups.isEmpty || !downs.isEmpty { r.bulkBytes = Double((ups + downs).reduce(0) { $0 + $1.bytes }) }
    if let before, let after { r.cpuSecondsBulk = after.cpuSeconds - before.cpuSeconds }
    r.latencyRuns = runs(LatencyProbe.Result.self, dir + "/latency")
    r.latencyP50Microseconds = median(r.latencyRuns.map(\.p50Microseconds))
    r.latencyP99Microseconds = median(r.latencyRuns.map(\.p99Microseconds))
    if !r.latencyRuns.isEmpty { r.latencyFailures = r.latencyRuns.reduce(0) { $0 + $1.failures } }
    r.concurrentRuns = runs(ConcurrentProbe.Result.self, dir + "/concurrent")
    r.concurrentWallSeconds = median(r.concurrentRuns.map(\.wallSeconds))
    if !r.concurrentRuns.isEmpty { r.concurrentFailures = r.concurrentRuns.reduce(0) { $0 + $1.failures } }
    r.peakRSSKiBConcurrent = runs(ProcessStats.Sample.self, dir + "/rss").map(\.peakRSSKiB).max()
    return r
  }

  public static func build(directory: String) -> Document {
    var figures: [Figure] = []
    var raws: [String: [String: Raw]] = [:]
    for mode in ["websocket", "spdy"] {
      let e = raw("\(directory)/\(mode)/engine")
      let k = raw("\(directory)/\(mode)/kubectl")
      raws[mode] = ["engine": e, "kubectl": k]
      func add(_ name: String, _ unit: String, _ ev: Double?, _ kv: Double?, _ target: String, _ met: (Double, Double) -> Bool) {
        let ratio = ev.flatMap { e in kv.flatMap { k in k == 0 ? nil : e / k } }
        let ok = ev.flatMap { e in kv.map { k in met(e, k) } }
        figures.append(Figure(mode: mode, name: name, unit: unit, engine: ev, kubectl: kv, ratio: ratio, target: target, met: ok))
      }
      let mib = 8.0 * 1024 * 1024
      add("throughput to pod", "MiB/s", e.uploadBitsPerSecond.map { $0 / mib }, k.uploadBitsPerSecond.map { $0 / mib },
        "ratio >= 1.5") { $0 >= 1.5 * $1 }
      add("throughput from pod", "MiB/s", e.downloadBitsPerSecond.map { $0 / mib }, k.downloadBitsPerSecond.map { $0 / mib },
        "ratio >= 1.5") { $0 >= 1.5 * $1 }
      add("connect+echo p50", "ms", e.latencyP50Microseconds.map { $0 / 1000 }, k.latencyP50Microseconds.map { $0 / 1000 },
        "ratio <= 0.6") { $0 <= 0.6 * $1 }
      add("connect+echo p99", "ms", e.latencyP99Microseconds.map { $0 / 1000 }, k.latencyP99Microseconds.map { $0 / 1000 },
        "ratio <= 0.8") { $0 <= 0.8 * $1 }
      add("latency failures", "count", e.latencyFailures.map(Double.init), k.latencyFailures.map(Double.init),
        "engine 0") { e, _ in e == 0 }
      add("500 concurrent failures", "count", e.concurrentFailures.map(Double.init), k.concurrentFailures.map(Double.init),
        "engine 0") { e, _ in e == 0 }
      add("500 concurrent wall", "s", e.concurrentWallSeconds, k.concurrentWallSeconds, "ratio <= 0.7") { $0 <= 0.7 * $1 }
      func perGiB(_ r: Raw) -> Double? {
        guard let cpu = r.cpuSecondsBulk, let bytes = r.bulkBytes, bytes > 0 else { return nil }
        return cpu / (bytes / 1_073_741_824)
      }
      add("CPU per GiB (bulk)", "s/GiB", perGiB(e), perGiB(k), "ratio <= 0.7") { $0 <= 0.7 * $1 }
      add("peak RSS (concurrent)", "MiB", e.peakRSSKiBConcurrent.map { Double($0) / 1024 },
        k.peakRSSKiBConcurrent.map { Double($0) / 1024 }, "< 60 and < kubectl") { $0 < 60 && $0 < $1 }
    }
    // Start to first byte through a new relay pod: `proxy` against the manual habit it replaces.
    let proxyRuns = runs(StartupProbe.Result.self, "\(directory)/startup/proxy")
    let manualRuns = runs(StartupProbe.Result.self, "\(directory)/startup/manual")
    if !proxyRuns.isEmpty || !manualRuns.isEmpty {
      let proxyTotal = median(proxyRuns.compactMap(\.totalMilliseconds))
      let manualTotal = median(manualRuns.compactMap(\.totalMilliseconds))
      let ratio = proxyTotal.flatMap { p in manualTotal.flatMap { m in m == 0 ? nil : p / m } }
      figures.append(
        Figure(
          mode: "startup", name: "start to first byte (median)", unit: "ms", engine: proxyTotal, kubectl: manualTotal,
          ratio: ratio, target: "ratio <= 0.5", met: ratio.map { $0 <= 0.5 }))
      let afterReady = median(proxyRuns.compactMap(\.afterReadyMilliseconds))
      let manualAfter = median(manualRuns.compactMap(\.afterReadyMilliseconds))
      figures.append(
        Figure(
          mode: "startup", name: "first byte after pod Ready (median)", unit: "ms", engine: afterReady, kubectl: manualAfter,
          ratio: afterReady.flatMap { a in manualAfter.flatMap { m in m == 0 ? nil : a / m } }, target: "engine < 1000",
          met: afterReady.map { $0 < 1000 }))
      let failures = (proxyRuns + manualRuns).filter { $0.failure != nil }.count
      if failures > 0 {
        figures.append(
          Figure(
            mode: "startup", name: "startup failures", unit: "count", engine: Double(proxyRuns.filter { $0.failure != nil }.count),
            kubectl: Double(manualRuns.filter { $0.failure != nil }.count), ratio: nil, target: "engine 0",
            met: proxyRuns.allSatisfy { $0.failure == nil }))
      }
    }
    return Document(figures: figures, raw: raws)
  }

  public static func table(_ document: Document) -> String {
    func f(_ v: Double?) -> String { v.map { String(format: $0 >= 100 ? "%.0f" : ($0 >= 10 ? "%.1f" : "%.3f"), $0) } ?? "n/a" }
    var lines = [
      "| mode | figure | unit | engine | kubectl | ratio | target | met |",
      "|---|---|---|---|---|---|---|---|",
    ]
    for fig in document.figures {
      let met = fig.met.map { $0 ? "yes" : "NO" } ?? "n/a"
      lines.append(
        "| \(fig.mode) | \(fig.name) | \(fig.unit) | \(f(fig.engine)) | \(f(fig.kubectl)) | \(f(fig.ratio)) | \(fig.target) | \(met) |")
    }
    return lines.joined(separator: "\n")
  }
}
