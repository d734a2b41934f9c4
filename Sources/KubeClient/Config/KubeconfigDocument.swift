import Foundation
import Yams

/// A `clusters[].cluster` stanza as written, plus the file it came from (client-go's LocationOfOrigin).
struct ClusterStanza: Sendable, Equatable {
  var origin: String
  var server = ""
  var certificateAuthority = ""
  var certificateAuthorityData: Data?
  var insecureSkipTLSVerify = false
  var tlsServerName = ""
  var proxyURL = ""
  var disableCompression = false
  /// JSON of the `client.authentication.k8s.io/exec` extension, handed to exec plugins.
  var execExtension: Data?
}

struct ExecStanza: Sendable, Equatable {
  var command = ""
  var args: [String] = []
  var env: [ExecConfig.EnvVar] = []
  var apiVersion = ""
  var installHint = ""
  var provideClusterInfo = false
  var interactiveMode = ""
}

struct AuthProviderStanza: Sendable, Equatable {
  var name = ""
  var config: [String: String] = [:]
}

/// A `users[].user` stanza as written.
struct UserStanza: Sendable, Equatable {
  var origin: String?
  var clientCertificate = ""
  var clientCertificateData: Data?
  var clientKey = ""
  var clientKeyData: Data?
  var token = ""
  var tokenFile = ""
  var impersonate = ""
  var impersonateUID = ""
  var impersonateGroups: [String] = []
  var impersonateUserExtra: [String: [String]] = [:]
  var username = ""
  var password = ""
  var authProvider: AuthProviderStanza?
  var exec: ExecStanza?
}

struct ContextStanza: Sendable, Equatable {
  var origin: String
  var cluster = ""
  var user = ""
  var namespace = ""
}

/// One kubeconfig file, parsed. Lists keep file order; names are unique within a file.
struct KubeconfigDocument: Sendable, Equatable {
  var path: String
  var currentContext = ""
  var clusters: [(name: String, stanza: ClusterStanza)] = []
  var users: [(name: String, stanza: UserStanza)] = []
  var contexts: [(name: String, stanza: ContextStanza)] = []

  static func == (a: Self, b: Self) -> Bool {
    a.path == b.path && a.currentContext == b.currentContext
      && a.clusters.map(\.name) == b.clusters.map(\.name) && a.clusters.map(\.stanza) == b.clusters.map(\.stanza)
      && a.users.map(\.name) == b.users.map(\.name) && a.users.map(\.stanza) == b.users.map(\.stanza)
      && a.contexts.map(\.name) == b.contexts.map(\.name) && a.contexts.map(\.stanza) == b.contexts.map(\.stanza)
  }
}

/// Reads kubeconfig YAML the way client-go's decoder sees it. Scalars stay strings (a token of digits
/// is still a token), except booleans and nulls, which YAML 1.1 resolves like sigs.k8s.io/yaml does.
struct KubeconfigParser {
  let path: String

  static let resolver = Resolver.basic.appending(.bool).appending(.null).appending(.merge)

  func parse(_ text: String) throws(KubeconfigError) -> KubeconfigDocument {
    // Composed, checked, then constructed (what Yams.load does in one step, minus the check).
    let node: Node?
    do {
      node = try Yams.compose(yaml: text, Self.resolver)
    } catch {
      throw .invalidYAML(path: path, reason: "\(error)")
    }
    if let node { try KubeconfigYAMLShape(path: path).check(node) }
    let root = node?.any
    var doc = KubeconfigDocument(path: path)
    guard let root, !(root is NSNull) else { return doc }  // an empty file is an empty config
    let top = try map(root, "(top level)")
    doc.currentContext = try string(top["current-context"], "current-context")
    doc.clusters = try namedList(top["clusters"], list: "clusters", item: "cluster") { (body, field) throws(KubeconfigError) in
      try cluster(body, field)
    }
    doc.users = try namedList(top["users"], list: "users", item: "user") { (body, field) throws(KubeconfigError) in
      try user(body, field)
    }
    doc.contexts = try namedList(top["contexts"], list: "contexts", item: "context") { (body, field) throws(KubeconfigError) in
      try context(body, field)
    }
    return doc
  }

