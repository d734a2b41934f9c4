import Foundation

/// Names one kubeconfig stanza and the file it came from, so that every error can say where to look.
public struct StanzaLocation: Sendable, Equatable, CustomStringConvertible {
  public enum Kind: String, Sendable { case cluster, user, context }
  public var kind: Kind
  public var name: String
  /// `nil` when the values came only from command-line flags.
  public var file: String?

  public init(kind: Kind, name: String, file: String?) {
    self.kind = kind
    self.name = name
    self.file = file
  }

  public var description: String {
    let n = name.isEmpty ? "\(kind.rawValue) (unnamed)" : "\(kind.rawValue) \"\(name)\""
    if let file { return "\(n) in \(file)" }
    return "\(n) (from command-line flags)"
  }
}

/// Everything that can go wrong while choosing and checking a configuration. Each message names the
/// file and stanza involved and says what to change.
public enum KubeconfigError: Error, Sendable, Equatable, CustomStringConvertible {
  case explicitFileMissing(path: String)
  case unreadableFile(path: String, reason: String)
  case invalidYAML(path: String, reason: String)
  /// A field with the wrong shape or an undecodable value (bad base64, a list where a map belongs…).
  case invalidField(path: String, field: String, reason: String)
  case duplicateName(path: String, list: String, name: String)
  case contextNotFound(name: String, explicit: Bool, files: [String])
  case clusterNotFound(name: String, context: String?, files: [String])
  case userNotFound(name: String, context: String?, files: [String])
  case noServer(StanzaLocation)
  case invalidServer(value: String, location: StanzaLocation?, reason: String)
  case certificateAuthorityFileAndData(StanzaLocation)
  case insecureWithCertificateAuthority(StanzaLocation)
  case clientCertificateWithoutKey(StanzaLocation)
  case clientKeyWithoutCertificate(StanzaLocation)
  case clientCertificateFileAndData(StanzaLocation)
  case clientKeyFileAndData(StanzaLocation)
  /// A file named by a stanza or flag (CA, client certificate, key, token file) could not be read.
  case unreadableReferencedFile(field: String, path: String, location: StanzaLocation, reason: String)
  case tokenAndBasicAuth(StanzaLocation)
  case execAndAuthProvider(StanzaLocation)
  case removedAuthProvider(name: String, location: StanzaLocation)
  case unsupportedAuthProvider(name: String, location: StanzaLocation)
  case invalidProxyURL(value: String, location: StanzaLocation, reason: String)
  case invalidExec(location: StanzaLocation, reason: String)
  case invalidRequestTimeout(String)
  case inCluster(reason: String)

  public var description: String {
    switch self {
    case .explicitFileMissing(let path):
      return "kubeconfig file \(path) given with --kubeconfig does not exist; check the path, or drop --kubeconfig to use KUBECONFIG or ~/.kube/config"
    case .unreadableFile(let path, let reason):
      return "error loading config file \"\(path)\": \(reason); fix its permissions or remove it from KUBECONFIG"
    case .invalidYAML(let path, let reason):
      return "error loading config file \"\(path)\": not valid YAML: \(reason); fix the file or remove it from KUBECONFIG"
    case .invalidField(let path, let field, let reason):
      return "error loading config file \"\(path)\": field \(field): \(reason)"
    case .duplicateName(let path, let list, let name):
      return "error loading config file \"\(path)\": duplicate name \"\(name)\" in \(list); each \(list) entry needs a unique name, remove or rename one"
    case .contextNotFound(let name, let explicit, let files):
      let how = explicit ? "given with --context" : "named by current-context"
      return "context \"\(name)\" \(how) does not exist in \(Self.list(files)); run `kubectl config get-contexts` to see the available ones"
    case .clusterNotFound(let name, let context, let files):
      let how = context.map { "named by context \"\($0)\"" } ?? "given with --cluster"
      return "cluster \"\(name)\" \(how) does not exist in \(Self.list(files)); add it or fix the name"
    case .userNotFound(let name, let context, let files):
      let how = context.map { "named by context \"\($0)\"" } ?? "given with --user"
      return "user \"\(name)\" \(how) does not exist in \(Self.list(files)); add it or fix the name"
    case .noServer(let loc):
      return "no server found for \(loc); set its `server:` field or pass --server"
    case .invalidServer(let value, let loc, let reason):
      let whereText = loc.map { " of \($0)" } ?? ""
      return "invalid server \"\(value)\"\(whereText): \(reason); use a URL such as https://host:6443 or a host:port pair"
    case .certificateAuthorityFileAndData(let loc):
      return "certificate-authority-data and certificate-authority are both specified for \(loc); keep only one"
    case .insecureWithCertificateAuthority(let loc):
      return "specifying a root certificates file with the insecure flag is not allowed (\(loc)); remove insecure-skip-tls-verify or the certificate authority"
    case .clientCertificateWithoutKey(let loc):
      return "client-key-data or client-key must be specified for \(loc) to use the clientCert authentication method"
    case .clientKeyWithoutCertificate(let loc):
      return "client-cert-data or client-cert must be specified for \(loc) to use the clientCert authentication method"
    case .clientCertificateFileAndData(let loc):
      return "client-certificate-data and client-certificate are both specified for \(loc); keep only one"
    case .clientKeyFileAndData(let loc):
      return "client-key-data and client-key are both specified for \(loc); keep only one"
    case .unreadableReferencedFile(let field, let path, let loc, let reason):
      return "unable to read \(field) \(path) for \(loc): \(reason); fix the path (relative paths are resolved against the kubeconfig file's directory) or its permissions"
    case .tokenAndBasicAuth(let loc):
      return "more than one authentication method found for \(loc); found [token basicAuth], only one is allowed: remove token or username/password"
    case .execAndAuthProvider(let loc):
      return "authProvider cannot be provided in combination with an exec plugin for \(loc); keep only one of them"
    case .removedAuthProvider(let name, let loc):
      let plugin = name == "gcp" ? "gke-gcloud-auth-plugin (https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl)" : "kubelogin (https://azure.github.io/kubelogin)"
      return "the in-tree \(name) auth-provider used by \(loc) has been removed from kubectl (1.26+); switch this user to the exec credential plugin \(plugin) and regenerate the kubeconfig"
    case .unsupportedAuthProvider(let name, let loc):
      return "auth-provider \"\(name)\" used by \(loc) is not supported; configure an exec credential plugin instead (for OIDC, e.g. kubelogin / kubectl oidc-login)"
    case .invalidProxyURL(let value, let loc, let reason):
      return "invalid 'proxy-url' \"\(value)\" for \(loc): \(reason)"
    case .invalidExec(let loc, let reason):
      return "invalid exec plugin configuration for \(loc): \(reason)"
    case .invalidRequestTimeout(let text):
      return "invalid --request-timeout \"\(text)\": timeout must be a single integer in seconds, or an integer followed by a unit (e.g. 1s | 2m | 3h), or 0 for none"
    case .inCluster(let reason):
      return "unable to load in-cluster configuration: \(reason)"
    }
  }

  private static func list(_ files: [String]) -> String {
    files.isEmpty ? "the loaded kubeconfig (no files were found)" : files.joined(separator: ", ")
  }
}
