import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Where the plugin writes for a person: stdout for results, stderr for progress, warnings and
/// logs. Colour and the live progress line only on a terminal, and never with NO_COLOR set
/// (https://no-color.org) or TERM=dumb.
final class Terminal: Sendable {
  let interactive: Bool
  let color: Bool
  /// Colour in results (stdout) only when stdout itself is a terminal.
  let colorOut: Bool

  init(environment: [String: String] = ProcessInfo.processInfo.environment) {
    let noColor = !(environment["NO_COLOR"] ?? "").isEmpty || environment["TERM"] == "dumb"
    interactive = isatty(STDERR_FILENO) == 1 && environment["TERM"] != "dumb"
    color = interactive && !noColor
    colorOut = isatty(STDOUT_FILENO) == 1 && !noColor
  }

  func paintOut(_ text: String, code: String) -> String {
    colorOut ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
  }

  func out(_ line: String) {
    clearProgress()
    try? FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8))
  }

  func err(_ line: String) {
    clearProgress()
    try? FileHandle.standardError.write(contentsOf: Data((line + "\n").utf8))
  }

  func warning(_ text: String) { err(paint("warning:", code: "33") + " " + text) }

  /// A line that the next output replaces (a terminal only).
  func progress(_ text: String) {
    guard interactive else { return }
    try? FileHandle.standardError.write(contentsOf: Data(("\r\u{1B}[K" + paint(text, code: "2")).utf8))
  }

  func clearProgress() {
    guard interactive else { return }
    try? FileHandle.standardError.write(contentsOf: Data("\r\u{1B}[K".utf8))
  }

  func paint(_ text: String, code: String) -> String {
    color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
  }
}

/// Delivers SIGINT, SIGTERM and SIGHUP as values instead of ending the process.
final class SignalStream: Sendable {
  let signals: AsyncStream<Int32>
  /// Kept only so the sources live as long as the stream.
  private let sources: Mutex<[any DispatchSourceSignal]>

  init(_ numbers: [Int32] = [SIGINT, SIGTERM, SIGHUP]) {
    let (stream, continuation) = AsyncStream<Int32>.makeStream()
    signals = stream
    sources = Mutex(numbers.map { number in
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number)
      source.setEventHandler { continuation.yield(number) }
      source.resume()
      return source
    })
  }

  static func name(_ number: Int32) -> String {
    switch number {
    case SIGINT: return "SIGINT"
    case SIGTERM: return "SIGTERM"
    case SIGHUP: return "SIGHUP"
    default: return "signal \(number)"
    }
  }
}
