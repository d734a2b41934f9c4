import Testing

@testable import Benchmarks

/// The bare relay anchor: it moves every byte (the measurement throws otherwise) and reports the
/// cheapest round. No bound on its figure: it is whatever this machine's kernel costs.
@Suite struct RelayFloorTests {
  @Test func relaysEveryByteAndKeepsTheCheapestRound() throws {
    let result = try RelayFloor.measure(bytes: 8 << 20, rounds: 3, bufferBytes: 64 * 1024)
    #expect(result.roundSecondsPerGiB.count == 3)
    #expect(result.secondsPerGiB == result.roundSecondsPerGiB.min())
    #expect(result.roundSecondsPerGiB.allSatisfy { $0 > 0 })
  }

  @Test func refusesAnEmptyMeasurement() {
    #expect(throws: BenchError.self) { try RelayFloor.measure(bytes: 0) }
  }
}
