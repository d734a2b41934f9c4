import ArgumentParser
import Foundation

/// The subset of ArgumentParser's help dump (`--experimental-dump-help`) that completion and the
/// man page need: every visible subcommand with its options. Read from the parser itself, so
/// neither can drift from `--help`.
struct CommandTree: Sendable {
  var subcommands: [Command]

  struct Command: Sendable {
    var name: String
    var abstract: String
    var options: [Option]
    /// Whether it takes positional arguments (proxy and doctor take targets).
    var takesArguments: Bool
    /// Nested subcommands (`completion install`).
    var subcommands: [Command] = []

    func option(named flag: String) -> Option? {
      if flag.hasPrefix("--") { return options.first { $0.longNames.contains(String(flag.dropFirst(2))) } }
      if flag.hasPrefix("-") { return options.first { $0.shortNames.contains(String(flag.dropFirst())) } }
      return nil
    }
  }

  struct Option: Sendable {
    var longNames: [String]
    var shortNames: [String]
    var takesValue: Bool
    var help: String
    var valueName: String?
    var defaultValue: String?
    var allowedValues: [String]
    var repeatable: Bool

    var primaryName: String { longNames.first ?? shortNames.first ?? "" }
  }

  /// Asks ArgumentParser for each visible subcommand's description, in declaration order.
  static func load() -> CommandTree {
    CommandTree(subcommands: commands(KFTrayCommand.configuration.subcommands, path: []))
  }

  private static func commands(_ types: [any ParsableCommand.Type], path: [String]) -> [Command] {
    var commands: [Command] = []
    for type in types where type.configuration.shouldDisplay {
      let name = type._commandName
      guard let info = dump(path + [name]) else { continue }
      let options = info.arguments.filter { $0.kind != "positional" && !$0.names.isEmpty && $0.shouldDisplay != false }.map {
        argument in
        Option(
          longNames: argument.names.filter { $0.kind != "short" }.map(\.name),
          shortNames: argument.names.filter { $0.kind == "short" }.map(\.name),
          takesValue: argument.kind == "option",
          help: argument.abstract ?? "",
          valueName: argument.valueName,
          defaultValue: argument.defaultValue,
          allowedValues: argument.allValues ?? [],
          repeatable: argument.isRepeating ?? false)
      }
      commands.append(
        Command(
          name: name, abstract: info.abstract ?? "", options: options,
          takesArguments: info.arguments.contains { $0.kind == "positional" },
          subcommands: Self.commands(type.configuration.subcommands, path: path + [name])))
    }
    return commands
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
    var valueName: String?
    var defaultValue: String?
    var isRepeating: Bool?
    var shouldDisplay: Bool?
    struct Name: Decodable {
      var kind: String
      var name: String
    }
    enum CodingKeys: String, CodingKey { case kind, names, abstract, allValues, valueName, defaultValue, isRepeating, shouldDisplay }
    init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      kind = try c.decode(String.self, forKey: .kind)
      names = try c.decodeIfPresent([Name].self, forKey: .names) ?? []
      abstract = try c.decodeIfPresent(String.self, forKey: .abstract)
      allValues = try c.decodeIfPresent([String].self, forKey: .allValues)
      valueName = try c.decodeIfPresent(String.self, forKey: .valueName)
      defaultValue = try c.decodeIfPresent(String.self, forKey: .defaultValue)
      isRepeating = try c.decodeIfPresent(Bool.self, forKey: .isRepeating)
      shouldDisplay = try c.decodeIfPresent(Bool.self, forKey: .shouldDisplay)
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
