/// A test's own failure (a helper that timed out, a peer that misbehaved), with what happened.
public struct TestFailure: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// The name TestSupport used before `TestFailure`; EndToEndTests still use it.
public typealias SandboxError = TestFailure
