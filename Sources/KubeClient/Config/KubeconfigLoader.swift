import Foundation

/// Loads kubeconfig files and applies kubectl's global flags exactly as kubectl (client-go's
/// `DeferredLoadingClientConfig`) does, producing the `ClientConfig` the transport consumes.
///
/// Everything the outside world contributes (environment, home directory, working directory, the
/// service-account directory) is injected, so the same loader is hermetic in tests.
public struct KubeconfigLoader: Sendable {
  public var environment: [String: String]
  public var homeDirectory: String
  /// Where in-cluster credentials live (`token`, `ca.crt`, `namespace`).
  public var serviceAccountDirectory: String
  /// Base for relative `--kubeconfig`, KUBECONFIG entries and flag paths.
  public var workingDirectory: String

  public static let defaultServiceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

  public init(
    environment: [String: String] = ProcessInfo.processInfo.environment, homeDirectory: String? = nil,
    serviceAccountDirectory: String = KubeconfigLoader.defaultServiceAccountDirectory,
    workingDirectory: String = FileManager.default.currentDirectoryPath
  ) {
    self.environment = environment
    // client-go's homedir.HomeDir: $HOME first.
    self.homeDirectory = homeDirectory ?? environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
    self.serviceAccountDirectory = serviceAccountDirectory
    self.workingDirectory = workingDirectory
  }

  // MARK: - Public entry points

  /// The full pipeline: files, merge, context/cluster/user choice, flag overrides, validation,
  /// in-cluster fallback, file contents read into memory.
  public func load(_ overrides: ConfigOverrides = ConfigOverrides()) throws(KubeconfigError) -> ClientConfig {
    let merged = try readFiles(overrides)
    let timeout = try overrides.requestTimeout.map { (t) throws(KubeconfigError) in try RequestTimeout.parse(t) } ?? nil
    let selection = try select(merged, overrides)

    // kubectl falls back to in-cluster only when kubeconfig + flags give nothing but the defaults.
    let onlyDefaults =
      selection.cluster == nil && overrides.server.nonEmpty == nil && overrides.certificateAuthority.nonEmpty == nil
      && overrides.insecureSkipTLSVerify != true && overrides.tlsServerName.nonEmpty == nil
      && overrides.impersonateUser.nonEmpty == nil && (overrides.impersonateGroups ?? []).isEmpty
      && overrides.impersonateUID.nonEmpty == nil && timeout == nil
    if onlyDefaults, let inCluster = inClusterEnvironment() {
      return try inCluster.clientConfig(overrides, namespace: namespace(overrides, merged: merged, selection: selection))
    }

    let cluster = try effectiveCluster(selection, overrides)
    let user = effectiveUser(selection, overrides)
    let clusterLoc = StanzaLocation(kind: .cluster, name: selection.clusterName, file: selection.cluster?.origin)
    let userLoc = StanzaLocation(kind: .user, name: selection.userName, file: selection.user?.origin)

    try UserValidation(user: user, location: userLoc).validate()
    try ClusterValidation(cluster: cluster, location: clusterLoc).validate()

    let server = try ServerURLParser.parse(cluster.server, location: selection.cluster == nil ? nil : clusterLoc)
    var config = ClientConfig(server: server)
    config.requestTimeout = timeout
    config.disableCompression = cluster.disableCompression
    config.impersonation = Impersonation(
      user: user.impersonate.isEmpty ? nil : user.impersonate,
      uid: user.impersonateUID.isEmpty ? nil : user.impersonateUID,
      groups: user.impersonateGroups, extra: user.impersonateUserExtra)
    config.proxy = ProxySelector(environment: environment).route(for: server, proxyURL: cluster.proxyURL)
    config.namespace = namespace(overrides, merged: merged, selection: selection)
    config.origin = ConfigOrigin(
      contextName: selection.contextName.isEmpty ? nil : selection.contextName,
      clusterName: selection.clusterName.isEmpty ? nil : selection.clusterName,
      userName: selection.userName.isEmpty ? nil : selection.userName, files: merged.files)

    // client-go applies TLS settings and credentials only when the server is https
    // (`IsConfigTransportTLS`); an http server gets neither, not even a token.
    if server.scheme == .https {
      if cluster.insecureSkipTLSVerify && (!cluster.certificateAuthority.isEmpty || cluster.certificateAuthorityData != nil) {
        throw .insecureWithCertificateAuthority(clusterLoc)
      }
      // `??` takes an autoclosure that would widen the typed throw, hence the explicit steps.
      var ca = cluster.certificateAuthorityData
      if ca == nil { ca = try readReferenced(cluster.certificateAuthority, field: "certificate-authority", clusterLoc) }
      var cert = user.clientCertificateData
      if cert == nil { cert = try readReferenced(user.clientCertificate, field: "client-certificate", userLoc) }
      var key = user.clientKeyData
      if key == nil { key = try readReferenced(user.clientKey, field: "client-key", userLoc) }
      config.tls = TLSOptions(
        certificateAuthorityPEM: ca, insecureSkipVerify: cluster.insecureSkipTLSVerify,
        serverName: cluster.tlsServerName.isEmpty ? nil : cluster.tlsServerName, clientCertificatePEM: cert,
        clientKeyPEM: key)
      config.auth = try authOptions(user, userLoc, cluster: cluster, caPEM: config.tls.certificateAuthorityPEM)
    }
    return config
  }

