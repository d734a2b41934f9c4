import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Produces the credentials for each request from a `ClientConfig`, with client-go's rules:
/// - bearer: the token file (re-read through a short cache) whenever it is readable, else the inline
///   token;
/// - basic: `Authorization: Basic base64(user:pass)`;
/// - a static client certificate is passed through;
/// - an exec plugin only when none of the above is configured; its output is cached until
///   `expirationTimestamp` (forever without one), and dropped after a 401 so the next request re-runs it.
public actor KubeCredentials: CredentialSource {
  private let config: ClientConfig
  private let environment: [String: String]
  private let stdinIsTerminal: Bool
  private let stderrSink: @Sendable (Data) -> Void
  private let now: @Sendable () -> Date
  private var tokenFile: TokenFileCache?
  private var execCache: ExecCredentialResult?
  private var execInFlight: Task<ExecCredentialResult, any Error>?
  /// How often the exec plugin ran; lets callers (and tests) observe caching.
  public private(set) var execRuns = 0

  /// - Parameters:
  ///   - environment: the environment exec plugins inherit (and where PATH comes from).
  ///   - stdinIsTerminal: decides `interactiveMode: IfAvailable` / `Always`; kubectl also says "no"
  ///     when stdin is in use (`-f -`).
  ///   - tokenFileMaxAge: client-go re-reads a token file after 1 minute minus 10 s of leeway.
  ///   - stderrSink: where the plugin's stderr goes (the terminal by default).
  public init(
    config: ClientConfig, environment: [String: String] = ProcessInfo.processInfo.environment,
    stdinIsTerminal: Bool = isatty(STDIN_FILENO) != 0, tokenFileMaxAge: Duration = .seconds(50),
    stderrSink: @escaping @Sendable (Data) -> Void = { FileHandle.standardError.write($0) },
    now: @escaping @Sendable () -> Date = { Date() }
  ) {
    self.config = config
    self.environment = environment
    self.stdinIsTerminal = stdinIsTerminal
    self.stderrSink = stderrSink
    self.now = now
    self.tokenFile = config.auth.bearerTokenFile.map { TokenFileCache(path: $0, maxAge: tokenFileMaxAge) }
  }

  public func credentials() async throws(CredentialError) -> RequestCredentials {
    let auth = config.auth
    var out = RequestCredentials(
      clientCertificatePEM: config.tls.clientCertificatePEM, clientKeyPEM: config.tls.clientKeyPEM)
    let hasToken = auth.bearerToken?.isEmpty == false || auth.bearerTokenFile?.isEmpty == false
    let hasBasic = auth.username?.isEmpty == false
    if hasToken && hasBasic { throw .tokenAndBasicAuth }
    if hasToken {
      let fromFile = tokenFile?.token(now: .now)
      if let token = fromFile ?? auth.bearerToken, !token.isEmpty { out.authorization = "Bearer \(token)" }
      return out
    }
    if hasBasic {
      let pair = "\(auth.username ?? ""):\(auth.password ?? "")"
      out.authorization = "Basic \(Data(pair.utf8).base64EncodedString())"
      return out
    }
    // client-go: an explicitly configured credential (e.g. --token) beats the exec plugin.
    guard let exec = auth.exec, out.clientCertificatePEM == nil else { return out }
    let result = try await execCredential(exec)
    if let token = result.token { out.authorization = "Bearer \(token)" }
    out.clientCertificatePEM = result.clientCertificatePEM
    out.clientKeyPEM = result.clientKeyPEM
    return out
  }

  public func didReceiveUnauthorized(_ used: RequestCredentials) async {
    // Only forget the credential that was rejected: if another request already refreshed it, the
    // fresh one stays (client-go's maybeRefreshCreds compares the same way).
    guard let cached = execCache else { return }
    let cachedAuthorization = cached.token.map { "Bearer \($0)" }
    if cachedAuthorization == used.authorization && cached.clientCertificatePEM == used.clientCertificatePEM {
      execCache = nil
    }
  }

  private func execCredential(_ exec: ExecConfig) async throws(CredentialError) -> ExecCredentialResult {
    if let cached = execCache, cached.expiration.map({ now() < $0 }) ?? true { return cached }
    // Concurrent requests share one plugin run instead of starting one each.
    let task: Task<ExecCredentialResult, any Error>
    if let running = execInFlight {
      task = running
    } else {
      let runner = ExecPluginRunner(
        config: exec, environment: environment, stdinIsTerminal: stdinIsTerminal, stderrSink: stderrSink)
      task = Task { try await runner.run() }
      execInFlight = task
      execRuns += 1
    }
    defer { if execInFlight == task { execInFlight = nil } }
    do {
      let result = try await task.value
      execCache = result
      return result
    } catch let error as CredentialError {
      throw error
    } catch {
      throw .execLaunchFailed(command: exec.command, reason: "\(error)")
    }
  }
}
