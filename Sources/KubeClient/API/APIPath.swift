import Foundation

/// Builds API paths with query strings encoded the way the API server decodes them.
package struct APIPath {
  private var path: String
  private var query: [(String, String)] = []

  package init(_ path: String) { self.path = path }

  package static func pods(namespace: String?) -> APIPath {
    guard let namespace else { return APIPath("/api/v1/pods") }
    return APIPath("/api/v1/namespaces/\(segment(namespace))/pods")
  }

  package static func pod(_ name: String, namespace: String, subresource: String? = nil) -> APIPath {
    var p = "/api/v1/namespaces/\(segment(namespace))/pods/\(segment(name))"
    if let subresource { p += "/\(subresource)" }
    return APIPath(p)
  }

  package static func node(_ name: String, subresource: String? = nil) -> APIPath {
    var p = "/api/v1/nodes/\(segment(name))"
    if let subresource { p += "/\(subresource)" }
    return APIPath(p)
  }

  /// Names are DNS labels in practice, but a bad one must give the server's 404/422, not a broken URL.
  package static func segment(_ s: String) -> String {
    s.addingPercentEncoding(withAllowedCharacters: unreserved) ?? s
  }

  private static let unreserved = CharacterSet(
    charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")

  package func adding(_ name: String, _ value: String?) -> APIPath {
    guard let value else { return self }
    var copy = self
    copy.query.append((name, value))
    return copy
  }

  package var string: String {
    guard !query.isEmpty else { return path }
    let q = query.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? $0.1)" }
    return path + "?" + q.joined(separator: "&")
  }
}
