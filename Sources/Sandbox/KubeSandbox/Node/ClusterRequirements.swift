import Foundation
import SandboxNetwork

/// What the real node needs from the machine, checked by `up` before it starts anything, so the user
/// reads one plain sentence instead of a server log: the cluster network's requirements, plus
/// `setpriv`, which the node agent runs containers with.
public enum ClusterRequirements {
  /// Why a cluster sandbox cannot run here, or nil when it can. `binDirectory` holds the sandbox's
  /// own programs (`kftray-testserver`).
  public static func problem(binDirectory: String) -> String? {
    do {
      try ClusterNetwork.checkRequirements(tools: .debian(testServer: binDirectory + "/kftray-testserver"))
    } catch {
      switch error {
      case .unsupportedPlatform, .needsRoot: return "\(error); or use --api-only for the API server alone"
      default: return "\(error)"
      }
    }
    if !FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") {
      return "/usr/bin/setpriv is missing; install the Debian package util-linux (scripts/install-deps.sh installs it)"
    }
    return nil
  }
}
