import Foundation

/// Turns the raw measurement files of one `make bench` run into the comparison table and
/// `bench-results.json`.
///
/// Layout read: `<dir>/<mode>/<impl>/` with mode `websocket|spdy`, impl `engine|kubectl`, and the
/// files `bulk-up-<n>.json`, `bulk-down-<n>.json` (`BulkTransfer.Result`, one per run),
/// `cpu-before.json`, `cpu-after.json` (`ProcessStats.Sample` around all bulk runs),
/// `path-before-<n>.json`, `path-after-<n>.json` (`PathCost.Sample` of every process on the path
/// around run n's two transfers), `latency-<n>.json`, `concurrent-<n>.json`, and `rss-<n>.json`
/// (the sample taken right after each concurrent run, peak reset before it),
/// `concurrent-path-before-<n>.json`, `concurrent-path-after-<n>.json` (`PathCost.Sample` around
/// concurrent run n, the delay proxy among the roles when the API server is remote). `<dir>/tls.json` is
/// the `TLSAnchor.Result`, `<dir>/relay-floor.json` the `RelayFloor.Result`,
/// `<dir>/startup/{proxy,manual}-<n>.json` the start-to-first-byte runs,
/// `<dir>/idle/{engine,kubectl}.json` the idle forwarders' samples, and `<dir>/remote-<rtt>/` holds
/// the same mode and startup layout measured through the delay proxy. Repeated runs: throughput,
/// wall time and the latency percentiles are medians over the runs, CPU per GiB covers all bulk
/// runs, failures are summed and the peak RSS is the highest.
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
    public var tls: TLSAnchor.Result?
    public var relayFloor: RelayFloor.Result?
    /// Lines printed under the table (the sandbox daemon's threads).
    public var notes: [String] = []
  }

  public struct Raw: Codable, Sendable {
    /// Medians over the runs.
    public var uploadBitsPerSecond: Double?
    public var downloadBitsPerSecond: Double?
    public var uploadRuns: [Double] = []
    public var downloadRuns: [Double] = []
    public var bulkBytes: Double?
    public var bulkSeconds: Double?
    public var cpuSecondsBulk: Double?
    /// CPU spent by each process on the path during the bulk runs (role: client, sandbox, relay,
    /// target, probe), summed over the runs; `pathBytes` is what those runs moved.
    public var path: [String: PathCost.Spent] = [:]
    public var pathBytes: Double?
    public var pathCores: Int?
    public var latencyRuns: [LatencyProbe.Result] = []
    public var latencyP50Microseconds: Double?
    public var latencyP99Microseconds: Double?
    public var latencyFailures: Int?
    public var concurrentRuns: [ConcurrentProbe.Result] = []
    public var concurrentWallSeconds: Double?
    public var concurrentFailures: Int?
    public var peakRSSKiBConcurrent: Int?
    /// CPU spent by each process on the path during the concurrent runs (the roles of `path`, the
    /// probe's own and, remote, `delay-proxy`), summed over `concurrentPathRuns` runs.
    public var concurrentPath: [String: PathCost.Spent] = [:]
    public var concurrentPathRuns = 0
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
    if !ups.isEmpty || !downs.isEmpty {
      r.bulkBytes = Double((ups + downs).reduce(0) { $0 + $1.bytes })
      r.bulkSeconds = (ups + downs).reduce(0) { $0 + $1.seconds }
    }
    if let before, let after { r.cpuSecondsBulk = after.cpuSeconds - before.cpuSeconds }
    // The whole path, run by run: only runs with both samples and both transfers count.
    let pathBefore = runs(PathCost.Sample.self, dir + "/path-before")
    let pathAfter = runs(PathCost.Sample.self, dir + "/path-after")
    var pathBytes = 0.0
    for run in 0..<min(pathBefore.count, pathAfter.count, ups.count, downs.count) {
      var spent = PathCost.spent(before: pathBefore[run], after: pathAfter[run])
      let probe = (ups[run].cpuSeconds ?? 0) + (downs[run].cpuSeconds ?? 0)
      // The probe is one process per transfer, each single-threaded: its busiest thread is the
      // larger of the two.
      spent["probe"] = PathCost.Spent(
        cpuSeconds: probe, busiestThreadSeconds: max(ups[run].cpuSeconds ?? 0, downs[run].cpuSeconds ?? 0))
      r.path.merge(spent, uniquingKeysWith: +)
      pathBytes += Double(ups[run].bytes + downs[run].bytes)
      r.pathCores = pathAfter[run].cores
    }
    if pathBytes > 0 { r.pathBytes = pathBytes }
    r.latencyRuns = runs(LatencyProbe.Result.self, dir + "/latency")
    r.latencyP50Microseconds = median(r.latencyRuns.map(\.p50Microseconds))
    r.latencyP99Microseconds = median(r.latencyRuns.map(\.p99Microseconds))
    if !r.latencyRuns.isEmpty { r.latencyFailures = r.latencyRuns.reduce(0) { $0 + $1.failures } }
    r.concurrentRuns = runs(ConcurrentProbe.Result.self, dir + "/concurrent")
    r.concurrentWallSeconds = median(r.concurrentRuns.map(\.wallSeconds))
    if !r.concurrentRuns.isEmpty { r.concurrentFailures = r.concurrentRuns.reduce(0) { $0 + $1.failures } }
    r.peakRSSKiBConcurrent = runs(ProcessStats.Sample.self, dir + "/rss").map(\.peakRSSKiB).max()
    let concurrentBefore = runs(PathCost.Sample.self, dir + "/concurrent-path-before")
    let concurrentAfter = runs(PathCost.Sample.self, dir + "/concurrent-path-after")
    for run in 0..<min(concurrentBefore.count, concurrentAfter.count, r.concurrentRuns.count) {
      var spent = PathCost.spent(before: concurrentBefore[run], after: concurrentAfter[run])
      let probe = r.concurrentRuns[run].cpuSeconds ?? 0
      spent["probe"] = PathCost.Spent(cpuSeconds: probe, busiestThreadSeconds: probe)
      r.concurrentPath.merge(spent, uniquingKeysWith: +)
      r.concurrentPathRuns += 1
      r.pathCores = r.pathCores ?? concurrentAfter[run].cores
    }
    return r
  }

  /// The roles `make bench` samples, in table order, with what each is.
  static let roles: [(key: String, label: String)] = [
    ("client", "client (plugin or kubectl)"),
    ("sandbox", "sandbox daemon (API server + kubelet + node agent: one process)"),
    ("relay", "relay (pod process)"),
    ("target", "target (bulk-server pod)"),
    ("probe", "probe (kftray-bench bulk)"),
  ]

  /// Collects figures for one table section.
  struct Section {
    let mode: String
    var figures: [Figure] = []

    mutating func add(
      _ name: String, _ unit: String, _ ev: Double?, _ kv: Double?, _ target: String,
      _ met: ((Double, Double) -> Bool)? = nil
    ) {
      let ratio = ev.flatMap { e in kv.flatMap { k in k == 0 ? nil : e / k } }
      let ok = met.flatMap { met in ev.flatMap { e in kv.map { k in met(e, k) } } }
      figures.append(Figure(mode: mode, name: name, unit: unit, engine: ev, kubectl: kv, ratio: ratio, target: target, met: ok))
    }
  }

  /// The ratio goals of one group of rows (loopback or a remote API server): issue 17's for CPU per
  /// GiB (0.5), concurrency and throughput, the earlier ones for latency on loopback.
  struct Goals {
    var p50 = 0.6
    var p99: Double? = 0.8
    var concurrentWall = 0.7
    var throughput: Double? = 1.5
    var cpu: Double? = 0.5
  }

  static let mebibit = 8.0 * 1024 * 1024

  static func perGiB(_ r: Raw) -> Double? {
    guard let cpu = r.cpuSecondsBulk, let bytes = r.bulkBytes else { return nil }
    return PathCost.perGiB(cpu, bytes: bytes)
  }

  /// The rows every group has: throughput, latency, concurrency, the client's CPU and memory.
  static func clientRows(_ section: inout Section, _ e: Raw, _ k: Raw, _ goals: Goals) {
    func ratioTarget(_ op: String, _ value: Double?) -> String { value.map { "ratio \(op) \($0)" } ?? "-" }
    let thr = goals.throughput
    section.add(
      "throughput to pod", "MiB/s", e.uploadBitsPerSecond.map { $0 / mebibit }, k.uploadBitsPerSecond.map { $0 / mebibit },
      ratioTarget(">=", thr), thr.map { goal in { $0 >= goal * $1 } })
    section.add(
      "throughput from pod", "MiB/s", e.downloadBitsPerSecond.map { $0 / mebibit },
      k.downloadBitsPerSecond.map { $0 / mebibit }, ratioTarget(">=", thr), thr.map { goal in { $0 >= goal * $1 } })
    section.add(
      "connect+echo p50", "ms", e.latencyP50Microseconds.map { $0 / 1000 }, k.latencyP50Microseconds.map { $0 / 1000 },
      ratioTarget("<=", goals.p50)
    ) { [p50 = goals.p50] in $0 <= p50 * $1 }
    section.add(
      "connect+echo p99", "ms", e.latencyP99Microseconds.map { $0 / 1000 }, k.latencyP99Microseconds.map { $0 / 1000 },
      ratioTarget("<=", goals.p99), goals.p99.map { goal in { $0 <= goal * $1 } })
    section.add(
      "latency failures", "count", e.latencyFailures.map(Double.init), k.latencyFailures.map(Double.init), "engine 0"
    ) { e, _ in e == 0 }
    let connections = (e.concurrentRuns + k.concurrentRuns).first?.connections ?? 500
    section.add(
      "\(connections) concurrent failures", "count", e.concurrentFailures.map(Double.init),
      k.concurrentFailures.map(Double.init), "engine 0"
    ) { e, _ in e == 0 }
    section.add(
      "\(connections) concurrent wall", "s", e.concurrentWallSeconds, k.concurrentWallSeconds,
      ratioTarget("<=", goals.concurrentWall)
    ) { [wall = goals.concurrentWall] in $0 <= wall * $1 }
    concurrentPathRows(&section, e, k, connections: connections)
    section.add(
      "CPU per GiB (bulk)", "s/GiB", perGiB(e), perGiB(k), ratioTarget("<=", goals.cpu), goals.cpu.map { goal in { $0 <= goal * $1 } })
    section.add(
      "peak RSS (concurrent)", "MiB", e.peakRSSKiBConcurrent.map { Double($0) / 1024 },
      k.peakRSSKiBConcurrent.map { Double($0) / 1024 }, "< 60 and < kubectl"
    ) { $0 < 60 && $0 < $1 }
  }

  /// What a concurrent run costs the path, and the wall time that leaves: a burst of connections
  /// keeps every process on the path busy at once, so on a small machine its wall time is bounded
  /// by the CPU the rest of the path needs spread over the cores (the floor if the client cost
  /// nothing), whatever the round-trip time.
  struct ConcurrentPathFigures {
    var clientPerRun: Double?
    var nonClientPerRun: Double?
    var floor: Double?
  }

  static func concurrentPathFigures(_ r: Raw) -> ConcurrentPathFigures {
    var p = ConcurrentPathFigures()
    guard r.concurrentPathRuns > 0 else { return p }
    let runs = Double(r.concurrentPathRuns)
    p.clientPerRun = r.concurrentPath["client"].map { $0.cpuSeconds / runs }
    let nonClient = r.concurrentPath.filter { $0.key != "client" }.values.reduce(0) { $0 + $1.cpuSeconds } / runs
    p.nonClientPerRun = nonClient
    if let cores = r.pathCores, cores > 0 { p.floor = nonClient / Double(cores) }
    return p
  }

  static func concurrentPathRows(_ section: inout Section, _ e: Raw, _ k: Raw, connections: Int) {
    let pe = concurrentPathFigures(e)
    let pk = concurrentPathFigures(k)
    guard pe.floor != nil || pk.floor != nil else { return }
    let name = "\(connections) concurrent"
    section.add("\(name): client CPU per run", "s", pe.clientPerRun, pk.clientPerRun, "-")
    section.add("\(name): path CPU per run, all but the client", "s", pe.nonClientPerRun, pk.nonClientPerRun, "-")
    section.add("\(name): wall floor if the client cost nothing", "s", pe.floor, pk.floor, "-")
    section.add(
      "\(name): wall / floor", "x", e.concurrentWallSeconds.flatMap { w in pe.floor.map { w / $0 } },
      k.concurrentWallSeconds.flatMap { w in pk.floor.map { w / $0 } }, "-")
  }

  /// What one client's bulk runs cost the whole path, and the ceiling that leaves.
  struct PathFigures {
    var perGiB: [String: Double] = [:]
    var nonClientPerGiB: Double?
    var wholePerGiB: Double?
    /// Bytes per second over all bulk runs (total bytes / total seconds).
    var throughput: Double?
    var ceiling: Double?
    var share: Double? { throughput.flatMap { t in ceiling.map { t / $0 } } }
  }

  static func pathFigures(_ r: Raw) -> PathFigures {
    var p = PathFigures()
    if let bulkBytes = r.bulkBytes, let seconds = r.bulkSeconds, seconds > 0 { p.throughput = bulkBytes / seconds }
    guard let bytes = r.pathBytes, bytes > 0 else { return p }
    for (role, spent) in r.path { p.perGiB[role] = PathCost.perGiB(spent.cpuSeconds, bytes: bytes) }
    let others = r.path.filter { $0.key != "client" }
    let nonClient = others.values.reduce(0) { $0 + $1.cpuSeconds }
    p.nonClientPerGiB = PathCost.perGiB(nonClient, bytes: bytes)
    p.wholePerGiB = PathCost.perGiB(r.path.values.reduce(0) { $0 + $1.cpuSeconds }, bytes: bytes)
    let busiest = others.values.map(\.busiestThreadSeconds).max() ?? 0
    p.ceiling = PathCost.ceiling(
      cores: r.pathCores ?? 1, nonClientSecondsPerByte: nonClient / bytes, busiestThreadSecondsPerByte: busiest / bytes)
    return p
  }

  /// The whole path's rows for one mode (loopback only).
  static func pathRows(_ section: inout Section, _ e: Raw, _ k: Raw, tls: TLSAnchor.Result?, throughputGoal: Double) {
    let pe = pathFigures(e)
    let pk = pathFigures(k)
    guard !e.path.isEmpty || !k.path.isEmpty else { return }
    for (role, label) in roles {
      section.add("path CPU per GiB: \(label)", "s/GiB", pe.perGiB[role], pk.perGiB[role], "-")
    }
    section.add("path CPU per GiB: all but the client", "s/GiB", pe.nonClientPerGiB, pk.nonClientPerGiB, "-")
    section.add("path CPU per GiB: whole path", "s/GiB", pe.wholePerGiB, pk.wholePerGiB, "-")
    let mib = 1024.0 * 1024
    section.add("bulk throughput, both directions", "MiB/s", pe.throughput.map { $0 / mib }, pk.throughput.map { $0 / mib }, "-")
    section.add("ceiling if the client cost nothing", "MiB/s", pe.ceiling.map { $0 / mib }, pk.ceiling.map { $0 / mib }, "-")
    // The throughput goal: 1.5x kubectl, unless the ceiling of the engine's own runs is below that.
    let wanted = pk.throughput.map { throughputGoal * $0 }
    let ceilingBinds = wanted.flatMap { w in pe.ceiling.map { $0 < w } } ?? false
    section.add(
      "share of the ceiling", "fraction", pe.share, pk.share,
      ceilingBinds ? "engine >= 0.9 (ceiling < \(throughputGoal)x kubectl)" : "throughput ratio >= \(throughputGoal) (below the ceiling)"
    ) { _, _ in
      if ceilingBinds { return (pe.share ?? 0) >= 0.9 }
      return (pe.throughput ?? 0) >= throughputGoal * (pk.throughput ?? .infinity)
    }
    if let tls {
      section.add(
        "client CPU per GiB / TLS cipher's (\(tls.evp))", "x", perGiB(e).map { $0 / tls.secondsPerGiB },
        perGiB(k).map { $0 / tls.secondsPerGiB }, "engine <= 3"
      ) { e, _ in e <= 3 }
    }
  }

  /// The physical anchors: the cipher, the bare relay, and the floor they make together for any
  /// client on this path, in units of the cipher (the unit of the `engine <= 3` goal).
  static func anchorFigures(tls: TLSAnchor.Result?, relayFloor: RelayFloor.Result?) -> [Figure] {
    var section = Section(mode: "tls")
    if let tls {
      section.add(
        "cipher \(tls.cipher): (encrypt + decrypt) / 2 per GiB, one core", "s/GiB", tls.secondsPerGiB, nil, "-")
    }
    if let relayFloor {
      section.add(
        "bare relay: recv + send between loopback sockets, one thread, no TLS, no framing", "s/GiB",
        relayFloor.secondsPerGiB, nil, "-")
    }
    if let tls, let relayFloor {
      section.add(
        "floor of any client: (bare relay + cipher) / cipher", "x", (relayFloor.secondsPerGiB + tls.secondsPerGiB) / tls.secondsPerGiB,
        nil, "-")
    }
    return section.figures
  }

  static func startupFigures(_ directory: String, mode: String) -> [Figure] {
    let proxyRuns = runs(StartupProbe.Result.self, "\(directory)/proxy")
    let manualRuns = runs(StartupProbe.Result.self, "\(directory)/manual")
    guard !proxyRuns.isEmpty || !manualRuns.isEmpty else { return [] }
    var section = Section(mode: mode)
    section.add(
      "start to first byte (median)", "ms", median(proxyRuns.compactMap(\.totalMilliseconds)),
      median(manualRuns.compactMap(\.totalMilliseconds)), "ratio <= 0.5"
    ) { $0 <= 0.5 * $1 }
    section.add(
      "first byte after pod Ready (median)", "ms", median(proxyRuns.compactMap(\.afterReadyMilliseconds)),
      median(manualRuns.compactMap(\.afterReadyMilliseconds)), "engine < 1000"
    ) { e, _ in e < 1000 }
    let failures = (proxyRuns + manualRuns).filter { $0.failure != nil }.count
    if failures > 0 {
      section.add(
        "startup failures", "count", Double(proxyRuns.filter { $0.failure != nil }.count),
        Double(manualRuns.filter { $0.failure != nil }.count), "engine 0"
      ) { e, _ in e == 0 }
    }
    return section.figures
  }

  /// `remote-<rtt>` directories, in the order of their round-trip times.
  static func remoteDirectories(_ directory: String) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return names.filter { $0.hasPrefix("remote-") }.sorted {
      (DelayProxy.parseDuration(String($0.dropFirst(7))) ?? .zero) < (DelayProxy.parseDuration(String($1.dropFirst(7))) ?? .zero)
    }
  }

  public static func build(directory: String) -> Document {
    var figures: [Figure] = []
    var raws: [String: [String: Raw]] = [:]
    var notes: [String] = []
    let tls = load(TLSAnchor.Result.self, "\(directory)/tls.json")
    let modes = ["websocket", "spdy"]
    for mode in modes {
      let e = raw("\(directory)/\(mode)/engine")
      let k = raw("\(directory)/\(mode)/kubectl")
      raws[mode] = ["engine": e, "kubectl": k]
      var section = Section(mode: mode)
      clientRows(&section, e, k, Goals())
      pathRows(&section, e, k, tls: tls, throughputGoal: 1.5)
      figures += section.figures
      notes += daemonThreadNotes(mode: mode, e, k)
    }
    let relayFloor = load(RelayFloor.Result.self, "\(directory)/relay-floor.json")
    figures += anchorFigures(tls: tls, relayFloor: relayFloor)
    figures += startupFigures("\(directory)/startup", mode: "startup")
    let idleEngine = load(ProcessStats.Sample.self, "\(directory)/idle/engine.json")
    let idleKubectl = load(ProcessStats.Sample.self, "\(directory)/idle/kubectl.json")
    if idleEngine != nil || idleKubectl != nil {
      var section = Section(mode: "idle")
      section.add(
        "RSS of a running forward, idle", "MiB", idleEngine.map { Double($0.rssKiB) / 1024 },
        idleKubectl.map { Double($0.rssKiB) / 1024 }, "-")
      figures += section.figures
    }
    for remote in remoteDirectories(directory) {
      let rtt = String(remote.dropFirst("remote-".count))
      for mode in modes {
        let e = raw("\(directory)/\(remote)/\(mode)/engine")
        let k = raw("\(directory)/\(remote)/\(mode)/kubectl")
        guard e.latencyRuns.count + e.concurrentRuns.count + e.uploadRuns.count > 0 else { continue }
        raws["\(mode) rtt \(rtt)"] = ["engine": e, "kubectl": k]
        var section = Section(mode: "\(mode) rtt \(rtt)")
        clientRows(&section, e, k, Goals(p50: 0.55, p99: nil, concurrentWall: 0.5, throughput: nil, cpu: nil))
        figures += section.figures
      }
      figures += startupFigures("\(directory)/\(remote)/startup", mode: "startup rtt \(rtt)")
    }
    return Document(figures: figures, raw: raws, tls: tls, relayFloor: relayFloor, notes: notes)
  }

  /// The sandbox daemon's CPU per GiB by thread name: its two NIO event loops serve the API server
  /// and the kubelet alike, so this splits by thread, not by component.
  static func daemonThreadNotes(mode: String, _ e: Raw, _ k: Raw) -> [String] {
    var lines: [String] = []
    for (impl, r) in [("engine", e), ("kubectl", k)] {
      guard let sandbox = r.path["sandbox"], let bytes = r.pathBytes else { continue }
      let parts = sandbox.byThreadName.sorted { $0.value > $1.value }.prefix(6).compactMap { name, seconds in
        PathCost.perGiB(seconds, bytes: bytes).map { "\(name) \(String(format: "%.3f", $0))" }
      }
      lines.append("\(mode), \(impl) runs: sandbox daemon s/GiB by thread: \(parts.joined(separator: ", "))")
    }
    return lines
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
    if !document.notes.isEmpty { lines += [""] + document.notes }
    return lines.joined(separator: "\n")
  }
}
