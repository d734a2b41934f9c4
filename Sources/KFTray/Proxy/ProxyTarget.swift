/// The transport a target is forwarded with: kftray-server's `PROXY_TYPE`.
public enum TransportProtocol: String, Sendable, Equatable, CaseIterable, Codable {
  case tcp, udp
}

/// One `[LOCAL_PORT:]REMOTE_ADDRESS:REMOTE_PORT[/udp]` argument of `proxy`.
public struct ProxyTarget: Sendable, Equatable, CustomStringConvertible {
  /// nil: the remote port, when it is free and allowed here. 0: any free port.
  public var localPort: UInt16?
  /// A DNS name or an IP literal (IPv6 without brackets), resolved inside the cluster.
  public var remoteAddress: String
  public var remotePort: UInt16
  public var transport: TransportProtocol

  public init(localPort: UInt16? = nil, remoteAddress: String, remotePort: UInt16, transport: TransportProtocol = .tcp) {
    self.localPort = localPort
    self.remoteAddress = remoteAddress
    self.remotePort = remotePort
    self.transport = transport
  }

  /// `host:port`, with brackets around an IPv6 literal.
  public var remote: String {
    (remoteAddress.contains(":") ? "[\(remoteAddress)]" : remoteAddress) + ":\(remotePort)"
  }

  public var description: String {
    (localPort.map { "\($0):" } ?? "") + remote + (transport == .udp ? "/udp" : "")
  }

  /// Parses the command-line form. IPv6 literals go in brackets: `8080:[fd00::5]:80`.
  public init(parsing text: String) throws(ProxyTargetError) {
    if let scheme = text.range(of: "://") {
      throw .invalidAddress(argument: text, address: String(text[..<scheme.lowerBound]) + "://...")
    }
    var rest = Substring(text)
    var transport = TransportProtocol.tcp
    if let slash = rest.lastIndex(of: "/") {
      let name = rest[rest.index(after: slash)...].lowercased()
      guard let parsed = TransportProtocol(rawValue: name) else {
        throw .unknownProtocol(argument: text, protocol: String(rest[rest.index(after: slash)...]))
      }
      transport = parsed
      rest = rest[..<slash]
    }
    var parts: [Substring] = []
    if let open = rest.firstIndex(of: "[") {
      guard let close = rest[open...].firstIndex(of: "]") else { throw .syntax(argument: text) }
      let before = rest[..<open]
      let host = rest[rest.index(after: open)..<close]
      let after = rest[rest.index(after: close)...]
      guard after.hasPrefix(":"), host.contains(":") else { throw .syntax(argument: text) }
      if !before.isEmpty {
        guard before.hasSuffix(":") else { throw .syntax(argument: text) }
        parts.append(before.dropLast())
      }
      parts.append(host)
      parts.append(after.dropFirst())
    } else {
      parts = rest.split(separator: ":", omittingEmptySubsequences: false)
    }
    guard parts.count == 2 || parts.count == 3 else { throw .syntax(argument: text) }
    let host = String(parts[parts.count - 2])
    guard Self.isPlausibleHost(host) else { throw .invalidAddress(argument: text, address: host) }
    let remotePort = try Self.port(parts[parts.count - 1], argument: text, role: "remote", allowZero: false)
    var localPort: UInt16?
    if parts.count == 3 {
      localPort = parts[0].isEmpty ? 0 : try Self.port(parts[0], argument: text, role: "local", allowZero: true)
    }
    self.init(localPort: localPort, remoteAddress: host, remotePort: remotePort, transport: transport)
  }

  static func port(_ text: Substring, argument: String, role: String, allowZero: Bool) throws(ProxyTargetError) -> UInt16 {
    guard !text.isEmpty, text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber) else {
      throw .invalidPort(argument: argument, role: role, value: String(text))
    }
    guard let value = Int(text), value <= 65535, value > 0 || allowZero else {
      throw .portOutOfRange(argument: argument, role: role, value: String(text))
    }
    return UInt16(value)
  }

  /// A DNS name (labels of letters, digits, '-', '_') or an IP literal. The cluster resolves it;
  /// this only keeps obvious typos (spaces, a URL, an empty name) from reaching a pod.
  static func isPlausibleHost(_ host: String) -> Bool {
    guard !host.isEmpty, host.utf8.count <= 253 else { return false }
    if host.contains(":") { return host.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." } }
    let labels = host.hasSuffix(".") ? host.dropLast().split(separator: ".", omittingEmptySubsequences: false)
      : host.split(separator: ".", omittingEmptySubsequences: false)
    return labels.allSatisfy { label in
      !label.isEmpty && label.count <= 63 && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        && !label.hasPrefix("-") && !label.hasSuffix("-")
    }
  }
}

public enum ProxyTargetError: Error, Sendable, Equatable, CustomStringConvertible {
  case syntax(argument: String)
  case invalidAddress(argument: String, address: String)
  case invalidPort(argument: String, role: String, value: String)
  case portOutOfRange(argument: String, role: String, value: String)
  case unknownProtocol(argument: String, protocol: String)

  public var description: String {
    let form = "use [LOCAL_PORT:]REMOTE_ADDRESS:REMOTE_PORT[/udp], e.g. 8080:internal-service.cluster.local:80 (IPv6 in brackets: [fd00::5]:80)"
    switch self {
    case .syntax(let argument): return "invalid target \"\(argument)\": \(form)"
    case .invalidAddress(let argument, let address):
      return "invalid target \"\(argument)\": \"\(address)\" is not a host name or IP address (give the name without a scheme or path)"
    case .invalidPort(let argument, let role, let value):
      return "invalid target \"\(argument)\": the \(role) port \"\(value)\" is not a number; \(form)"
    case .portOutOfRange(let argument, let role, let value):
      let range = role == "local" ? "0 to 65535 (0 picks a free port)" : "1 to 65535"
      return "invalid target \"\(argument)\": the \(role) port \(value) is out of range: use \(range)"
    case .unknownProtocol(let argument, let proto):
      return "invalid target \"\(argument)\": unknown protocol \"\(proto)\": use /tcp (the default) or /udp"
    }
  }
}