  /// Context names from the merged kubeconfig, sorted like `kubectl config get-contexts -o name`.
  /// Needs no valid cluster or user: meant for shell completion.
  public func contextNames(_ overrides: ConfigOverrides = ConfigOverrides()) throws(KubeconfigError) -> [String] {
    try readFiles(overrides).contexts.keys.sorted()
  }

  /// Cluster names from the merged kubeconfig, sorted (for `--cluster` completion).
  public func clusterNames(_ overrides: ConfigOverrides = ConfigOverrides()) throws(KubeconfigError) -> [String] {
    try readFiles(overrides).clusters.keys.sorted()
  }

  /// User names from the merged kubeconfig, sorted (for `--user` completion).
  public func userNames(_ overrides: ConfigOverrides = ConfigOverrides()) throws(KubeconfigError) -> [String] {
    try readFiles(overrides).users.keys.sorted()
  }

  /// `--context` if given, else the merged `current-context`; nil when neither is set.
  public func currentContext(_ overrides: ConfigOverrides = ConfigOverrides()) throws(KubeconfigError) -> String? {
    if let c = overrides.context.nonEmpty { return c }
    let current = try readFiles(overrides).currentContext
    return current.isEmpty ? nil : current
  }

  /// The namespace kubectl would use, without validating the cluster or user (no credentials needed):
  /// `--namespace`, else the context's namespace, else (in a pod) POD_NAMESPACE or the service
  /// account's namespace file, else "default".
  public func namespace(_ overrides: ConfigOverrides = ConfigOverrides()) throws(KubeconfigError) -> String {
    if let ns = overrides.namespace.nonEmpty { return ns }
    let merged = try readFiles(overrides)
    let name = overrides.context.nonEmpty ?? merged.currentContext
    let context = merged.contexts[name]
    return namespace(overrides, merged: merged, context: context)
  }

  // MARK: - Pipeline steps

  func readFiles(_ overrides: ConfigOverrides) throws(KubeconfigError) -> MergedKubeconfig {
    let selection = KubeconfigFileSelection.choose(
      explicitPath: overrides.kubeconfig, environment: environment, homeDirectory: homeDirectory)
    return try KubeconfigReader(workingDirectory: workingDirectory).read(selection)
  }

  struct Selection {
    var contextName: String
    var context: ContextStanza?
    var clusterName: String
    var cluster: ClusterStanza?
    var userName: String
    var user: UserStanza?
  }

  /// Context from `--context` or current-context (must exist when named); cluster and user from their
  /// flags or the context (must exist when named).
  func select(_ merged: MergedKubeconfig, _ o: ConfigOverrides) throws(KubeconfigError) -> Selection {
    let contextName = o.context.nonEmpty ?? merged.currentContext
    let context = merged.contexts[contextName]
    if !contextName.isEmpty && context == nil {
      throw .contextNotFound(name: contextName, explicit: o.context.nonEmpty != nil, files: merged.files)
    }
    let clusterName = o.cluster.nonEmpty ?? context?.cluster ?? ""
    let cluster = merged.clusters[clusterName]
    if !clusterName.isEmpty && cluster == nil {
      throw .clusterNotFound(
        name: clusterName, context: o.cluster.nonEmpty == nil ? contextName : nil, files: merged.files)
    }
    let userName = o.user.nonEmpty ?? context?.user ?? ""
    let user = merged.users[userName]
    if !userName.isEmpty && user == nil {
      throw .userNotFound(name: userName, context: o.user.nonEmpty == nil ? contextName : nil, files: merged.files)
    }
    return Selection(
      contextName: contextName, context: context, clusterName: clusterName, cluster: cluster, userName: userName,
      user: user)
  }

  /// kubectl's ClusterDefaults: `$KUBERNETES_MASTER`, else http://localhost:8080.
  var defaultServer: String {
    if let m = environment["KUBERNETES_MASTER"], !m.isEmpty { return m }
    return "http://localhost:8080"
  }

