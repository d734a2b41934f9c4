import Foundation

/// Why credentials could not be produced for a request. Messages say what to do.
public enum CredentialError: Error, Sendable, Equatable, CustomStringConvertible {
  /// A configuration that did not come through `KubeconfigLoader` carried both kinds.
  case tokenAndBasicAuth
  case execNotFound(command: String, installHint: String?)
  case execLaunchFailed(command: String, reason: String)
  case execFailed(command: String, exitCode: Int32, stderrTail: String)
  case execKilled(command: String, signal: Int32, stderrTail: String)
  case execInvalidOutput(command: String, reason: String)
  case execAPIVersionMismatch(command: String, configured: String, returned: String)
  case execNeedsTerminal(command: String)

  public var description: String {
    switch self {
    case .tokenAndBasicAuth:
      return "username/password or bearer token may be set, but not both; remove one from the kubeconfig user or flags"
    case .execNotFound(let command, let hint):
      var text = "exec: executable \(command) not found; install it or put it on PATH"
      if let hint, !hint.isEmpty { text += "\n\n\(hint)" }
      return text
    case .execLaunchFailed(let command, let reason):
      return "exec: could not start credential plugin \(command): \(reason); check that it is an executable file"
    case .execFailed(let command, let code, let tail):
      return "exec: executable \(command) failed with exit code \(code)\(Self.stderrSuffix(tail)); run it by hand to see what it needs (login, environment)"
    case .execKilled(let command, let signal, let tail):
      return "exec: executable \(command) was killed by signal \(signal)\(Self.stderrSuffix(tail))"
    case .execInvalidOutput(let command, let reason):
      return "exec: credential plugin \(command) printed an unusable ExecCredential: \(reason)"
    case .execAPIVersionMismatch(let command, let configured, let returned):
      return "exec plugin \(command) is configured to use API version \(configured), plugin returned version \(returned); make the kubeconfig's exec.apiVersion match the plugin"
    case .execNeedsTerminal(let command):
      return "exec plugin \(command) cannot support interactive mode: standard input is not a terminal; run from a terminal or set interactiveMode: IfAvailable/Never"
    }
  }

  private static func stderrSuffix(_ tail: String) -> String {
    let trimmed = tail.trimmingCharacters(in: .whitespacesAndNewlines)
    return trimmed.isEmpty ? "" : "; its stderr ended with:\n\(trimmed)\n"
  }
}
