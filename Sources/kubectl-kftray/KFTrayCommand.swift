import ArgumentParser
import KFTray
import Foundation
import KubeClient

@main
struct KFTrayCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kubectl-kftray",
    abstract: "Reach addresses that only your Kubernetes cluster can reach.",
    usage: "kubectl kftray <subcommand> [options]",
    discussion: """
      Creates a short-lived relay pod in the cluster, port-forwards to it through the API server and \
      relays local traffic to the remote address. Every subcommand accepts kubectl's connection flags \
      (--kubeconfig, --context, -n, ...) after the subcommand name.
      """,
    version: PluginVersion.current,
    subcommands: [
      ProxyCommand.self, DoctorCommand.self, CleanupCommand.self, VersionCommand.self, CompletionCommand.self, CompleteCommand.self,
      ManCommand.self,
    ]
  )

  /// kubectl runs a plugin with its arguments unparsed; errors are mapped to exit codes here, in one place.
  static func main() async {
    do {
      var command = try parseAsRoot()
      if var asyncCommand = command as? AsyncParsableCommand {
        try await asyncCommand.run()
      } else {
        try command.run()
      }
    } catch let error as UserFacingError {
      try? FileHandle.standardError.write(contentsOf: Data("error: \(error.message)\n".utf8))
      Foundation.exit(error.exitCode.rawValue)
    } catch {
      exit(withError: error)
    }
  }
}
