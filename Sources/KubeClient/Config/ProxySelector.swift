import Foundation

/// Decides how to reach the API server with Go's rules, so that libcurl's own (different) proxy
/// logic never gets a say:
/// - a kubeconfig `proxy-url` is used for every request and ignores NO_PROXY (`http.ProxyURL`);
/// - otherwise `HTTPS_PROXY`/`https_proxy` for https servers and `HTTP_PROXY`/`http_proxy` for http
///   servers, minus `NO_PROXY`/`no_proxy` (hosts, domain suffixes, `*`, ports, IPs, CIDRs), and never
///   for `localhost` or loopback IPs (`golang.org/x/net/http/httpproxy`).
/// `socks5://` becomes `socks5h://` because Go's SOCKS5 dialer hands the host name to the proxy.
public struct ProxySelector: Sendable {
  public var environment: [String: String]

  public init(environment: [String: String]) {
    self.environment = environment
  }

  /// - Parameter proxyURL: the cluster's `proxy-url`, already validated (empty when unset).
  public func route(for server: ServerURL, proxyURL: String = "") -> ProxyRoute {
    if !proxyURL.isEmpty { return .proxy(Self.forCurl(proxyURL)) }
    let chosen: String?
    switch server.scheme {
    case .https: chosen = env("HTTPS_PROXY", "https_proxy")
    case .http:
      // Go refuses HTTP_PROXY in a CGI environment (httpoxy); it then connects directly.
      chosen = env("REQUEST_METHOD") == nil ? env("HTTP_PROXY", "http_proxy") : nil
    }
    guard let chosen else { return .direct }
    guard usesProxy(host: server.host, port: server.port) else { return .direct }
    return .proxy(Self.forCurl(Self.withScheme(chosen)))
  }

  /// Go's `useProxy`: false for localhost, loopback IPs and anything NO_PROXY matches.
  func usesProxy(host rawHost: String, port: Int) -> Bool {
    let host = rawHost.lowercased()
    if host == "localhost" { return false }
    let ip = IPAddress(host)
    if let ip, ip.isLoopback { return false }
    let portText = String(port)
    for rule in noProxyRules() {
      switch rule {
      case .all: return false
      case .network(let net): if let ip, net.contains(ip) { return false }
      case .ip(let address, let rulePort):
        if let ip, ip == address, rulePort == nil || rulePort == portText { return false }
      case .domain(let suffix, let rulePort, let matchHost):
        if host.hasSuffix(suffix) || (matchHost && host == suffix.dropFirst()),
          rulePort == nil || rulePort == portText
        {
          return false
        }
      }
    }
    return true
  }

  enum NoProxyRule: Equatable {
    case all
    case network(IPNetwork)
    case ip(IPAddress, port: String?)
    /// `suffix` starts with "."; `matchHost` when the entry had no leading dot and so also matches itself.
    case domain(suffix: String, port: String?, matchHost: Bool)
  }

  func noProxyRules() -> [NoProxyRule] {
    guard let text = env("NO_PROXY", "no_proxy") else { return [] }
    var rules: [NoProxyRule] = []
    for entry in text.split(separator: ",", omittingEmptySubsequences: false) {
      let p = entry.trimmingCharacters(in: .whitespaces).lowercased()
      if p.isEmpty { continue }
      if p == "*" { return [.all] }
      if let net = IPNetwork(p) {
        rules.append(.network(net))
        continue
      }
      var host = p
      var port: String?
      if let (h, pt) = Self.splitHostPort(p) {
        if h.isEmpty { continue }
        host = h
        port = pt
      }
      if let ip = IPAddress(host) {
        rules.append(.ip(ip, port: port))
        continue
      }
      if host.hasPrefix("*.") { host.removeFirst() }
      var matchHost = false
      if !host.hasPrefix(".") {
        matchHost = true
        host = "." + host
      }
      rules.append(.domain(suffix: host, port: port, matchHost: matchHost))
    }
    return rules
  }

  /// Go's `net.SplitHostPort` for the shapes NO_PROXY entries take: `host:port`, `[v6]:port`.
  static func splitHostPort(_ s: String) -> (String, String)? {
    if s.hasPrefix("[") {
      guard let close = s.firstIndex(of: "]") else { return nil }
      let after = s[s.index(after: close)...]
      guard after.hasPrefix(":") else { return nil }
      return (String(s[s.index(after: s.startIndex)..<close]), String(after.dropFirst()))
    }
    guard let colon = s.lastIndex(of: ":") else { return nil }
    let host = s[..<colon]
    if host.contains(":") { return nil }  // a bare IPv6 address, not host:port
    return (String(host), String(s[s.index(after: colon)...]))
  }

  /// Go's `parseProxy`: an environment proxy without a scheme is taken as `http://`.
  static func withScheme(_ proxy: String) -> String {
    proxy.contains("://") ? proxy : "http://" + proxy
  }

  static func forCurl(_ proxy: String) -> String {
    if proxy.lowercased().hasPrefix("socks5://") { return "socks5h://" + proxy.dropFirst("socks5://".count) }
    return proxy
  }

  private func env(_ names: String...) -> String? {
    for name in names { if let v = environment[name], !v.isEmpty { return v } }
    return nil
  }
}
