import ArgumentParser
import Foundation
import KFTray

/// `kubectl kftray completion`: what krew cannot install. krew links only the plugin binary into
/// ~/.krew/bin (krew#812), but kubectl (>= 1.26) looks for `kubectl_complete-kftray` on PATH.
struct CompletionCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "completion",
    abstract: "Set up shell completion of kubectl kftray.",
    discussion: """
      kubectl (1.26 and newer) completes a plugin's arguments by running kubectl_complete-kftray from \
      PATH. `install` writes that helper next to the kubectl-kftray that is running (for krew: into \
      ~/.krew/bin); `helper` prints it. For kubectl-kftray typed directly, use \
      `kubectl-kftray --generate-completion-script bash|zsh|fish`.
      """,
    subcommands: [CompletionInstallCommand.self, CompletionHelperCommand.self])
}

/// The helper kubectl runs: it only forwards to the hidden `__complete` (CompleteCommand).
/// completions/kubectl_complete-kftray is this text (a test checks it).
enum CompletionHelper {
  static let fileName = "kubectl_complete-kftray"
  static let script = """
    #!/bin/sh
    # kubectl's plugin completion (kubectl >= 1.26) runs `kubectl_complete-kftray ARGS... WORD` for
    # `kubectl kftray ARGS... WORD<TAB>`. Put this file on PATH next to kubectl-kftray.
    exec kubectl-kftray __complete "$@"

    """
}

enum CompletionInstallError: Error, CustomStringConvertible {
  case noDirectory
  case write(path: String, reason: String)

  var description: String {
    switch self {
    case .noDirectory:
      return "cannot tell where kubectl-kftray is installed: give the directory with --dir (one on PATH, e.g. ~/.krew/bin)"
    case .write(let path, let reason):
      return "cannot write \(path): \(reason); give another directory on PATH with --dir"
    }
  }
}

struct CompletionInstallCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "install", abstract: "Write kubectl_complete-kftray next to the plugin binary, for kubectl's completion.")

  @Option(help: ArgumentHelp("The directory to write it to (default: the one kubectl-kftray runs from).", valueName: "dir"))
  var dir: String?

  func run() throws {
    var directory = dir ?? ""
    if dir == nil {
      do throws(CompletionInstallError) {
        directory = try Self.pluginDirectory()
      } catch {
        throw UserFacingError(error.description)
      }
    }
    let path = (directory as NSString).appendingPathComponent(CompletionHelper.fileName)
    do {
      try Data(CompletionHelper.script.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
      try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    } catch {
      throw UserFacingError(CompletionInstallError.write(path: path, reason: error.localizedDescription).description)
    }
    print("wrote \(path)")
    print("kubectl kftray <TAB> now completes when \(directory) is on PATH (kubectl 1.26 or newer)")
  }

  /// Where this binary was started from, not where a symlink points: krew's link in ~/.krew/bin is
  /// on PATH, its target in ~/.krew/store is not. kubectl passes the full path as argv[0]; a bare
  /// name was found on PATH.
  static func pluginDirectory(
    argv0: String = CommandLine.arguments[0], path: String = ProcessInfo.processInfo.environment["PATH"] ?? ""
  ) throws(CompletionInstallError) -> String {
    if argv0.contains("/") { return (argv0 as NSString).deletingLastPathComponent }
    for directory in path.split(separator: ":").map(String.init) where !directory.isEmpty {
      if FileManager.default.isExecutableFile(atPath: (directory as NSString).appendingPathComponent(argv0)) { return directory }
    }
    throw .noDirectory
  }
}

struct CompletionHelperCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "helper", abstract: "Print kubectl_complete-kftray, to install it yourself.")

  func run() { print(CompletionHelper.script, terminator: "") }
}
