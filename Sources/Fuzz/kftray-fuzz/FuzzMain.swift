import Foundation
import FuzzTargets

#if canImport(Glibc)
  import Glibc
#endif

// One executable for every target. Two builds of it (see scripts/fuzz.sh):
//
// - `swift build` (no sanitizer): `kftray-fuzz replay TARGET FILE|DIR...` runs inputs through the
//   target's invariants and says which fail; `kftray-fuzz list` names the targets.
// - `swift build -Xswiftc -sanitize=fuzzer,address -Xswiftc -DKFTRAY_LIBFUZZER`: libFuzzer.
//   `kftray-fuzz TARGET [libFuzzer flags] [CORPUS...]`; an invariant violation aborts so libFuzzer
//   saves the input. libFuzzer brings its own `main`; SwiftPM links an executable's entry point as
//   `<module>_main` (it renames `main` so tests can link executables), so that is the symbol defined
//   here, and it hands control to libFuzzer through LLVMFuzzerRunDriver with the chosen target.

#if KFTRAY_LIBFUZZER
  import CLibFuzzer

  typealias Callback = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32

  /// A C callback cannot capture which target it runs, so there is one literal per target.
  func callback(_ target: FuzzTarget) -> Callback {
    switch target {
    case .spdy: return { fuzzOne(.spdy, $0, $1) }
    case .websocket: return { fuzzOne(.websocket, $0, $1) }
    case .kubeconfig: return { fuzzOne(.kubeconfig, $0, $1) }
    case .kftrayJSON: return { fuzzOne(.kftrayJSON, $0, $1) }
    case .socks5: return { fuzzOne(.socks5, $0, $1) }
    case .httpConnect: return { fuzzOne(.httpConnect, $0, $1) }
    case .relayDestination: return { fuzzOne(.relayDestination, $0, $1) }
    case .relayUDPFrames: return { fuzzOne(.relayUDPFrames, $0, $1) }
    }
  }

  func fuzzOne(_ target: FuzzTarget, _ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do { try target.run(input) } catch {
      printError("kftray-fuzz \(target.rawValue): invariant violated: \(error)\n")
      abort()
    }
    return 0
  }

  @_cdecl("kftray_fuzz_main")
  func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    let arguments = CommandLine.arguments
    if arguments.count == 2, arguments[1] == "list" {
      for target in FuzzTarget.allCases { print("\(target.rawValue)\t\(target.summary)") }
      return 0
    }
    guard arguments.count >= 2, let target = FuzzTarget(rawValue: arguments[1]) else {
      printError(Usage.text)
      return 2
    }
    // libFuzzer sees the program name and everything after the target name.
    var cStrings: [UnsafeMutablePointer<CChar>?] = ([arguments[0]] + arguments.dropFirst(2)).map { strdup($0) } + [nil]
    var count = Int32(cStrings.count - 1)
    return cStrings.withUnsafeMutableBufferPointer { buffer in
      var pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buffer.baseAddress
      return LLVMFuzzerRunDriver(&count, &pointer, callback(target))
    }
  }
#else
  @main
  struct Replay {
    static func main() {
      let arguments = Array(CommandLine.arguments.dropFirst())
      switch arguments.first {
      case "list":
        for target in FuzzTarget.allCases { print("\(target.rawValue)\t\(target.summary)") }
      case "replay" where arguments.count >= 3:
        guard let target = FuzzTarget(rawValue: arguments[1]) else {
          printError("kftray-fuzz: unknown target \(arguments[1]); see kftray-fuzz list\n")
          exit(2)
        }
        exit(replay(target, paths: Array(arguments.dropFirst(2))) ? 0 : 1)
      default:
        printError(Usage.text)
        exit(2)
      }
    }

    /// Runs every file (directories: every file below them); true when all hold.
    static func replay(_ target: FuzzTarget, paths: [String]) -> Bool {
      var failed = 0
      var total = 0
      for file in SeedFiles.expand(paths) {
        total += 1
        guard let input = SeedFiles.read(file) else {
          printError("\(file): cannot read\n")
          failed += 1
          continue
        }
        do { try target.run(input) } catch {
          print("FAIL \(file): \(error)")
          failed += 1
        }
      }
      print("\(target.rawValue): \(total - failed) of \(total) inputs hold")
      return failed == 0
    }
  }
#endif

enum Usage {
  static let text = """
    usage: kftray-fuzz list
           kftray-fuzz replay TARGET FILE|DIR...      (the plain build)
           kftray-fuzz TARGET [libFuzzer flags] [CORPUS_DIR...]   (built by scripts/fuzz.sh)

    """
}

func printError(_ text: String) {
  FileHandle.standardError.write(Data(text.utf8))
}
