/// The relay's configuration: the kftray-server environment contract (spec §1.2) plus the timeouts
/// that kftray-server hard-codes, which the library exposes so that tests can shorten them.
public enum ProxyType: String, Sendable, Equatable, CaseIterable {
  /// Plain full-duplex byte relay with half-close (spec §1.5).
  case tcp
  /// kftray's UDP-over-TCP lockstep framing (spec §1.4).
  case udp
  /// Ours only (`proxy --socks`): each connection names its destination (`DynamicDestination`),
  /// checked against `ALLOW`; REMOTE_ADDRESS and REMOTE_PORT are not used.
  case dynamic
}

public struct RelayConfiguration: Sendable, Equatable {
  /// Target host name or IP address, resolved again for every accepted connection.
  public var remoteAddress: String
  public var remotePort: UInt16
  /// The TCP port the relay listens on. 0 picks an ephemeral port (tests; the log names it).
  public var localPort: UInt16
  public var proxyType: ProxyType
  /// How long the UDP mode waits for the one reply datagram before writing a zero-length frame.
  public var udpReplyTimeout: Duration
  /// How long the TCP mode tries to connect to the target (all resolved addresses together).
  public var connectTimeout: Duration
  /// How long a SIGTERM/SIGINT shutdown lets open connections finish.
  public var shutdownGrace: Duration
  /// Also listen on `[::]` (IPv6-only socket) when the host has IPv6. kftray-server listens on
  /// `0.0.0.0` only; the extra listener costs nothing and serves a port-forward that dials tcp6.
  public var listenOnIPv6: Bool
  /// Dynamic mode: the destinations connections may name (`ALLOW`).
  public var allow = AllowList()

  public init(
    remoteAddress: String, remotePort: UInt16, localPort: UInt16, proxyType: ProxyType,
    udpReplyTimeout: Duration = .seconds(5), connectTimeout: Duration = .seconds(10),
    shutdownGrace: Duration = .seconds(5), listenOnIPv6: Bool = true
  ) {
    self.remoteAddress = remoteAddress
    self.remotePort = remotePort
    self.localPort = localPort
    self.proxyType = proxyType
    self.udpReplyTimeout = udpReplyTimeout
    self.connectTimeout = connectTimeout
    self.shutdownGrace = shutdownGrace
    self.listenOnIPv6 = listenOnIPv6
  }

  /// Environment variable names, exactly as kftray-server reads them.
  public enum Variable {
    public static let remoteAddress = "REMOTE_ADDRESS"
    public static let remotePort = "REMOTE_PORT"
    public static let localPort = "LOCAL_PORT"
    public static let proxyType = "PROXY_TYPE"
    /// Dynamic mode only: comma-separated allow rules (see `AllowList`).
    public static let allow = "ALLOW"
    public static let all = [remoteAddress, remotePort, localPort, proxyType]
  }

