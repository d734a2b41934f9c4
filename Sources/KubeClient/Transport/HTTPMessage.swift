import Foundation

public struct HTTPHeader: Sendable, Equatable {
  public var name: String
  public var value: String
  public init(_ name: String, _ value: String) {
    self.name = name
    self.value = value
  }
}

/// A request relative to the API server's base URL (path prefix included by the transport).
public struct HTTPRequest: Sendable {
  public var method: String
  /// Path and already-encoded query, e.g. `/api/v1/namespaces/dev/pods?watch=1`.
  public var path: String
  public var headers: [HTTPHeader]
  public var body: Data?
  /// Streams (watch, logs -f, upgrades) are never cut by `--request-timeout`.
  public var isStream: Bool

  public init(method: String = "GET", path: String, headers: [HTTPHeader] = [], body: Data? = nil, isStream: Bool = false) {
    self.method = method
    self.path = path
    self.headers = headers
    self.body = body
    self.isStream = isStream
  }
}

public struct HTTPResponseHead: Sendable, Equatable {
  public var status: Int
  public var headers: [HTTPHeader]
  /// 11 for HTTP/1.1, 2 for HTTP/2 (curl's numbering flattened).
  public var httpVersion: String

  public init(status: Int, headers: [HTTPHeader], httpVersion: String) {
    self.status = status
    self.headers = headers
    self.httpVersion = httpVersion
  }

  /// The first value of a header, compared case-insensitively.
  public func header(_ name: String) -> String? {
    headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
  }

  /// Parses one header line as curl hands it over (status lines reset the collected headers, so
  /// that only the final response after any 1xx is kept). Returns true at the blank line that ends a head.
  mutating func consume(line raw: String) -> Bool {
    let line = raw.trimmingCharacters(in: CharacterSet(charactersIn: "\r\n"))
    if line.isEmpty { return true }
    if line.hasPrefix("HTTP/") {
      let parts = line.split(separator: " ", maxSplits: 2)
      httpVersion = parts.first.map { String($0.dropFirst(5)) } ?? ""
      status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
      headers = []
      return false
    }
    if let colon = line.firstIndex(of: ":") {
      let name = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
      let value = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
      headers.append(HTTPHeader(name, value))
    }
    return false
  }
}

public struct HTTPResponse: Sendable {
  public var head: HTTPResponseHead
  public var body: Data

  public init(head: HTTPResponseHead, body: Data) {
    self.head = head
    self.body = body
  }

  public var status: Int { head.status }
}

/// Why a request produced no HTTP response.
public enum TransportError: Error, Sendable, Equatable, CustomStringConvertible {
  /// curl failed: connect, TLS, proxy, timeout, or the peer vanished mid-response.
  case curl(CurlError, url: String)
  /// The caller stopped waiting (task cancelled, stream consumer gone).
  case cancelled
  /// The transport was shut down while the request was in flight.
  case shutDown
  /// The transport could not start its I/O thread's wake-up pipe (too many open files).
  case unavailable(String)

  public var description: String {
    switch self {
    case .curl(let error, let url): return "\(url): \(error.message)"
    case .cancelled: return "request cancelled"
    case .shutDown: return "client shut down"
    case .unavailable(let why): return "the API client cannot start: \(why)"
    }
  }
}
