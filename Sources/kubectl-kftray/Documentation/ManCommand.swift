import ArgumentParser
import Foundation
import KFTray

/// `kubectl-kftray __man TEMPLATE`: prints the man page filled from the parser (`make docs` writes
/// man/kubectl-kftray.1 with it). Hidden: a packaging step, not a user command.
struct ManCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "__man", abstract: "Print the man page from its template and the parser.", shouldDisplay: false)

  @Argument(help: "The template, man/kubectl-kftray.1.in.") var template: String

  func run() throws {
    guard let text = FileManager.default.contents(atPath: template).flatMap({ String(data: $0, encoding: .utf8) }) else {
      throw UserFacingError("cannot read \(template)")
    }
    do throws(ManPage.Failure) {
      print(try ManPage(tree: CommandTree.load()).render(template: text), terminator: "")
    } catch {
      throw UserFacingError(error.description)
    }
  }
}
