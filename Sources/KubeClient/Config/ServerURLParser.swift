import Foundation

/// Turns a kubeconfig `server` (or `--server`) into a `ServerURL` with client-go's reading of it:
/// a scheme-less `host:port` is http (credentials are only sent over https), default ports 443/80,
/// a path prefix is kept (without trailing slash), query and fragment are dropped.
enum ServerURLParser {
  static func parse(_ raw: String, location: StanzaLocation?) throws(KubeconfigError) -> ServerURL {
    func fail(_ reason: String) -> KubeconfigError { .invalidServer(value: raw, location: location, reason: reason) }
    let text = raw.trimmingCharacters(in: .whitespaces)
    var rest: Substring
    let scheme: ServerURL.Scheme
    if let range = text.range(of: "://") {
      let name = text[..<range.lowerBound].lowercased()
      guard let s = ServerURL.Scheme(rawValue: name) else { throw fail("unsupported scheme \"\(name)\", use https:// or http://") }
      scheme = s
      rest = text[range.upperBound...]
    } else {
      // Go's DefaultServerURL: no scheme means "http://" + host (TLS settings are not consulted yet).
      scheme = .http
      rest = Substring(text)
    }
    if let cut = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<cut] }
    let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
    var authority = rest[..<authorityEnd]
    var path = String(rest[authorityEnd...])
    if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
    var host: String
    var portText: Substring?
    if authority.hasPrefix("[") {
      guard let close = authority.firstIndex(of: "]") else { throw fail("unterminated IPv6 literal") }
      host = String(authority[authority.index(after: authority.startIndex)..<close])
      let after = authority[authority.index(after: close)...]
      if !after.isEmpty {
        guard after.hasPrefix(":") else { throw fail("unexpected text after IPv6 literal") }
        portText = after.dropFirst()
      }
    } else if let colon = authority.lastIndex(of: ":") {
      host = String(authority[..<colon])
      portText = authority[authority.index(after: colon)...]
      if host.contains(":") { throw fail("IPv6 addresses must be written in brackets, e.g. https://[::1]:6443") }
    } else {
      host = String(authority)
    }
    if host.isEmpty { throw fail("no host") }
    host = host.lowercased()
    var port = scheme == .https ? 443 : 80
    if let portText, !portText.isEmpty {
      guard let p = Int(portText), (1...65535).contains(p) else { throw fail("invalid port \"\(portText)\"") }
      port = p
    }
    while path.hasSuffix("/") { path.removeLast() }
    return ServerURL(scheme: scheme, host: host, port: port, pathPrefix: path)
  }
}