  /// The chosen cluster stanza with the cluster flags applied (client-go's `getCluster`).
  func effectiveCluster(_ s: Selection, _ o: ConfigOverrides) throws(KubeconfigError) -> ClusterStanza {
    var c = s.cluster ?? ClusterStanza(origin: "")
    if let server = o.server.nonEmpty {
      c.server = server
    } else if c.server.isEmpty {
      // No cluster at all: kubectl's default server, so later errors read like kubectl's. A cluster
      // stanza without a server is a mistake worth naming instead.
      guard s.cluster == nil else {
        throw .noServer(StanzaLocation(kind: .cluster, name: s.clusterName, file: s.cluster?.origin))
      }
      c.server = defaultServer
    }
    // --insecure-skip-tls-verify=true or --certificate-authority replace the file's CA and insecure
    // settings together, otherwise the file's CA would clash with the flag.
    if o.insecureSkipTLSVerify == true || o.certificateAuthority.nonEmpty != nil {
      c.insecureSkipTLSVerify = o.insecureSkipTLSVerify ?? false
      c.certificateAuthority = o.certificateAuthority.nonEmpty.map(absolute) ?? ""
      c.certificateAuthorityData = nil
    }
    // --server clears the file's tls-server-name unless --tls-server-name is given too: the name
    // belonged to the old server.
    if o.tlsServerName.nonEmpty != nil || o.server.nonEmpty != nil {
      c.tlsServerName = o.tlsServerName ?? ""
    }
    if o.disableCompression == true { c.disableCompression = true }
    return c
  }

  /// The chosen user stanza with the user flags applied (client-go's `getAuthInfo`).
  func effectiveUser(_ s: Selection, _ o: ConfigOverrides) -> UserStanza {
    var u = s.user ?? UserStanza(origin: nil)
    if let t = o.token.nonEmpty { u.token = t }
    if let cert = o.clientCertificate.nonEmpty {
      u.clientCertificate = absolute(cert)
      u.clientCertificateData = nil
    }
    if let key = o.clientKey.nonEmpty {
      u.clientKey = absolute(key)
      u.clientKeyData = nil
    }
    if let name = o.username.nonEmpty { u.username = name }
    if let pass = o.password.nonEmpty { u.password = pass }
    if let who = o.impersonateUser.nonEmpty { u.impersonate = who }
    if let groups = o.impersonateGroups, !groups.isEmpty { u.impersonateGroups = groups }
    if let uid = o.impersonateUID.nonEmpty { u.impersonateUID = uid }
    return u
  }

  func authOptions(_ u: UserStanza, _ loc: StanzaLocation, cluster: ClusterStanza, caPEM: Data?)
    throws(KubeconfigError) -> AuthOptions
  {
    var auth = AuthOptions()
    if !u.token.isEmpty { auth.bearerToken = u.token }
    if !u.tokenFile.isEmpty {
      // The file is kept for re-reading at request time either way; without an inline token it
      // must be readable now, as client-go reads it while building the config.
      auth.bearerTokenFile = u.tokenFile
      if auth.bearerToken == nil {
        let data = try readReferenced(u.tokenFile, field: "tokenFile", loc) ?? Data()
        auth.bearerToken = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
      }
    }
    if !u.username.isEmpty || !u.password.isEmpty {
      auth.username = u.username
      auth.password = u.password
    }
    if let provider = u.authProvider {
      switch provider.name {
      case "gcp", "azure": throw .removedAuthProvider(name: provider.name, location: loc)
      default: throw .unsupportedAuthProvider(name: provider.name, location: loc)
      }
    }
    if let exec = u.exec {
      auth.exec = try ExecConfigBuilder(stanza: exec, location: loc).build(
        cluster: cluster, caPEM: caPEM)
    }
    return auth
  }

  func namespace(_ o: ConfigOverrides, merged: MergedKubeconfig, selection: Selection) -> String {
    namespace(o, merged: merged, context: selection.context)
  }

  func namespace(_ o: ConfigOverrides, merged: MergedKubeconfig, context: ContextStanza?) -> String {
    if let ns = o.namespace.nonEmpty { return ns }
    if let ns = context?.namespace, !ns.isEmpty { return ns }
    if let inCluster = inClusterEnvironment() { return inCluster.namespace() }
    return "default"
  }

  func inClusterEnvironment() -> InClusterEnvironment? {
    InClusterEnvironment(
      environment: environment, serviceAccountDirectory: serviceAccountDirectory, workingDirectory: workingDirectory)
  }

  func absolute(_ path: String) -> String { PathResolution.absolute(path, workingDirectory: workingDirectory) }

  func readReferenced(_ path: String, field: String, _ loc: StanzaLocation) throws(KubeconfigError) -> Data? {
    try FileReading.read(path, field: field, loc)
  }
}

enum FileReading {
  /// Reads a file named by a stanza or flag; an empty path means "not configured".
  static func read(_ path: String, field: String, _ loc: StanzaLocation) throws(KubeconfigError) -> Data? {
    if path.isEmpty { return nil }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw .unreadableReferencedFile(field: field, path: path, location: loc, reason: "no such file or directory")
    }
    if isDirectory.boolValue {
      throw .unreadableReferencedFile(field: field, path: path, location: loc, reason: "is a directory")
    }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw .unreadableReferencedFile(field: field, path: path, location: loc, reason: "permission denied")
    }
    return data
  }
}
