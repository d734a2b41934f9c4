import Foundation
import FuzzTargets
import Testing

/// Every committed seed and regression input (Tests/FuzzSeeds/<target>/, regressions/ included) through
/// the same entry the fuzzer runs, without the sanitizers: seeds stay valid inputs and fixed crashes
/// stay fixed. A crash here is a parser bug (or an invariant the fix forgot).
@Suite struct SeedReplayTests {
  static let seeds = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("FuzzSeeds").path

  @Test(arguments: FuzzTarget.allCases)
  func seedsAndRegressionsHold(_ target: FuzzTarget) throws {
    let files = SeedFiles.expand([Self.seeds + "/" + target.rawValue]).filter { !$0.hasSuffix(".dict") && !$0.hasSuffix(".md") }
    #expect(files.count >= 3, "\(target.rawValue): only \(files.count) seeds under \(Self.seeds)")
    for file in files {
      let input = try #require(SeedFiles.read(file), "cannot read \(file)")
      #expect(throws: Never.self, "\(file)") { try target.run(input) }
    }
  }
}
