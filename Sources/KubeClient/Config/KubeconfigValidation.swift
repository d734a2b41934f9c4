import Foundation

/// client-go's `validateAuthInfo`, run on the user after flags were applied.
struct UserValidation {
  var user: UserStanza
  var location: StanzaLocation

  func validate() throws(KubeconfigError) {
    let u = user
    let hasCert = !u.clientCertificate.isEmpty || u.clientCertificateData != nil
    let hasKey = !u.clientKey.isEmpty || u.clientKeyData != nil
    if !u.clientCertificate.isEmpty && u.clientCertificateData != nil {
      throw .clientCertificateFileAndData(location)
    }
    if !u.clientKey.isEmpty && u.clientKeyData != nil { throw .clientKeyFileAndData(location) }
    if hasCert && !hasKey { throw .clientCertificateWithoutKey(location) }
    if hasKey && !hasCert { throw .clientKeyWithoutCertificate(location) }
    // Files must be readable even before we know whether the server is https (client-go opens them here).
    _ = try FileReading.read(u.clientCertificate, field: "client-certificate", location)
    _ = try FileReading.read(u.clientKey, field: "client-key", location)
    if !u.token.isEmpty && (!u.username.isEmpty || !u.password.isEmpty) { throw .tokenAndBasicAuth(location) }
    if let exec = u.exec {
      if u.authProvider != nil { throw .execAndAuthProvider(location) }
      _ = try ExecConfigBuilder(stanza: exec, location: location).validated()
    }
  }
}

/// client-go's `validateClusterInfo`, run on the cluster after flags were applied.
struct ClusterValidation {
  var cluster: ClusterStanza
  var location: StanzaLocation

  func validate() throws(KubeconfigError) {
    if cluster.server.isEmpty { throw .noServer(location) }
    if !cluster.proxyURL.isEmpty { try ProxyURLValidation.validate(cluster.proxyURL, location) }
    if !cluster.certificateAuthority.isEmpty && cluster.certificateAuthorityData != nil {
      throw .certificateAuthorityFileAndData(location)
    }
    _ = try FileReading.read(cluster.certificateAuthority, field: "certificate-authority", location)
  }
}

/// client-go's `parseProxyURL`: only http, https and socks5 proxies are accepted in kubeconfig.
enum ProxyURLValidation {
  static func validate(_ value: String, _ loc: StanzaLocation) throws(KubeconfigError) {
    guard let range = value.range(of: "://") else {
      throw .invalidProxyURL(
        value: value, location: loc, reason: "unsupported scheme \"\", must be http, https, or socks5")
    }
    let scheme = value[..<range.lowerBound].lowercased()
    guard ["http", "https", "socks5"].contains(scheme) else {
      throw .invalidProxyURL(
        value: value, location: loc, reason: "unsupported scheme \"\(scheme)\", must be http, https, or socks5")
    }
    if value[range.upperBound...].isEmpty {
      throw .invalidProxyURL(value: value, location: loc, reason: "no proxy host")
    }
  }
}

/// Checks a `user.exec` stanza and turns it into the transport's `ExecConfig`.
struct ExecConfigBuilder {
  var stanza: ExecStanza
  var location: StanzaLocation

  func validated() throws(KubeconfigError) -> (ExecConfig.APIVersion, ExecConfig.InteractiveMode) {
    func fail(_ reason: String) -> KubeconfigError { .invalidExec(location: location, reason: reason) }
    if stanza.command.isEmpty { throw fail("command must be specified to use exec authentication plugin") }
    if stanza.apiVersion.isEmpty {
      throw fail("apiVersion must be specified (client.authentication.k8s.io/v1 or /v1beta1)")
    }
    guard let version = ExecConfig.APIVersion(rawValue: stanza.apiVersion) else {
      throw fail(
        "apiVersion \"\(stanza.apiVersion)\" is not supported; use client.authentication.k8s.io/v1 or client.authentication.k8s.io/v1beta1 (v1alpha1 was removed)"
      )
    }
    for env in stanza.env where env.name.isEmpty {
      throw fail("env variable name must be specified (value \"\(env.value)\")")
    }
    let mode: ExecConfig.InteractiveMode
    if stanza.interactiveMode.isEmpty {
      // v1beta1 defaults to IfAvailable; v1 made the field mandatory.
      guard version == .v1beta1 else {
        throw fail("interactiveMode must be specified for \(version.rawValue): add `interactiveMode: IfAvailable` (or Never/Always)")
      }
      mode = .ifAvailable
    } else {
      guard let m = ExecConfig.InteractiveMode(rawValue: stanza.interactiveMode) else {
        throw fail("invalid interactiveMode \"\(stanza.interactiveMode)\"; use Never, IfAvailable or Always")
      }
      mode = m
    }
    return (version, mode)
  }