  /// Parses the kftray-server environment. Every problem is collected (not just the first), so one
  /// look at a CrashLoopBackOff log tells the whole story.
  public init(environment: [String: String]) throws(ConfigurationError) {
    var problems: [ConfigurationProblem] = []
    let dynamic = environment[Variable.proxyType]?.lowercased() == ProxyType.dynamic.rawValue

    var host = ""
    switch environment[Variable.remoteAddress] {
    case nil where dynamic:
      break
    case nil:
      problems.append(.missing(variable: Variable.remoteAddress, expected: "a host name or IP address"))
    case let raw?:
      if let parsed = Self.parseRemoteAddress(raw) {
        host = parsed
      } else {
        problems.append(
          .invalid(
            variable: Variable.remoteAddress, value: raw,
            expected: "a host name, an IP address, or a URL with a host"))
      }
    }

    func port(_ name: String, allowZero: Bool, optional: Bool = false) -> UInt16 {
      let expected = allowZero ? "a port number 0-65535" : "a port number 1-65535"
      guard let raw = environment[name] else {
        if optional { return 0 }
        problems.append(.missing(variable: name, expected: expected))
        return 0
      }
      guard let value = UInt16(raw), allowZero || value != 0 else {
        problems.append(.invalid(variable: name, value: raw, expected: expected))
        return 0
      }
      return value
    }
    let remotePort = port(Variable.remotePort, allowZero: false, optional: dynamic)
    let localPort = port(Variable.localPort, allowZero: true)

    var proxyType = ProxyType.tcp
    switch environment[Variable.proxyType] {
    case nil:
      problems.append(.missing(variable: Variable.proxyType, expected: "tcp or udp"))
    case let raw?:
      let lowered = raw.lowercased()
      if let parsed = ProxyType(rawValue: lowered) {
        proxyType = parsed
      } else if lowered == "reverse_http" {
        problems.append(.unsupportedProxyType(value: raw))
      } else {
        problems.append(.invalid(variable: Variable.proxyType, value: raw, expected: "tcp, udp or dynamic (case-insensitive)"))
      }
    }

    var allow = AllowList()
    if let raw = environment[Variable.allow] {
      do { allow = try AllowList(parsing: raw) } catch {
        problems.append(.invalid(variable: Variable.allow, value: raw, expected: "\(error)"))
      }
    }

    guard problems.isEmpty else { throw ConfigurationError(problems: problems) }
    self.init(remoteAddress: host, remotePort: remotePort, localPort: localPort, proxyType: proxyType)
    self.allow = allow
  }

  /// Where the first occurrence of `needle` ends (the library does without Foundation).
  private static func index(after needle: String, in text: String) -> String.Index? {
    var start = text.startIndex
    while start < text.endIndex {
      if text[start...].hasPrefix(needle) { return text.index(start, offsetBy: needle.count) }
      start = text.index(after: start)
    }
    return nil
  }

  /// kftray-server keeps only the host of a value containing `://` (scheme, credentials, port and
  /// path are dropped). Brackets around an IPv6 literal are removed, because the resolver wants the
  /// bare address. Returns nil when no host is left.
  static func parseRemoteAddress(_ raw: String) -> String? {
    var host = Substring(raw)
    if let schemeEnd = Self.index(after: "://", in: raw) {
      var authority = raw[schemeEnd...]
      if let end = authority.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) {
        authority = authority[..<end]
      }
      if let at = authority.lastIndex(of: "@") {
        authority = authority[authority.index(after: at)...]
      }
      if authority.hasPrefix("[") {
        guard let close = authority.firstIndex(of: "]") else { return nil }
        host = authority[...close]
      } else if let colon = authority.firstIndex(of: ":") {
        host = authority[..<colon]
      } else {
        host = authority
      }
    }
    if host.hasPrefix("[") && host.hasSuffix("]") && host.count >= 2 {
      host = host.dropFirst().dropLast()
    }
    guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" }) else { return nil }
    return String(host)
  }
}

/// One thing wrong with the environment; its description names the variable and what is expected.
public enum ConfigurationProblem: Sendable, Equatable, CustomStringConvertible {
  case missing(variable: String, expected: String)
  case invalid(variable: String, value: String, expected: String)
  /// `PROXY_TYPE=reverse_http` (kftray's expose tunnel): valid for kftray-server, not implemented here.
  case unsupportedProxyType(value: String)

  public var description: String {
    switch self {
    case let .missing(variable, expected):
      return "\(variable) is not set; expected \(expected)"
    case let .invalid(variable, value, expected):
      return "\(variable)=\"\(value)\" is invalid; expected \(expected)"
    case let .unsupportedProxyType(value):
      return
        "PROXY_TYPE=\(value) (kftray's expose tunnel) is not supported by this relay; "
        + "use tcp or udp, or run the kftray-server image for reverse_http"
    }
  }
}

public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
  public var problems: [ConfigurationProblem]
  public init(problems: [ConfigurationProblem]) { self.problems = problems }
  public var description: String {
    "invalid configuration: " + problems.map(\.description).joined(separator: "; ")
  }
}
