import Foundation
import KFTray
import KubeClient

/// One completion candidate: the word, and what it is (shown by zsh and fish).
struct Candidate: Sendable, Equatable {
  var value: String
  var description = ""
}

/// cobra's ShellCompDirective bits, as kubectl passes them to the shell.
struct Directive: OptionSet, Sendable {
  let rawValue: Int
  static let `default`: Directive = []
  static let noSpace = Directive(rawValue: 2)
  static let noFileCompletion = Directive(rawValue: 4)
}

struct CompletionAnswer: Sendable {
  var candidates: [Candidate]
  var directive: Directive
}

/// Decides what the word under the cursor is (a subcommand, a flag, a flag's value or a target)
/// and asks the matching source. Never fails: a source that cannot answer offers nothing.
struct Completer: Sendable {
  let tree: CommandTree

  func complete(_ words: [String]) async -> CompletionAnswer {
    let current = words.last ?? ""
    let before = Array(words.dropLast())
    // Walk down the subcommands named so far (`completion install`).
    var level = tree.subcommands
    var found: CommandTree.Command?
    for word in before where !word.hasPrefix("-") {
      guard let next = level.first(where: { $0.name == word }) else { break }
      found = next
      level = next.subcommands
    }
    guard let command = found, command.subcommands.isEmpty else {
      let names = level.filter { $0.name.hasPrefix(current) }.map { Candidate(value: $0.name, description: $0.abstract) }
      return CompletionAnswer(candidates: names, directive: .noFileCompletion)
    }
    let line = CommandLineWords(before)
    // `--flag=partial`: the value after `=`, offered with the flag in front.
    if current.hasPrefix("--"), let equals = current.firstIndex(of: "="),
      let option = command.option(named: String(current[..<equals])), option.takesValue
    {
      let prefix = String(current[...equals])
      var answer = await values(for: option, current: String(current[current.index(after: equals)...]), line: line)
      answer.candidates = answer.candidates.map { Candidate(value: prefix + $0.value, description: $0.description) }
      return answer
    }
    if let previous = before.last, previous.hasPrefix("-"), !previous.contains("="), let option = command.option(named: previous),
      option.takesValue
    {
      return await values(for: option, current: current, line: line)
    }
    if current.hasPrefix("-") {
      return CompletionAnswer(candidates: flags(of: command, current: current), directive: .noFileCompletion)
    }
    guard command.takesArguments else { return CompletionAnswer(candidates: [], directive: .noFileCompletion) }
    let targets = await TargetSuggestions(line: line).candidates(matching: current)
    return CompletionAnswer(candidates: targets, directive: .noFileCompletion)
  }

  private func flags(of command: CommandTree.Command, current: String) -> [Candidate] {
    var result: [Candidate] = []
    for option in command.options {
      result += option.longNames.map { Candidate(value: "--\($0)", description: option.help) }
      // Short names only once the user typed a single dash, as cobra does.
      if !current.hasPrefix("--") { result += option.shortNames.map { Candidate(value: "-\($0)", description: option.help) } }
    }
    return result.filter { $0.value.hasPrefix(current) }
  }

  private func values(for option: CommandTree.Option, current: String, line: CommandLineWords) async -> CompletionAnswer {
    func offer(_ names: [String]) -> CompletionAnswer {
      CompletionAnswer(candidates: names.filter { $0.hasPrefix(current) }.map { Candidate(value: $0) }, directive: .noFileCompletion)
    }
    switch ValueKind(option) {
    case .file: return CompletionAnswer(candidates: [], directive: .default)  // the shell completes file names
    case .context: return offer(KubeconfigNames(line: line).contexts())
    case .cluster: return offer(KubeconfigNames(line: line).clusters())
    case .user: return offer(KubeconfigNames(line: line).users())
    case .namespace: return offer(await ClusterNames(line: line).namespaces())
    case .alias:
      let aliases = KFTrayFileSuggestions(line: line).entries().compactMap { entry in
        entry.alias.map { Candidate(value: $0, description: entry.target.description) }
      }
      return CompletionAnswer(candidates: aliases.filter { $0.value.hasPrefix(current) }, directive: .noFileCompletion)
    case .boolean: return offer(["true", "false"])
    case .listed(let values): return offer(values)
    case .free: return CompletionAnswer(candidates: [], directive: .noFileCompletion)
    }
  }
}

/// What an option's value is, for completion. The option names are kubectl's and the plugin's; one
/// table here rather than a guess per call site.
enum ValueKind: Equatable {
  case file, context, cluster, user, namespace, alias, boolean
  case listed([String])
  case free

  init(_ option: CommandTree.Option) {
    switch option.longNames.first {
    case "kubeconfig", "certificate-authority", "client-certificate", "client-key", "file", "patch-file": self = .file
    case "context": self = .context
    case "cluster": self = .cluster
    case "user": self = .user
    case "namespace": self = .namespace
    case "alias": self = .alias
    case "insecure-skip-tls-verify": self = .boolean
    default: self = option.allowedValues.isEmpty ? .free : .listed(option.allowedValues)
    }
  }
}
