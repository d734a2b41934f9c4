import Foundation

/// Everything needed to talk to one API server: the outcome of loading kubeconfig files,
/// choosing a context and applying command-line overrides, exactly as client-go does.
///
/// The transport reads only this type; how it was produced (kubeconfig, in-cluster, flags)
/// is the loader's business.
public struct ClientConfig: Sendable, Equatable {
  public var server: ServerURL
  public var tls: TLSOptions
  public var auth: AuthOptions
  public var impersonation: Impersonation
  /// Decided once with Go's proxy rules; the transport never consults the environment itself.
  public var proxy: ProxyRoute
  public var namespace: String
  /// kubectl's `--request-timeout`: a whole-request limit for ordinary calls (not for watches or upgrades).
  public var requestTimeout: Duration?
  public var disableCompression: Bool
  /// Where this configuration came from, for error messages.
  public var origin: ConfigOrigin

  public init(
    server: ServerURL, tls: TLSOptions = TLSOptions(), auth: AuthOptions = AuthOptions(),
    impersonation: Impersonation = Impersonation(), proxy: ProxyRoute = .direct,
    namespace: String = "default", requestTimeout: Duration? = nil, disableCompression: Bool = false,
    origin: ConfigOrigin = ConfigOrigin()
  ) {
    self.server = server
    self.tls = tls
    self.auth = auth
    self.impersonation = impersonation
    self.proxy = proxy
    self.namespace = namespace
    self.requestTimeout = requestTimeout
    self.disableCompression = disableCompression
    self.origin = origin
  }
}

/// The API server's base address. A path prefix (Rancher and other proxies) is kept;
/// query and fragment are dropped, as client-go does.
public struct ServerURL: Sendable, Equatable, CustomStringConvertible {
  public enum Scheme: String, Sendable { case http, https }

  public var scheme: Scheme
  /// Without brackets, also for IPv6 literals.
  public var host: String
  public var port: Int
  /// Empty, or starting with "/" and without a trailing slash.
  public var pathPrefix: String

  public init(scheme: Scheme, host: String, port: Int, pathPrefix: String = "") {
    self.scheme = scheme
    self.host = host
    self.port = port
    self.pathPrefix = pathPrefix
  }

  /// `host:port`, with brackets around an IPv6 literal: the form of a Host header.
  public var authority: String {
    let h = host.contains(":") ? "[\(host)]" : host
    return "\(h):\(port)"
  }

  public var description: String { "\(scheme.rawValue)://\(authority)\(pathPrefix)" }
}

public struct TLSOptions: Sendable, Equatable {
  /// When set, only these roots are trusted (client-go's RootCAs), never the system store.
  public var certificateAuthorityPEM: Data?
  public var insecureSkipVerify: Bool
  /// SNI and the name the server certificate is verified against.
  public var serverName: String?
  /// A static client certificate from kubeconfig or flags (exec plugins may supply one at run time).
  public var clientCertificatePEM: Data?
  public var clientKeyPEM: Data?

  public init(
    certificateAuthorityPEM: Data? = nil, insecureSkipVerify: Bool = false, serverName: String? = nil,
    clientCertificatePEM: Data? = nil, clientKeyPEM: Data? = nil
  ) {
    self.certificateAuthorityPEM = certificateAuthorityPEM
    self.insecureSkipVerify = insecureSkipVerify
    self.serverName = serverName
    self.clientCertificatePEM = clientCertificatePEM
    self.clientKeyPEM = clientKeyPEM
  }
}

public struct AuthOptions: Sendable, Equatable {
  public var bearerToken: String?
  /// Re-read at request time and preferred over `bearerToken` whenever readable (client-go's rule).
  public var bearerTokenFile: String?
  public var username: String?
  public var password: String?
  /// Only used when no token, basic or client-certificate credentials are configured.
  public var exec: ExecConfig?

  public init(
    bearerToken: String? = nil, bearerTokenFile: String? = nil, username: String? = nil,
    password: String? = nil, exec: ExecConfig? = nil
  ) {
    self.bearerToken = bearerToken
    self.bearerTokenFile = bearerTokenFile
    self.username = username
    self.password = password
    self.exec = exec
  }
}

public struct Impersonation: Sendable, Equatable {
  public var user: String?
  public var uid: String?
  public var groups: [String]
  public var extra: [String: [String]]

  public init(user: String? = nil, uid: String? = nil, groups: [String] = [], extra: [String: [String]] = [:]) {
    self.user = user
    self.uid = uid
    self.groups = groups
    self.extra = extra
  }

  public var isEmpty: Bool { user == nil && uid == nil && groups.isEmpty && extra.isEmpty }
}

/// How to reach the API server: directly, or through one proxy URL that libcurl understands
/// (`http://`, `https://`, `socks5h://`; kubeconfig's `socks5://` is already mapped to `socks5h://`).
public enum ProxyRoute: Sendable, Equatable {
  case direct
  case proxy(String)
}

public struct ConfigOrigin: Sendable, Equatable {
  public var contextName: String?
  public var clusterName: String?
  public var userName: String?
  /// The kubeconfig files that were read, in order; empty for in-cluster or flag-only configs.
  public var files: [String]
  public var inCluster: Bool

  public init(
    contextName: String? = nil, clusterName: String? = nil, userName: String? = nil, files: [String] = [],
    inCluster: Bool = false
  ) {
    self.contextName = contextName
    self.clusterName = clusterName
    self.userName = userName
    self.files = files
    self.inCluster = inCluster
  }
}
