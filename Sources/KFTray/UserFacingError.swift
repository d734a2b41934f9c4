import ArgumentParser
import KubeClient

/// A failure at run time, worded for the person at the terminal. Usage errors are
/// ArgumentParser's (exit 64); everything that goes wrong while running exits 1.
public struct UserFacingError: Error {
  public var message: String
  public var exitCode: ExitCode = .failure

  public init(_ message: String, exitCode: ExitCode = .failure) {
    self.message = message
    self.exitCode = exitCode
  }

  public init(_ error: KubeError) { self.init(error.description) }
}
