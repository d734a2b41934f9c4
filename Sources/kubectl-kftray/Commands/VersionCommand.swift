import ArgumentParser
import KFTray
import Foundation
import KubeClient

struct VersionCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "version",
    abstract: "Print the plugin version and the API server's version.")

  @OptionGroup var connection: ConnectionOptions

  @Flag(help: "Print only the plugin version; do not contact the cluster.")
  var client = false

  @Option(name: [.short, .customLong("output")], help: "Output format: text or json.")
  var output: OutputFormat = .text

  enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case text, json }

  func run() async throws {
    var server: ServerVersion?
    if !client {
      let api = try connection.makeClient()
      defer { api.shutdown() }
      do {
        server = try await api.version()
      } catch {
        throw UserFacingError(error)
      }
    }
    switch output {
    case .text:
      print("Client Version: v\(PluginVersion.current)")
      if let server { print("Server Version: \(server.gitVersion)") }
    case .json:
      var object: [String: Any] = ["clientVersion": ["gitVersion": "v\(PluginVersion.current)"]]
      if let server {
        object["serverVersion"] = [
          "gitVersion": server.gitVersion, "major": server.major, "minor": server.minor,
          "platform": server.platform ?? "",
        ]
      }
      let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
      print(String(decoding: data, as: UTF8.self))
    }
  }
}
