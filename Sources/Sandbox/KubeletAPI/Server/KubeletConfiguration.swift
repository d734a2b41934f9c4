import NIOCore

/// How a kubelet API server listens and whom it serves. The certificates come from whoever runs it
/// (the sandbox issues them from its CA), as a kubelet reads its `--tls-cert-file` and `--client-ca-file`.
public struct KubeletConfiguration: Sendable {
  public var nodeName: String
  public var host: String
  /// 0 picks a free port (see `KubeletServer.port`).
  public var port: Int
  public var servingCertificatePEM: String
  public var servingKeyPEM: String
  /// Client certificates must chain to this CA (the TLS handshake fails without one).
  public var clientCAPEM: String
  /// Users (certificate CommonName) allowed to use the API; a real kubelet asks the API server
  /// (SubjectAccessReview) and the API server's kubelet client identity is what it allows in practice.
  public var authorizedUsers: Set<String>
  /// Groups (certificate Organization) allowed as a whole, e.g. `system:masters` to let cluster admins
  /// in as RBAC would. Empty by default: only the API server's identity is served.
  public var authorizedGroups: Set<String>
  /// A port-forward connection with no frame read or written for this long is reset and closed: the
  /// runtimes' `StreamIdleTimeout` (default 4 h, spdystream's idle timer).
  public var streamIdleTimeout: TimeAmount
  /// Timing and sizing of port-forward sessions.
  public var portForward: KubeletPortForwardConfiguration
  /// How often a following log stream looks for appended bytes.
  public var logPollInterval: TimeAmount
  /// How often a following log stream checks that its container still writes the file (kubelet: 5 s).
  public var logStateCheckInterval: TimeAmount

  public init(
    nodeName: String, host: String = "127.0.0.1", port: Int = 0, servingCertificatePEM: String,
    servingKeyPEM: String, clientCAPEM: String,
    authorizedUsers: Set<String> = [KubeletServer.apiServerUser], authorizedGroups: Set<String> = [],
    streamIdleTimeout: TimeAmount = .hours(4), portForward: KubeletPortForwardConfiguration = KubeletPortForwardConfiguration(),
    logPollInterval: TimeAmount = .milliseconds(100), logStateCheckInterval: TimeAmount = .seconds(5)
  ) {
    self.nodeName = nodeName
    self.host = host
    self.port = port
    self.servingCertificatePEM = servingCertificatePEM
    self.servingKeyPEM = servingKeyPEM
    self.clientCAPEM = clientCAPEM
    self.authorizedUsers = authorizedUsers
    self.authorizedGroups = authorizedGroups
    self.streamIdleTimeout = streamIdleTimeout
    self.portForward = portForward
    self.logPollInterval = logPollInterval
    self.logStateCheckInterval = logStateCheckInterval
  }

  func authorizes(_ identity: PeerIdentity) -> Bool {
    authorizedUsers.contains(identity.user) || identity.groups.contains { authorizedGroups.contains($0) }
  }
}
