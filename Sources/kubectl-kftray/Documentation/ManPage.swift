import Foundation

/// Fills the man page template (man/kubectl-kftray.1.in): each `.\" @options WORDS` line becomes the
/// option list of that command, straight from the parser; the prose around it stays hand-written. So
/// a new flag reaches the man page with `make docs`, and a test fails until it does.
struct ManPage: Sendable {
  let tree: CommandTree

  enum Failure: Error, CustomStringConvertible {
    case unknownCommand(String)
    var description: String { "the man page template names \"\(self)\", which is not a subcommand" }
  }

  static let marker = ".\\\" @options "

  func render(template: String) throws(Failure) -> String {
    var out: [String] = []
    for line in template.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
      guard line.hasPrefix(Self.marker) else {
        out.append(line)
        continue
      }
      let spec = line.dropFirst(Self.marker.count).trimmingCharacters(in: .whitespaces)
      let options: [CommandTree.Option]
      if spec == "connection" {
        options = tree.connectionOptions
      } else {
        guard let command = tree.command(path: spec.split(separator: " ").map(String.init)) else { throw .unknownCommand(spec) }
        options = command.options.filter { option in !tree.connectionOptions.contains { $0.primaryName == option.primaryName } }
      }
      // -h/--help and --version are ArgumentParser's own, written once in the template.
      out += options.filter { !["help", "version"].contains($0.primaryName) }.flatMap(Self.entry)
    }
    return out.joined(separator: "\n")
  }

  /// `.TP`, the names (bold) with the value name (italic), then the help and its default.
  static func entry(_ option: CommandTree.Option) -> [String] {
    let names = option.shortNames.map { "\\-" + escape($0) } + option.longNames.map { "\\-\\-" + escape($0) }
    var head = ".BR " + names.map { "\"\($0)\"" }.joined(separator: " \", \" ")
    if option.takesValue {
      let value = option.allowedValues.isEmpty ? (option.valueName ?? option.primaryName) : option.allowedValues.joined(separator: "|")
      head += " \" \\fI\(escape(value))\\fR\""
    }
    var text = option.help
    var notes: [String] = []
    if option.takesValue, let value = option.defaultValue, !value.isEmpty, !text.contains("default") { notes.append("default: \(value)") }
    if option.repeatable, !text.contains("repeatable") { notes.append("repeatable") }
    if !notes.isEmpty {
      let period = text.hasSuffix(".")
      if period { text.removeLast() }
      text += " (\(notes.joined(separator: "; ")))" + (period ? "." : "")
    }
    return [".TP", head] + wrap(escape(text))
  }

  /// Lines of at most 78 bytes (mandoc -Tlint asks for 80), broken at spaces; none starts with a
  /// roff control character.
  static func wrap(_ text: String, width: Int = 78) -> [String] {
    var lines: [String] = []
    var line = ""
    for word in text.split(separator: " ") {
      if !line.isEmpty, line.utf8.count + 1 + word.utf8.count > width {
        lines.append(line)
        line = ""
      }
      line += (line.isEmpty ? "" : " ") + (line.isEmpty && (word.hasPrefix(".") || word.hasPrefix("'")) ? "\\&" : "") + word
    }
    if !line.isEmpty { lines.append(line) }
    return lines
  }

  /// roff: a backslash is `\e`, a minus is `\-`, a line must not start with a control character.
  static func escape(_ text: String) -> String {
    let escaped = text.replacingOccurrences(of: "\\", with: "\\e").replacingOccurrences(of: "-", with: "\\-")
    return escaped.hasPrefix(".") || escaped.hasPrefix("'") ? "\\&" + escaped : escaped
  }
}

extension CommandTree {
  func command(path: [String]) -> Command? {
    var level = subcommands
    var found: Command?
    for name in path {
      guard let next = level.first(where: { $0.name == name }) else { return nil }
      found = next
      level = next.subcommands
    }
    return found
  }

  /// kubectl's connection flags: the options every subcommand that talks to a cluster shares
  /// (those that take --kubeconfig), documented once in OPTIONS.
  var connectionOptions: [Option] {
    let clients = subcommands.filter { $0.option(named: "--kubeconfig") != nil }
    guard let first = clients.first else { return [] }
    return first.options.filter { option in
      !["help", "version"].contains(option.primaryName) && clients.allSatisfy { $0.options.contains { $0.primaryName == option.primaryName } }
    }
  }
}
