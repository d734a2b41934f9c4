import ArgumentParser
import KFTray

/// Subcommands whose issue has not landed yet. They parse kubectl's connection flags like the
/// finished ones will, so scripts written against them fail for the honest reason.
protocol NotYetBuilt: AsyncParsableCommand {
  static var plannedIn: String { get }
}

extension NotYetBuilt {
  func run() async throws {
    throw UserFacingError(
      "'kubectl kftray \(Self._commandName)' is not built yet in v\(PluginVersion.current) (\(Self.plannedIn)). "
        + "Until then, 'kubectl kftray version' checks your connection to the cluster.")
  }
}

struct CleanupCommand: NotYetBuilt {
  static let configuration = CommandConfiguration(
    commandName: "cleanup",
    abstract: "Delete relay pods left behind (not built yet).")
  static let plannedIn = "planned with the relay pod"
  @OptionGroup var connection: ConnectionOptions
}
