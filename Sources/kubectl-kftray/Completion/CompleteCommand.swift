import ArgumentParser
import Foundation

/// The bridge for `kubectl kftray <TAB>`: kubectl runs `kubectl_complete-kftray ARGS… WORD`
/// (the helper in completions/ calls this command) and expects cobra's answer: one candidate a
/// line, `value<TAB>description`, then `:<directive>`. What to offer is `Completer`'s job.
struct CompleteCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "__complete", abstract: "Shell completion for kubectl's plugin protocol.", shouldDisplay: false)

  @Argument(parsing: .captureForPassthrough) var words: [String] = []

  func run() async throws {
    let answer = await Completer(tree: CommandTree.load()).complete(words)
    var output = ""
    for candidate in answer.candidates {
      output += candidate.description.isEmpty ? candidate.value : "\(candidate.value)\t\(candidate.description)"
      output += "\n"
    }
    output += ":\(answer.directive.rawValue)\n"
    FileHandle.standardOutput.write(Data(output.utf8))
  }
}
