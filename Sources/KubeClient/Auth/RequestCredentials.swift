import Foundation

/// The credentials to put on one request. Produced fresh for every request, because token files
/// are re-read and exec-plugin credentials expire.
public struct RequestCredentials: Sendable, Equatable {
  /// The whole `Authorization` header value (`Bearer …` or `Basic …`), if any.
  public var authorization: String?
  public var clientCertificatePEM: Data?
  public var clientKeyPEM: Data?

  public init(authorization: String? = nil, clientCertificatePEM: Data? = nil, clientKeyPEM: Data? = nil) {
    self.authorization = authorization
    self.clientCertificatePEM = clientCertificatePEM
    self.clientKeyPEM = clientKeyPEM
  }
}

/// Where the transport gets credentials from before each request.
public protocol CredentialSource: Sendable {
  func credentials() async throws -> RequestCredentials
  /// Called after a 401 answered a request made with `used`. Like client-go, the request is not
  /// retried; the next call to `credentials()` returns refreshed ones.
  func didReceiveUnauthorized(_ used: RequestCredentials) async
}
