import Foundation

/// A kubeconfig `user.exec` stanza: an external command that prints an ExecCredential.
public struct ExecConfig: Sendable, Equatable {
  public enum APIVersion: String, Sendable, Equatable {
    case v1 = "client.authentication.k8s.io/v1"
    case v1beta1 = "client.authentication.k8s.io/v1beta1"
  }

  public enum InteractiveMode: String, Sendable, Equatable {
    case never = "Never"
    case ifAvailable = "IfAvailable"
    case always = "Always"
  }

  public struct EnvVar: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
      self.name = name
      self.value = value
    }
  }

  public var apiVersion: APIVersion
  /// An absolute path when the kubeconfig named a path (resolved against the file it came from),
  /// otherwise a bare name looked up in PATH when run.
  public var command: String
  public var args: [String]
  public var env: [EnvVar]
  public var interactiveMode: InteractiveMode
  public var provideClusterInfo: Bool
  public var installHint: String?
  /// `spec.cluster` of KUBERNETES_EXEC_INFO when `provideClusterInfo` is set.
  public var cluster: ExecClusterInfo?

  public init(
    apiVersion: APIVersion, command: String, args: [String] = [], env: [EnvVar] = [],
    interactiveMode: InteractiveMode, provideClusterInfo: Bool = false, installHint: String? = nil,
    cluster: ExecClusterInfo? = nil
  ) {
    self.apiVersion = apiVersion
    self.command = command
    self.args = args
    self.env = env
    self.interactiveMode = interactiveMode
    self.provideClusterInfo = provideClusterInfo
    self.installHint = installHint
    self.cluster = cluster
  }
}

/// What client-go passes to an exec plugin about the cluster (`spec.cluster`).
public struct ExecClusterInfo: Sendable, Equatable {
  public var server: String
  public var tlsServerName: String?
  public var insecureSkipTLSVerify: Bool
  public var certificateAuthorityData: Data?
  public var proxyURL: String?
  public var disableCompression: Bool
  /// The raw JSON of the `client.authentication.k8s.io/exec` cluster extension, if any.
  public var config: Data?

  public init(
    server: String, tlsServerName: String? = nil, insecureSkipTLSVerify: Bool = false,
    certificateAuthorityData: Data? = nil, proxyURL: String? = nil, disableCompression: Bool = false,
    config: Data? = nil
  ) {
    self.server = server
    self.tlsServerName = tlsServerName
    self.insecureSkipTLSVerify = insecureSkipTLSVerify
    self.certificateAuthorityData = certificateAuthorityData
    self.proxyURL = proxyURL
    self.disableCompression = disableCompression
    self.config = config
  }
}
