import ArgumentParser
import KFTray
import Foundation
import KubeClient

/// The bridge for `kubectl kftray <TAB>`: kubectl runs `kubectl_complete-kftray ARGS… WORD`
/// (the shim in completions/ calls this command) and expects cobra's answer: one candidate a
/// line, `value<TAB>description`, then `:<directive>`.
///
/// Flags and subcommands are read from ArgumentParser's own description of the command tree
/// (the `--experimental-dump-help` document), so completion cannot drift from `--help`.
struct CompleteCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "__complete", abstract: "Shell completion for kubectl's plugin protocol.", shouldDisplay: false)

  @Argument(parsing: .captureForPassthrough) var words: [String] = []

  /// cobra's ShellCompDirective bits.
  enum Directive: Int {
    case `default` = 0
    case noFileCompletion = 4
  }

  func run() throws {
    let (candidates, directive) = complete(words)
    for candidate in candidates { print(candidate) }
    print(":\(directive.rawValue)")
  }

  func complete(_ words: [String]) -> ([String], Directive) {
    let current = words.last ?? ""
    let before = Array(words.dropLast())
    let tree = CommandTree.load()
    guard let subcommandName = before.first(where: { !$0.hasPrefix("-") }),
      let command = tree.subcommands.first(where: { $0.name == subcommandName })
    else {
      let names = tree.subcommands.filter { $0.name.hasPrefix(current) }.map { "\($0.name)\t\($0.abstract)" }
      return (names, .noFileCompletion)
    }
    if let previous = before.last, previous.hasPrefix("-"), let option = command.option(named: previous), option.takesValue {
      return values(for: option, current: current, words: before)
    }
    if current.hasPrefix("-") {
      let flags = command.options.flatMap { option in option.longNames.map { "--\($0)\t\(option.help)" } }
      return (flags.filter { $0.hasPrefix(current) }, .noFileCompletion)
    }
    return ([], .noFileCompletion)
  }

  private func values(for option: CommandTree.Option, current: String, words: [String]) -> ([String], Directive) {
    switch option.longNames.first {
    case "kubeconfig", "certificate-authority", "client-certificate", "client-key":
      return ([], .default)  // the shell completes file names
    case "context":
      var overrides = ConfigOverrides()
      if let i = words.lastIndex(of: "--kubeconfig"), i + 1 < words.count { overrides.kubeconfig = words[i + 1] }
      let names = (try? KubeconfigLoader().contextNames(overrides)) ?? []
      return (names.filter { $0.hasPrefix(current) }, .noFileCompletion)
    default:
      return (option.allowedValues.filter { $0.hasPrefix(current) }, .noFileCompletion)
    }
  }
}

/// The subset of ArgumentParser's help dump that completion needs.
struct CommandTree: Decodable {
  var subcommands: [Command]

  struct Command: Decodable {
    var name: String
    var abstract: String
    var options: [Option]

    func option(named flag: String) -> Option? {
      let bare = flag.drop { $0 == "-" }
      return options.first { $0.longNames.contains(String(bare)) || $0.shortNames.contains(String(bare)) }
    }
  }

  struct Option: Decodable {
    var longNames: [String]
    var shortNames: [String]
    var takesValue: Bool
    var help: String
    var allowedValues: [String]
  }

  /// Asks ArgumentParser for each visible subcommand's description.
  static func load() -> CommandTree {
    var commands: [Command] = []
    for type in KFTrayCommand.configuration.subcommands where type.configuration.shouldDisplay {
      let name = type._commandName
      guard let info = dump([name]) else { continue }
      let options = info.arguments.filter { $0.kind != "positional" && !$0.names.isEmpty }.map { argument in
        Option(
          longNames: argument.names.filter { $0.kind != "short" }.map(\.name),
          shortNames: argument.names.filter { $0.kind == "short" }.map(\.name),
          takesValue: argument.kind == "option",
          help: argument.abstract ?? "",
          allowedValues: argument.allValues ?? [])
      }
      commands.append(Command(name: name, abstract: info.abstract ?? "", options: options))
    }
    return CommandTree(subcommands: commands)
  }

  private struct Dump: Decodable {
    var command: Info
  }

  private struct Info: Decodable {
    var abstract: String?
    var arguments: [Argument]
  }

  private struct Argument: Decodable {
    var kind: String
    var names: [Name]
    var abstract: String?
    var allValues: [String]?
    struct Name: Decodable {
      var kind: String
      var name: String
    }
    enum CodingKeys: String, CodingKey { case kind, names, abstract, allValues }
    init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      kind = try c.decode(String.self, forKey: .kind)
      names = try c.decodeIfPresent([Name].self, forKey: .names) ?? []
      abstract = try c.decodeIfPresent(String.self, forKey: .abstract)
      allValues = try c.decodeIfPresent([String].self, forKey: .allValues)
    }
  }

  private static func dump(_ path: [String]) -> Info? {
    do {
      _ = try KFTrayCommand.parseAsRoot(path + ["--experimental-dump-help"])
      return nil
    } catch {
      let json = KFTrayCommand.fullMessage(for: error)
      return try? JSONDecoder().decode(Dump.self, from: Data(json.utf8)).command
    }
  }
}
