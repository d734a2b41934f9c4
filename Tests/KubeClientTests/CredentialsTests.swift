import Foundation
import Testing

@testable import KubeClient

@Suite("Static credentials and token files")
struct CredentialsTests {
  static func config(_ auth: AuthOptions, tls: TLSOptions = TLSOptions()) -> ClientConfig {
    ClientConfig(server: ServerURL(scheme: .https, host: "k", port: 443), tls: tls, auth: auth)
  }

  @Test func tokenFileIsPreferredAndReReadAfterTheCacheAge() async throws {
    let box = try KubeconfigSandbox()
    defer { box.remove() }
    try box.write(["token": "first\n"])
    let cached = KubeCredentials(
      config: Self.config(AuthOptions(bearerToken: "inline", bearerTokenFile: box.path("token"))),
      environment: [:], stdinIsTerminal: false, tokenFileMaxAge: .seconds(3600))
    #expect(try await cached.credentials().authorization == "Bearer first")
    try box.write(["token": "second"])
    // Within the cache age the old token is still used (client-go's CachedFileTokenSource).
    #expect(try await cached.credentials().authorization == "Bearer first")

    let fresh = KubeCredentials(
      config: Self.config(AuthOptions(bearerToken: "inline", bearerTokenFile: box.path("token"))),
      environment: [:], stdinIsTerminal: false, tokenFileMaxAge: .zero)
    #expect(try await fresh.credentials().authorization == "Bearer second")
    try box.write(["token": "third"])
    #expect(try await fresh.credentials().authorization == "Bearer third")
    // A file that disappears keeps the last good token.
    try FileManager.default.removeItem(atPath: box.path("token"))
    #expect(try await fresh.credentials().authorization == "Bearer third")
  }

  @Test func unreadableTokenFileFallsBackToInlineToken() async throws {
    let creds = KubeCredentials(
      config: Self.config(AuthOptions(bearerToken: "inline", bearerTokenFile: "/nonexistent/token")),
      environment: [:], stdinIsTerminal: false)
    #expect(try await creds.credentials().authorization == "Bearer inline")
  }

  @Test func basicAuthHeader() async throws {
    let creds = KubeCredentials(
      config: Self.config(AuthOptions(username: "alice", password: "s3cret:x")), environment: [:],
      stdinIsTerminal: false)
    let expected = "Basic " + Data("alice:s3cret:x".utf8).base64EncodedString()
    #expect(try await creds.credentials().authorization == expected)
  }

  @Test func tokenAndBasicTogetherIsAnError() async throws {
    let creds = KubeCredentials(
      config: Self.config(AuthOptions(bearerToken: "t", username: "u", password: "p")), environment: [:],
      stdinIsTerminal: false)
    await #expect(throws: CredentialError.tokenAndBasicAuth) { try await creds.credentials() }
  }

  @Test func staticClientCertificatePassedThroughWithToken() async throws {
    let tls = TLSOptions(clientCertificatePEM: Data("CERT".utf8), clientKeyPEM: Data("KEY".utf8))
    let creds = KubeCredentials(
      config: Self.config(AuthOptions(bearerToken: "t"), tls: tls), environment: [:], stdinIsTerminal: false)
    let c = try await creds.credentials()
    #expect(c == RequestCredentials(authorization: "Bearer t", clientCertificatePEM: Data("CERT".utf8), clientKeyPEM: Data("KEY".utf8)))
  }

  @Test func noCredentialsConfigured() async throws {
    let creds = KubeCredentials(config: Self.config(AuthOptions()), environment: [:], stdinIsTerminal: false)
    #expect(try await creds.credentials() == RequestCredentials())
  }
}
