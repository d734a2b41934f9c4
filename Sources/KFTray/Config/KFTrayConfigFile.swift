import Foundation

/// A `proxy` entry of a kftray JSON file (the desktop app's export format, see kftray-compat §3):
/// what it asks for, with the fields an entry may leave out still unset.
public struct KFTrayProxyEntry: Sendable, Equatable {
  /// Position in the file (0-based) and alias, for messages.
  public var index: Int
  public var alias: String?
  public var target: ProxyTarget
  /// Where the relay pod runs; nil: `-n`, else the context's namespace.
  public var namespace: String?
  /// nil: the current context (kftray's placeholders `current-context` and `@current` mean the same).
  public var context: String?
  /// nil: KUBECONFIG or ~/.kube/config (kftray's `default`). A list joined with ':' is kept as given.
  public var kubeconfig: String?
  /// nil: `--address`.
  public var localAddress: String?

  /// How messages name the entry: `entry 2 (alias "db")`.
  public var label: String { "entry \(index)" + (alias.map { " (alias \"\($0)\")" } ?? "") }
}

/// An entry of another workload type: reported, never silently dropped.
public struct KFTraySkippedEntry: Sendable, Equatable {
  public var index: Int
  public var alias: String?
  public var workloadType: String
}

public struct KFTrayConfigFile: Sendable {
  public var proxies: [KFTrayProxyEntry]
  public var skipped: [KFTraySkippedEntry]

  public init(proxies: [KFTrayProxyEntry], skipped: [KFTraySkippedEntry]) {
    self.proxies = proxies
    self.skipped = skipped
  }

  /// Reads a file (`-` for standard input).
  public static func load(path: String) throws(KFTrayConfigError) -> KFTrayConfigFile {
    let data: Data?
    if path == "-" {
      data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
      data = FileManager.default.contents(atPath: path)
    }
    guard let data else { throw .unreadable(path: path) }
    return try parse(data, path: path)
  }

  /// An array of config objects, or one object, as kftray imports them. Unknown keys are ignored.
  public static func parse(_ data: Data, path: String) throws(KFTrayConfigError) -> KFTrayConfigFile {
    let root: Any
    do {
      root = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    } catch {
      throw .malformed(path: path, detail: Self.syntaxDetail(error, data: data))
    }
    let objects: [Any]
    if let array = root as? [Any] {
      objects = array
    } else if root is [String: Any] {
      objects = [root]
    } else {
      throw .notConfigs(path: path)
    }
    var file = KFTrayConfigFile(proxies: [], skipped: [])
    for (index, element) in objects.enumerated() {
      guard let object = element as? [String: Any] else {
        throw .entry(path: path, label: "entry \(index)", field: nil, problem: "is not a JSON object")
      }
      let alias = (object["alias"] as? String).flatMap { $0.isEmpty || $0 == "default-alias" ? nil : $0 }
      let label = "entry \(index)" + (alias.map { " (alias \"\($0)\")" } ?? "")
      let workload = object["workload_type"] as? String
      guard workload == "proxy" else {
        file.skipped.append(KFTraySkippedEntry(index: index, alias: alias, workloadType: workload ?? "none"))
        continue
      }
      let reader = EntryReader(object: object, path: path, label: label)
      let remoteAddress = try reader.requiredString("remote_address", placeholder: "default-remote-address")
      guard ProxyTarget.isPlausibleHost(remoteAddress) else {
        throw .entry(path: path, label: label, field: "remote_address", problem: "\"\(remoteAddress)\" is not a host name or IP address")
      }
      let remotePort = try reader.port("remote_port", required: true)!
      let localPort = try reader.port("local_port", required: false)
      let transport: TransportProtocol
      switch reader.optionalString("protocol", placeholder: "protocol")?.lowercased() {
      case nil, "tcp": transport = .tcp
      case "udp": transport = .udp
      case let other?:
        throw .entry(path: path, label: label, field: "protocol", problem: "\"\(other)\" is not tcp or udp")
      }
      var context = reader.optionalString("context", placeholder: "current-context")
      if context == "@current" { context = nil }
      let entry = KFTrayProxyEntry(
        index: index, alias: alias,
        target: ProxyTarget(
          localPort: localPort == 0 ? nil : localPort, remoteAddress: remoteAddress, remotePort: remotePort,
          transport: transport),
        namespace: reader.optionalString("namespace", placeholder: "default-namespace"),
        context: context,
        kubeconfig: reader.optionalString("kubeconfig", placeholder: "default"),
        localAddress: reader.optionalString("local_address", placeholder: nil))
      file.proxies.append(entry)
    }
    return file
  }