  func build(cluster: ClusterStanza, caPEM: Data?) throws(KubeconfigError) -> ExecConfig {
    let (version, mode) = try validated()
    var info: ExecClusterInfo?
    if stanza.provideClusterInfo {
      info = ExecClusterInfo(
        server: cluster.server, tlsServerName: cluster.tlsServerName.isEmpty ? nil : cluster.tlsServerName,
        insecureSkipTLSVerify: cluster.insecureSkipTLSVerify, certificateAuthorityData: caPEM,
        proxyURL: cluster.proxyURL.isEmpty ? nil : cluster.proxyURL, disableCompression: cluster.disableCompression,
        config: cluster.execExtension)
    }
    return ExecConfig(
      apiVersion: version, command: stanza.command, args: stanza.args, env: stanza.env, interactiveMode: mode,
      provideClusterInfo: stanza.provideClusterInfo, installHint: stanza.installHint.isEmpty ? nil : stanza.installHint,
      cluster: info)
  }
}

/// `rest.InClusterConfig` inputs: possible when KUBERNETES_SERVICE_HOST/PORT are set and the
/// service-account token is a file.
struct InClusterEnvironment {
  var host: String
  var port: String
  var serviceAccountDirectory: String
  var environment: [String: String]
  var workingDirectory: String

  init?(environment: [String: String], serviceAccountDirectory: String, workingDirectory: String) {
    guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
      let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty
    else { return nil }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: serviceAccountDirectory + "/token", isDirectory: &isDirectory),
      !isDirectory.boolValue
    else { return nil }
    self.host = host
    self.port = port
    self.serviceAccountDirectory = serviceAccountDirectory
    self.environment = environment
    self.workingDirectory = workingDirectory
  }

  var tokenPath: String { serviceAccountDirectory + "/token" }

  /// Only --server, --token and --certificate-authority apply in-cluster (client-go's
  /// `inClusterClientConfig`).
  func clientConfig(_ o: ConfigOverrides, namespace: String) throws(KubeconfigError) -> ClientConfig {
    let loc = StanzaLocation(kind: .cluster, name: "in-cluster", file: nil)
    let hostPort = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    let server = try ServerURLParser.parse(o.server.nonEmpty ?? "https://\(hostPort)", location: nil)
    guard let tokenData = FileManager.default.contents(atPath: tokenPath) else {
      throw .inCluster(reason: "cannot read the service-account token \(tokenPath); check the pod's automountServiceAccountToken")
    }
    var ca: Data?
    if let flag = o.certificateAuthority.nonEmpty {
      ca = try FileReading.read(PathResolution.absolute(flag, workingDirectory: workingDirectory), field: "certificate-authority", loc)
    } else {
      // An unreadable ca.crt only makes client-go log and use the system roots; it never goes insecure.
      ca = FileManager.default.contents(atPath: serviceAccountDirectory + "/ca.crt")
    }
    let fileToken = String(decoding: tokenData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    var config = ClientConfig(server: server)
    if server.scheme == .https {
      config.tls = TLSOptions(certificateAuthorityPEM: ca)
      config.auth = AuthOptions(bearerToken: o.token.nonEmpty ?? fileToken, bearerTokenFile: tokenPath)
    }
    config.proxy = ProxySelector(environment: environment).route(for: server)
    config.namespace = namespace
    config.origin = ConfigOrigin(inCluster: true)
    return config
  }

  /// POD_NAMESPACE (downward API), then the service account's namespace file, then "default".
  func namespace() -> String {
    if let ns = environment["POD_NAMESPACE"], !ns.isEmpty { return ns }
    if let data = FileManager.default.contents(atPath: serviceAccountDirectory + "/namespace") {
      let ns = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
      if !ns.isEmpty { return ns }
    }
    return "default"
  }
}
