import Foundation

/// Turns the raw measurement files of one `make bench` run into the comparison table and
/// `bench-results.json`.
///
/// Layout read: `<dir>/<mode>/<impl>/` with mode `websocket|spdy`, impl `engine|kubectl`, and the
/// files `bulk-up.json`, `bulk-down.json` (`BulkTransfer.Result`), `cpu-before.json`, `cpu-after.json`
/// (`ProcessStats.Sample` around the two bulk runs), `latency.json`, `concurrent.json`, and
/// `rss.json` (the sample taken right after the concurrent run, peak reset before it).
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
    public var uploadBitsPerSecond: Double?
    public var downloadBitsPerSecond: Double?
    public var bulkBytes: Double?
    public var cpuSecondsBulk: Double?
    public var latency: LatencyProbe.Result?
    public var concurrent: ConcurrentProbe.Result?
    public var peakRSSKiBConcurrent: Int?
  }

  static func load<T: Decodable>(_ type: T.Type, _ path: String) -> T? {
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    return try? JSONDecoder().decode(T.self, from: data)
  }

  static func bulk(_ path: String) -> (bps: Double, bytes: Double)? {
    load(BulkTransfer.Result.self, path).map { ($0.bitsPerSecond, Double($0.bytes)) }
  }

  static func raw(_ dir: String) -> Raw {
    let up = bulk(dir + "/bulk-up.json")
    let down = bulk(dir + "/bulk-down.json")
    let before = load(ProcessStats.Sample.self, dir + "/cpu-before.json")
    let after = load(ProcessStats.Sample.self, dir + "/cpu-after.json")
    var r = Raw()
    r.uploadBitsPerSecond = up?.bps
    r.downloadBitsPerSecond = down?.bps
    if let up, let down { r.bulkBytes = up.bytes + down.bytes }
    if let before, let after { r.cpuSecondsBulk = after.cpuSeconds - before.cpuSeconds }
    r.latency = load(LatencyProbe.Result.self, dir + "/latency.json")
    r.concurrent = load(ConcurrentProbe.Result.self, dir + "/concurrent.json")
    r.peakRSSKiBConcurrent = load(ProcessStats.Sample.self, dir + "/rss.json")?.peakRSSKiB
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
      add("connect+echo p50", "ms", e.latency.map { $0.p50Microseconds / 1000 }, k.latency.map { $0.p50Microseconds / 1000 },
        "ratio <= 0.6") { $0 <= 0.6 * $1 }
      add("connect+echo p99", "ms", e.latency.map { $0.p99Microseconds / 1000 }, k.latency.map { $0.p99Microseconds / 1000 },
        "ratio <= 0.8") { $0 <= 0.8 * $1 }
      add("latency failures", "count", e.latency.map { Double($0.failures) }, k.latency.map { Double($0.failures) },
        "engine 0") { e, _ in e == 0 }
      add("500 concurrent failures", "count", e.concurrent.map { Double($0.failures) }, k.concurrent.map { Double($0.failures) },
        "engine 0") { e, _ in e == 0 }
      add("500 concurrent wall", "s", e.concurrent?.wallSeconds, k.concurrent?.wallSeconds, "ratio <= 0.7") { $0 <= 0.7 * $1 }
      func perGiB(_ r: Raw) -> Double? {
        guard let cpu = r.cpuSecondsBulk, let bytes = r.bulkBytes, bytes > 0 else { return nil }
        return cpu / (bytes / 1_073_741_824)
      }
      add("CPU per GiB (bulk)", "s/GiB", perGiB(e), perGiB(k), "ratio <= 0.7") { $0 <= 0.7 * $1 }
      add("peak RSS (concurrent)", "MiB", e.peakRSSKiBConcurrent.map { Double($0) / 1024 },
        k.peakRSSKiBConcurrent.map { Double($0) / 1024 }, "< 60 and < kubectl") { $0 < 60 && $0 < $1 }
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
