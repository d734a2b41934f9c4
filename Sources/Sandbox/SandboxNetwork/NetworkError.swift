import Foundation

/// Why the sandbox cluster network could not be built, changed or removed, with what to do about it.
public enum NetworkError: Error, Sendable, Equatable, CustomStringConvertible {
  /// Network namespaces, veths and bridges are Linux features.
  case unsupportedPlatform
  /// Creating namespaces and links needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).
  case needsRoot
  /// The id becomes part of namespace names; it must be short and plain.
  case invalidID(String)
  /// A program the network needs is not installed.
  case toolMissing(path: String, debianPackage: String)
  /// A program ran and failed.
  case commandFailed(command: [String], status: Int32, output: String)
  /// A program could not be started at all.
  case spawnFailed(command: [String], reason: String)
  /// A seeded service or the DNS server did not start listening in time; `log` is its output.
  case serviceDidNotStart(name: String, log: String)
  /// Every pod address is in use.
  case addressPoolExhausted(cidr: String)
  /// The network was destroyed; attach a pod to a new one.
  case destroyed
  /// A file of ours (resolv.conf, state, configuration) could not be written or removed.
  case file(path: String, reason: String)

  public var description: String {
    switch self {
    case .unsupportedPlatform:
      return "the sandbox cluster network needs Linux (network namespaces, veth, bridge); this system is not Linux"
    case .needsRoot:
      return "the sandbox cluster network needs root to create network namespaces and links; run as root (e.g. sudo)"
    case let .invalidID(id):
      return "invalid network id \"\(id)\": use 1 to 12 lowercase letters or digits (it becomes part of namespace names)"
    case let .toolMissing(path, package):
      return "\(path) is missing; install the Debian package \(package) (scripts/install-deps.sh does)"
    case let .commandFailed(command, status, output):
      let text = output.trimmingCharacters(in: .whitespacesAndNewlines)
      return "`\(command.joined(separator: " "))` failed with status \(status)\(text.isEmpty ? "" : ": \(text)")"
    case let .spawnFailed(command, reason):
      return "cannot run `\(command.joined(separator: " "))`: \(reason)"
    case let .serviceDidNotStart(name, log):
      let text = log.trimmingCharacters(in: .whitespacesAndNewlines)
      return "\(name) did not start listening in the cluster network\(text.isEmpty ? "" : "; its output: \(text)")"
    case let .addressPoolExhausted(cidr):
      return "no free pod address left in \(cidr); delete pods first"
    case .destroyed:
      return "the cluster network was destroyed"
    case let .file(path, reason):
      return "\(path): \(reason)"
    }
  }
}
