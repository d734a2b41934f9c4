import ArgumentParser
import Foundation
import KubeClient

/// kubectl's connection flags. kubectl passes a plugin's arguments through unparsed and refuses
/// flags placed before the plugin name, so every subcommand takes them itself, with kubectl's
/// names and meaning.
public struct ConnectionOptions: ParsableArguments {
  public init() {}

  @Option(name: .customLong("kubeconfig"), help: ArgumentHelp("Path to the kubeconfig file to use (only this file; KUBECONFIG is ignored).", valueName: "path"))
  public var kubeconfig: String?

  @Option(help: ArgumentHelp("The name of the kubeconfig context to use.", valueName: "name"))
  public var context: String?

  @Option(help: ArgumentHelp("The name of the kubeconfig cluster to use.", valueName: "name"))
  public var cluster: String?

  @Option(help: ArgumentHelp("The name of the kubeconfig user to use.", valueName: "name"))
  public var user: String?

  @Option(name: [.short, .long], help: "The namespace to use (default: the context's, else \"default\").")
  public var namespace: String?

  @Option(name: [.short, .customLong("server")], help: ArgumentHelp("The address and port of the Kubernetes API server.", valueName: "address"))
  public var server: String?

  @Option(name: .customLong("certificate-authority"), help: ArgumentHelp("Path to a CA certificate file for the API server.", valueName: "path"))
  public var certificateAuthority: String?

  @Option(name: .customLong("insecure-skip-tls-verify"), help: ArgumentHelp("Do not verify the server's certificate (true/false).", valueName: "true|false"))
  public var insecureSkipTLSVerify: Bool?

  @Option(name: .customLong("tls-server-name"), help: ArgumentHelp("Server name to use for certificate validation.", valueName: "name"))
  public var tlsServerName: String?

  @Option(help: ArgumentHelp("Bearer token for authentication to the API server.", valueName: "token"))
  public var token: String?

  @Option(name: .customLong("client-certificate"), help: ArgumentHelp("Path to a client certificate file for TLS.", valueName: "path"))
  public var clientCertificate: String?

  @Option(name: .customLong("client-key"), help: ArgumentHelp("Path to a client key file for TLS.", valueName: "path"))
  public var clientKey: String?

  @Option(name: .customLong("as"), help: ArgumentHelp("Username to impersonate for the operation.", valueName: "user"))
  public var impersonateUser: String?

  @Option(name: .customLong("as-group"), help: ArgumentHelp("Group to impersonate for the operation (repeatable).", valueName: "group"))
  public var impersonateGroups: [String] = []

  @Option(name: .customLong("as-uid"), help: ArgumentHelp("UID to impersonate for the operation.", valueName: "uid"))
  public var impersonateUID: String?

  @Option(
    name: .customLong("request-timeout"),
    help: ArgumentHelp("How long to wait for a single API call: 0 (no limit), seconds (5) or a duration (1m30s).", valueName: "duration"))
  public var requestTimeout: String?

  public var overrides: ConfigOverrides {
    var o = ConfigOverrides()
    o.kubeconfig = kubeconfig
    o.context = context
    o.cluster = cluster
    o.user = user
    o.namespace = namespace
    o.server = server
    o.certificateAuthority = certificateAuthority
    o.insecureSkipTLSVerify = insecureSkipTLSVerify
    o.tlsServerName = tlsServerName
    o.token = token
    o.clientCertificate = clientCertificate
    o.clientKey = clientKey
    o.impersonateUser = impersonateUser
    o.impersonateGroups = impersonateGroups
    o.impersonateUID = impersonateUID
    o.requestTimeout = requestTimeout
    return o
  }

  /// Resolves kubeconfig and flags exactly as kubectl would, and connects a client.
  public func makeClient() throws -> KubeAPI {
    let config: ClientConfig
    do {
      config = try KubeconfigLoader().load(overrides)
    } catch {
      throw UserFacingError("\(error)")
    }
    let credentials = KubeCredentials(config: config)
    return KubeAPI(config: config, credentials: credentials, identity: ClientIdentity(userAgent: PluginVersion.userAgent))
  }
}
