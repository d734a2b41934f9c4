import Foundation
import Testing

@testable import Benchmarks

/// The report decides which targets are met: it has to read repeated runs the way the README says
/// (medians, CPU over all bulk runs, summed failures, the highest peak).
@Suite struct BenchReportTests {
  @Test func repeatedRunsGiveMediansSummedFailuresAndTheHighestPeak() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("bench-report-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: root) }
    func write(_ impl: String, _ name: String, _ json: String) throws {
      let dir = "\(root)/websocket/\(impl)"
      try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
      try Data(json.utf8).write(to: URL(fileURLWithPath: "\(dir)/\(name)"))
    }
    func bulk(_ direction: String, _ bps: Double) -> String {
      #"{"direction":"\#(direction)","bytes":536870912,"seconds":1,"bitsPerSecond":\#(bps)}"#
    }
    func concurrent(_ wall: Double, _ failures: Int) -> String {
      #"{"connections":500,"bytesEach":65536,"failures":\#(failures),"wallSeconds":\#(wall),"failureReasons":{}}"#
    }
    func latency(_ p50: Double, _ p99: Double, _ failures: Int) -> String {
      #"{"samples":1000,"failures":\#(failures),"p50Microseconds":\#(p50),"p99Microseconds":\#(p99),"meanMicroseconds":1}"#
    }
    func sample(_ cpu: Double, _ peak: Int) -> String { #"{"cpuSeconds":\#(cpu),"peakRSSKiB":\#(peak),"rssKiB":1}"# }
    let mib = 8.0 * 1024 * 1024
    for (impl, ups, downs, walls, peaks, cpu, p50s) in [
      ("engine", [300.0, 100, 200], [400.0, 350, 50], [0.5, 0.9, 0.6], [40_000, 61_440, 50_000], 3.0, [900.0, 500, 700]),
      ("kubectl", [200.0, 200, 210], [200.0, 190, 180], [0.7, 0.8, 0.75], [90_000, 95_000, 99_000], 6.0, [1000.0, 1200, 1500]),
    ] {
      for run in 0..<3 {
        try write(impl, "bulk-up-\(run + 1).json", bulk("to pod", ups[run] * mib))
        try write(impl, "bulk-down-\(run + 1).json", bulk("from pod", downs[run] * mib))
        try write(impl, "concurrent-\(run + 1).json", concurrent(walls[run], impl == "engine" && run == 1 ? 2 : 0))
        try write(impl, "rss-\(run + 1).json", sample(0, peaks[run]))
        try write(impl, "latency-\(run + 1).json", latency(p50s[run], p50s[run] * 3, impl == "kubectl" ? 1 : 0))
      }
      try write(impl, "cpu-before.json", sample(1, 1))
      try write(impl, "cpu-after.json", sample(1 + cpu, 1))
    }
    let figures = BenchReport.build(directory: root).figures.filter { $0.mode == "websocket" }
    func figure(_ name: String) throws -> BenchReport.Figure { try #require(figures.first { $0.name == name }) }

    #expect(try figure("throughput to pod").engine == 200)
    #expect(try figure("throughput to pod").kubectl == 200)
    #expect(try figure("throughput from pod").engine == 350)
    #expect(try figure("500 concurrent wall").engine == 0.6)
    #expect(try figure("connect+echo p50").engine == 0.7)
    #expect(try figure("connect+echo p50").kubectl == 1.2)
    #expect(try figure("connect+echo p99").engine == 2.1)
    #expect(try figure("latency failures").kubectl == 3)
    #expect(try figure("latency failures").met == true)
    #expect(try figure("500 concurrent wall").kubectl == 0.75)
    #expect(try figure("500 concurrent failures").engine == 2)
    #expect(try figure("500 concurrent failures").met == false)
    // 3 GiB moved (six runs of 512 MiB): 3 CPU seconds are 1 s/GiB, kubectl's 6 are 2.
    #expect(try figure("CPU per GiB (bulk)").engine == 1)
    #expect(try figure("CPU per GiB (bulk)").ratio == 0.5)
    #expect(try figure("CPU per GiB (bulk)").met == true)
    // The highest of the three peaks, 60 MiB exactly: not under 60.
    #expect(try figure("peak RSS (concurrent)").engine == 60)
    #expect(try figure("peak RSS (concurrent)").met == false)
  }

  @Test func medianOfAnEvenCountIsTheMeanOfTheMiddleTwo() {
    #expect(BenchReport.median([4, 1, 3, 2]) == 2.5)
    #expect(BenchReport.median([]) == nil)
  }
}
