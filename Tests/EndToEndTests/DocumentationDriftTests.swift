import Foundation
import TestSupport
import Testing

/// README, the man page and the completion scripts must say what `--help` says.
@Suite struct DocumentationDriftTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  static func read(_ path: String) throws -> String {
    try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
  }

  struct Dump: Decodable {
    var command: Command
    struct Command: Decodable {
      var subcommands: [Command]?
      var commandName: String
      var shouldDisplay: Bool?
      var arguments: [Argument]?
    }
    struct Argument: Decodable {
      var names: [Name]?
      var kind: String
      struct Name: Decodable {
        var kind: String
        var name: String
      }
    }
  }

  static func helpTree() throws -> [Dump.Command] {
    let r = try Binaries.run(Binaries.path("kubectl-kftray"), ["--experimental-dump-help"])
    let dump = try JSONDecoder().decode(Dump.self, from: Data(r.stdout.utf8))
    // `help` is ArgumentParser's own and documents itself.
    return (dump.command.subcommands ?? []).filter { $0.shouldDisplay != false && $0.commandName != "help" }
  }

  static func longOptions(_ command: Dump.Command) -> [String] {
    let names: [Dump.Argument.Name] = (command.arguments ?? []).flatMap { $0.names ?? [] }
    let long: [String] = names.filter { $0.kind == "long" }.map(\.name)
    return long.filter { $0 != "help" && $0 != "version" }
  }

  @Test func manPageDocumentsEveryCommandAndOption() throws {
    let man = try Self.read("man/kubectl-kftray.1")
    for command in try Self.helpTree() {
      #expect(man.contains(".B \(command.commandName)\n"), "man page lacks command \(command.commandName)")
      for option in Self.longOptions(command) {
        let roff = "\\-\\-" + option.replacingOccurrences(of: "-", with: "\\-")
        #expect(man.contains(roff), "man page lacks --\(option) (of \(command.commandName))")
      }
    }
  }

  @Test func readmeNamesEveryCommandAndConnectionFlag() throws {
    let readme = try Self.read("README.md")
    let tree = try Self.helpTree()
    for command in tree { #expect(readme.contains("`\(command.commandName)`"), "README lacks \(command.commandName)") }
    let version = try #require(tree.first { $0.commandName == "version" })
    for option in Self.longOptions(version) where !["client", "output"].contains(option) {
      #expect(readme.contains("--\(option)"), "README lacks --\(option)")
    }
  }

  @Test func completionScriptsAreCurrent() throws {
    for (shell, file) in [("bash", "completions/kubectl-kftray.bash"), ("zsh", "completions/_kubectl-kftray"), ("fish", "completions/kubectl-kftray.fish")] {
      let generated = try Binaries.run(Binaries.path("kubectl-kftray"), ["--generate-completion-script", shell]).stdout
      #expect(generated == (try Self.read(file)), "\(file) is stale: regenerate with kubectl-kftray --generate-completion-script \(shell)")
    }
  }
}