  // MARK: - stanzas

  private func cluster(_ m: [String: Any], _ f: String) throws(KubeconfigError) -> ClusterStanza {
    var c = ClusterStanza(origin: path)
    c.server = try string(m["server"], "\(f).server")
    c.certificateAuthority = try string(m["certificate-authority"], "\(f).certificate-authority")
    c.certificateAuthorityData = try base64(m["certificate-authority-data"], "\(f).certificate-authority-data")
    c.insecureSkipTLSVerify = try bool(m["insecure-skip-tls-verify"], "\(f).insecure-skip-tls-verify")
    c.tlsServerName = try string(m["tls-server-name"], "\(f).tls-server-name")
    c.proxyURL = try string(m["proxy-url"], "\(f).proxy-url")
    c.disableCompression = try bool(m["disable-compression"], "\(f).disable-compression")
    for (index, ext) in try list(m["extensions"], "\(f).extensions").enumerated() {
      let e = try map(ext, "\(f).extensions[\(index)]")
      if try string(e["name"], "\(f).extensions[\(index)].name") == "client.authentication.k8s.io/exec",
        let body = e["extension"], !(body is NSNull)
      {
        c.execExtension = try json(body, "\(f).extensions[\(index)].extension")
      }
    }
    return c
  }

  private func user(_ m: [String: Any], _ f: String) throws(KubeconfigError) -> UserStanza {
    var u = UserStanza(origin: path)
    u.clientCertificate = try string(m["client-certificate"], "\(f).client-certificate")
    u.clientCertificateData = try base64(m["client-certificate-data"], "\(f).client-certificate-data")
    u.clientKey = try string(m["client-key"], "\(f).client-key")
    u.clientKeyData = try base64(m["client-key-data"], "\(f).client-key-data")
    u.token = try string(m["token"], "\(f).token")
    u.tokenFile = try string(m["tokenFile"], "\(f).tokenFile")
    u.impersonate = try string(m["as"], "\(f).as")
    u.impersonateUID = try string(m["as-uid"], "\(f).as-uid")
    u.impersonateGroups = try strings(m["as-groups"], "\(f).as-groups")
    if let extra = m["as-user-extra"], !(extra is NSNull) {
      for (key, values) in try map(extra, "\(f).as-user-extra") {
        u.impersonateUserExtra[key] = try strings(values, "\(f).as-user-extra.\(key)")
      }
    }
    u.username = try string(m["username"], "\(f).username")
    u.password = try string(m["password"], "\(f).password")
    if let ap = m["auth-provider"], !(ap is NSNull) {
      let a = try map(ap, "\(f).auth-provider")
      var provider = AuthProviderStanza()
      provider.name = try string(a["name"], "\(f).auth-provider.name")
      if let cfg = a["config"], !(cfg is NSNull) {
        for (key, value) in try map(cfg, "\(f).auth-provider.config") {
          provider.config[key] = try string(value, "\(f).auth-provider.config.\(key)")
        }
      }
      u.authProvider = provider
    }
    if let ex = m["exec"], !(ex is NSNull) {
      let e = try map(ex, "\(f).exec")
      var exec = ExecStanza()
      exec.command = try string(e["command"], "\(f).exec.command")
      exec.args = try strings(e["args"], "\(f).exec.args")
      for (index, item) in try list(e["env"], "\(f).exec.env").enumerated() {
        let v = try map(item, "\(f).exec.env[\(index)]")
        exec.env.append(
          ExecConfig.EnvVar(
            name: try string(v["name"], "\(f).exec.env[\(index)].name"),
            value: try string(v["value"], "\(f).exec.env[\(index)].value")))
      }
      exec.apiVersion = try string(e["apiVersion"], "\(f).exec.apiVersion")
      exec.installHint = try string(e["installHint"], "\(f).exec.installHint")
      exec.provideClusterInfo = try bool(e["provideClusterInfo"], "\(f).exec.provideClusterInfo")
      exec.interactiveMode = try string(e["interactiveMode"], "\(f).exec.interactiveMode")
      u.exec = exec
    }
    return u
  }