  /// The entries `--alias` picks, in the order given; an unknown alias is an error naming the known ones.
  public func selecting(aliases: [String], path: String) throws(KFTrayConfigError) -> [KFTrayProxyEntry] {
    guard !aliases.isEmpty else { return proxies }
    var picked: [KFTrayProxyEntry] = []
    for alias in aliases {
      guard let entry = proxies.first(where: { $0.alias == alias }) else {
        throw .unknownAlias(path: path, alias: alias, known: proxies.compactMap(\.alias))
      }
      picked.append(entry)
    }
    return picked
  }

  /// Foundation's message ("Invalid value around character 44."), with the line and column of
  /// that offset added.
  static func syntaxDetail(_ error: any Error, data: Data) -> String {
    let ns = error as NSError
    var text = (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
    if text.hasSuffix(".") { text.removeLast() }
    guard let range = text.range(of: "character "),
      let offset = Int(text[range.upperBound...].prefix(while: \.isNumber)), offset <= data.count
    else { return text }
    let prefix = data.prefix(offset)
    let line = prefix.filter { $0 == UInt8(ascii: "\n") }.count + 1
    let column = offset - (prefix.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0) + 1
    return "\(text) (line \(line), column \(column))"
  }
}

/// Reads one entry's fields, with errors that name the entry and the field.
private struct EntryReader {
  let object: [String: Any]
  let path: String
  let label: String

  func fail(_ field: String, _ problem: String) -> KFTrayConfigError {
    .entry(path: path, label: label, field: field, problem: problem)
  }

  /// A string, with kftray's stored placeholder read as missing.
  func optionalString(_ field: String, placeholder: String?) -> String? {
    guard let value = object[field] as? String, !value.isEmpty, value != placeholder else { return nil }
    return value
  }

  func requiredString(_ field: String, placeholder: String?) throws(KFTrayConfigError) -> String {
    guard object[field] != nil, !(object[field] is NSNull) else { throw fail(field, "is missing (proxy entries need it)") }
    guard let value = object[field] as? String else { throw fail(field, "must be a string") }
    guard !value.isEmpty, value != placeholder else { throw fail(field, "is empty (proxy entries need it)") }
    return value
  }

  /// A port as a number (kftray writes numbers; a numeric string is accepted too).
  func port(_ field: String, required: Bool) throws(KFTrayConfigError) -> UInt16? {
    let raw = object[field]
    if raw == nil || raw is NSNull {
      if required { throw fail(field, "is missing (proxy entries need it)") }
      return nil
    }
    var number: Int?
    if let n = raw as? NSNumber, isNumberNotBool(n) {
      number = Int(exactly: n.doubleValue)
    } else if let s = raw as? String {
      number = Int(s)
    }
    guard let number, (required ? 1 : 0)...65535 ~= number else {
      throw fail(field, "must be a port number from \(required ? 1 : 0) to 65535, got \(Self.show(raw!))")
    }
    return UInt16(number)
  }

  static func show(_ value: Any) -> String {
    if let s = value as? String { return "\"\(s)\"" }
    if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]) {
      return String(decoding: data, as: UTF8.self)
    }
    return "\(value)"
  }
}

/// NSNumber also wraps JSON booleans; a port written as `true` is an error, not 1.
private func isNumberNotBool(_ n: NSNumber) -> Bool {
  String(cString: n.objCType) != "c"
}

public enum KFTrayConfigError: Error, Sendable, Equatable, CustomStringConvertible {
  case unreadable(path: String)
  case malformed(path: String, detail: String)
  case notConfigs(path: String)
  case entry(path: String, label: String, field: String?, problem: String)
  case unknownAlias(path: String, alias: String, known: [String])
  case noProxyEntries(path: String, skipped: Int)

  public var description: String {
    switch self {
    case .unreadable(let path): return "cannot read the kftray file \(path): check the path and its permissions"
    case .malformed(let path, let detail): return "\(path) is not valid JSON: \(detail)"
    case .notConfigs(let path):
      return "\(path) holds no kftray configs: expected a JSON array of config objects, or one object"
    case .entry(let path, let label, let field, let problem):
      return "\(path): \(label)" + (field.map { ": field \"\($0)\"" } ?? "") + " \(problem)"
    case .unknownAlias(let path, let alias, let known):
      let list = known.isEmpty ? "the file's proxy entries have no alias" : "its proxy aliases are \(known.joined(separator: ", "))"
      return "\(path) has no proxy entry with alias \"\(alias)\": \(list)"
    case .noProxyEntries(let path, let skipped):
      return "\(path) has no proxy entries (workload_type \"proxy\")" + (skipped > 0 ? "; \(skipped) entries of other workload types were skipped" : "")
    }
  }
}
