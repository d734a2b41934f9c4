import ArgumentParser
import KubeClient

/// A failure at run time, worded for the person at the terminal. Usage errors are
/// ArgumentParser's (exit 64); everything that goes wrong while running exits 1.
struct UserFacingError: Error {
  var message: String
  var exitCode: ExitCode = .failure

  init(_ message: String, exitCode: ExitCode = .failure) {
    self.message = message
    self.exitCode = exitCode
  }

  init(_ error: KubeError) { self.init(error.description) }
}