  private func context(_ m: [String: Any], _ f: String) throws(KubeconfigError) -> ContextStanza {
    var c = ContextStanza(origin: path)
    c.cluster = try string(m["cluster"], "\(f).cluster")
    c.user = try string(m["user"], "\(f).user")
    c.namespace = try string(m["namespace"], "\(f).namespace")
    return c
  }

  // MARK: - shapes

  /// A `- name: x / <item>: {...}` list. Duplicate names are an error, as in client-go's conversion.
  private func namedList<T>(
    _ value: Any?, list listName: String, item: String,
    _ body: ([String: Any], String) throws(KubeconfigError) -> T
  ) throws(KubeconfigError) -> [(name: String, stanza: T)] {
    var out: [(name: String, stanza: T)] = []
    var seen = Set<String>()
    for (index, entry) in try list(value, listName).enumerated() {
      let field = "\(listName)[\(index)]"
      let m = try map(entry, field)
      let name = try string(m["name"], "\(field).name")
      if !seen.insert(name).inserted { throw .duplicateName(path: path, list: listName, name: name) }
      let inner = m[item].flatMap { $0 is NSNull ? nil : $0 }
      let innerMap: [String: Any] = if let inner { try map(inner, "\(field).\(item)") } else { [:] }
      let stanza = try body(innerMap, "\(field).\(item)")
      out.append((name, stanza))
    }
    return out
  }

  private func map(_ value: Any, _ field: String) throws(KubeconfigError) -> [String: Any] {
    if let m = value as? [String: Any] { return m }
    if let m = value as? [AnyHashable: Any] {
      var out: [String: Any] = [:]
      for (k, v) in m { out["\(k)"] = v }
      return out
    }
    if value is NSNull { return [:] }
    throw .invalidField(path: path, field: field, reason: "expected a mapping, found \(Self.describe(value))")
  }

  private func list(_ value: Any?, _ field: String) throws(KubeconfigError) -> [Any] {
    guard let value, !(value is NSNull) else { return [] }
    if let l = value as? [Any] { return l }
    throw .invalidField(path: path, field: field, reason: "expected a list, found \(Self.describe(value))")
  }

  private func string(_ value: Any?, _ field: String) throws(KubeconfigError) -> String {
    guard let value, !(value is NSNull) else { return "" }
    if let s = value as? String { return s }
    if let b = value as? Bool { return b ? "true" : "false" }
    throw .invalidField(path: path, field: field, reason: "expected a string, found \(Self.describe(value))")
  }

  private func strings(_ value: Any?, _ field: String) throws(KubeconfigError) -> [String] {
    var out: [String] = []
    for (index, item) in try list(value, field).enumerated() { out.append(try string(item, "\(field)[\(index)]")) }
    return out
  }

  private func bool(_ value: Any?, _ field: String) throws(KubeconfigError) -> Bool {
    guard let value, !(value is NSNull) else { return false }
    if let b = value as? Bool { return b }
    throw .invalidField(path: path, field: field, reason: "expected true or false, found \(Self.describe(value))")
  }

  /// `*-data` fields: standard base64 as Go's encoding/json decodes []byte (line breaks tolerated).
  private func base64(_ value: Any?, _ field: String) throws(KubeconfigError) -> Data? {
    let text = try string(value, field).filter { $0 != "\n" && $0 != "\r" }
    if text.isEmpty { return nil }
    guard let data = Data(base64Encoded: text) else {
      throw .invalidField(path: path, field: field, reason: "illegal base64 data; *-data fields hold base64 of the PEM file")
    }
    return data
  }

  private func json(_ value: Any, _ field: String) throws(KubeconfigError) -> Data {
    guard JSONSerialization.isValidJSONObject([value]),
      let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])
    else {
      throw .invalidField(path: path, field: field, reason: "cannot be represented as JSON")
    }
    return data
  }

  private static func describe(_ value: Any) -> String {
    switch value {
    case is [Any]: return "a list"
    case is [String: Any], is [AnyHashable: Any]: return "a mapping"
    case let s as String: return "\"\(s)\""
    default: return "\(value)"
    }
  }
}
