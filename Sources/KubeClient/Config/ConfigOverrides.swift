import Foundation

/// kubectl's global flags, as typed. `nil` means "flag not given", which is different from an empty
/// value for some of them (client-go only lets non-empty values override, so we do the same).
public struct ConfigOverrides: Sendable, Equatable {
  /// `--kubeconfig`: when set, only this file is read and it must exist.
  public var kubeconfig: String?
  public var context: String?
  public var cluster: String?
  public var user: String?
  public var namespace: String?
  public var server: String?
  public var certificateAuthority: String?
  public var insecureSkipTLSVerify: Bool?
  public var tlsServerName: String?
  public var token: String?
  public var clientCertificate: String?
  public var clientKey: String?
  public var username: String?
  public var password: String?
  /// `--as`
  public var impersonateUser: String?
  /// `--as-group`, repeatable.
  public var impersonateGroups: [String]?
  /// `--as-uid`
  public var impersonateUID: String?
  /// `--request-timeout` as typed: "0", "5", "5s", "1m30s".
  public var requestTimeout: String?
  public var disableCompression: Bool?

  public init(
    kubeconfig: String? = nil, context: String? = nil, cluster: String? = nil, user: String? = nil,
    namespace: String? = nil, server: String? = nil, certificateAuthority: String? = nil,
    insecureSkipTLSVerify: Bool? = nil, tlsServerName: String? = nil, token: String? = nil,
    clientCertificate: String? = nil, clientKey: String? = nil, username: String? = nil, password: String? = nil,
    impersonateUser: String? = nil, impersonateGroups: [String]? = nil, impersonateUID: String? = nil,
    requestTimeout: String? = nil, disableCompression: Bool? = nil
  ) {
    self.kubeconfig = kubeconfig
    self.context = context
    self.cluster = cluster
    self.user = user
    self.namespace = namespace
    self.server = server
    self.certificateAuthority = certificateAuthority
    self.insecureSkipTLSVerify = insecureSkipTLSVerify
    self.tlsServerName = tlsServerName
    self.token = token
    self.clientCertificate = clientCertificate
    self.clientKey = clientKey
    self.username = username
    self.password = password
    self.impersonateUser = impersonateUser
    self.impersonateGroups = impersonateGroups
    self.impersonateUID = impersonateUID
    self.requestTimeout = requestTimeout
    self.disableCompression = disableCompression
  }
}

extension Optional where Wrapped == String {
  /// client-go merges overrides with mergo, which ignores zero values: an empty flag never overrides.
  var nonEmpty: String? {
    switch self {
    case .some(let s) where !s.isEmpty: return s
    default: return nil
    }
  }
}

/// kubectl's `--request-timeout`: a Go duration ("1m30s", "500ms") or a bare integer of seconds.
/// "0" (or empty) means no timeout, returned as `nil`.
public enum RequestTimeout {
  public static func parse(_ text: String) throws(KubeconfigError) -> Duration? {
    if text.isEmpty { return nil }
    let value: Duration
    if let parsed = GoDuration.parse(text) {
      value = parsed
    } else if let seconds = Int64(text) {
      value = .seconds(seconds)
    } else {
      throw .invalidRequestTimeout(text)
    }
    if value < .zero { throw .invalidRequestTimeout(text) }
    return value == .zero ? nil : value
  }
}

/// Go's `time.ParseDuration`: an optional sign, then one or more decimal numbers each followed by a
/// unit (ns, us, µs, ms, s, m, h). A bare "0" is valid; any other unit-less number is not.
public enum GoDuration {
  public static func parse(_ text: String) -> Duration? {
    var rest = Substring(text)
    var negative = false
    if let first = rest.first, first == "-" || first == "+" {
      negative = first == "-"
      rest = rest.dropFirst()
    }
    if rest == "0" { return .zero }
    if rest.isEmpty { return nil }
    var totalNanos: Double = 0
    while !rest.isEmpty {
      let number = rest.prefix(while: { $0.isNumber || $0 == "." })
      guard !number.isEmpty, number != ".", let amount = Double(number) else { return nil }
      rest = rest.dropFirst(number.count)
      let unit = rest.prefix(while: { !($0.isNumber || $0 == ".") })
      rest = rest.dropFirst(unit.count)
      let scale: Double
      switch unit {
      case "ns": scale = 1
      case "us", "µs", "μs": scale = 1e3
      case "ms": scale = 1e6
      case "s": scale = 1e9
      case "m": scale = 60e9
      case "h": scale = 3600e9
      default: return nil
      }
      totalNanos += amount * scale
    }
    guard totalNanos < Double(Int64.max) else { return nil }
    let nanos = Int64(totalNanos.rounded())
    return .nanoseconds(negative ? -nanos : nanos)
  }
}
