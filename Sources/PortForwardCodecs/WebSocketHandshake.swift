import Crypto

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

public enum WebSocketHandshakeError: Error, Sendable, Equatable, CustomStringConvertible {
  case notSwitchingProtocols(status: Int)
  case missingOrInvalidUpgrade(String?)
  case missingOrInvalidConnection(String?)
  case acceptMismatch(expected: String, received: String?)
  /// The server chose no subprotocol or another one (kubectl treats this as an upgrade failure
  /// and falls back to the SPDY POST).
  case subprotocolMismatch(requested: String, received: String?)
  /// We offer no extensions; a server that selects one breaks the framing we speak.
  case unexpectedExtensions(String)

  public var description: String {
    switch self {
    case .notSwitchingProtocols(let status): return "WebSocket upgrade answered with status \(status), not 101"
    case .missingOrInvalidUpgrade(let v): return "WebSocket upgrade: bad Upgrade header \(v.debugDescription)"
    case .missingOrInvalidConnection(let v): return "WebSocket upgrade: bad Connection header \(v.debugDescription)"
    case .acceptMismatch(let expected, let received):
      return "WebSocket upgrade: Sec-WebSocket-Accept \(received.debugDescription), expected \(expected)"
    case .subprotocolMismatch(let requested, let received):
      return "WebSocket upgrade: server chose subprotocol \(received.debugDescription), requested \(requested)"
    case .unexpectedExtensions(let v): return "WebSocket upgrade: unrequested extensions \(v)"
    }
  }
}

/// Client handshake helpers (RFC 6455 §4.1, §4.2.2) for the KEP-4006 port-forward tunnel.
public enum WebSocketHandshake {
  public static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
  /// The one subprotocol kubectl offers for the tunnel (spec §C.1).
  public static let portForwardSubprotocol = "SPDY/3.1+portforward.k8s.io"

  /// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64.
  public static func makeKey() -> String {
    var generator = SystemRandomNumberGenerator()
    return makeKey(using: &generator)
  }

  public static func makeKey<G: RandomNumberGenerator>(using generator: inout G) -> String {
    var bytes = [UInt8](repeating: 0, count: 16)
    for i in bytes.indices { bytes[i] = UInt8.random(in: .min ... .max, using: &generator) }
    return Data(bytes).base64EncodedString()
  }

  /// base64(SHA-1(key + GUID)): the `Sec-WebSocket-Accept` a correct server returns.
  public static func acceptValue(forKey key: String) -> String {
    let digest = Insecure.SHA1.hash(data: Array((key + acceptGUID).utf8))
    return Data(Array(digest)).base64EncodedString()
  }

  /// Checks a 101 response: status, `Upgrade: websocket`, `Connection: upgrade`, the accept value,
  /// no extensions, and the chosen subprotocol equal to the requested one. Header names are
  /// matched case-insensitively; repeated headers are joined with ", " as HTTP allows.
  public static func validateResponse(
    status: Int, headers: [(name: String, value: String)], key: String,
    requestedSubprotocol: String = portForwardSubprotocol
  ) throws(WebSocketHandshakeError) {
    func header(_ name: String) -> String? {
      let values = headers.filter { $0.name.lowercased() == name }.map { trim($0.value) }
      return values.isEmpty ? nil : values.joined(separator: ", ")
    }
    func tokens(_ value: String?) -> [String] {
      (value ?? "").split(separator: ",").map { trim(String($0)).lowercased() }
    }
    guard status == 101 else { throw .notSwitchingProtocols(status: status) }
    let upgrade = header("upgrade")
    guard tokens(upgrade).contains("websocket") else { throw .missingOrInvalidUpgrade(upgrade) }
    let connection = header("connection")
    guard tokens(connection).contains("upgrade") else { throw .missingOrInvalidConnection(connection) }
    let expected = acceptValue(forKey: key)
    let accept = header("sec-websocket-accept")
    guard accept == expected else { throw .acceptMismatch(expected: expected, received: accept) }
    if let extensions = header("sec-websocket-extensions"), !extensions.isEmpty {
      throw .unexpectedExtensions(extensions)
    }
    let chosen = header("sec-websocket-protocol")
    guard chosen == requestedSubprotocol else {
      throw .subprotocolMismatch(requested: requestedSubprotocol, received: chosen)
    }
  }

  private static func trim(_ s: String) -> String {
    var sub = Substring(s)
    while let c = sub.first, c == " " || c == "\t" { sub.removeFirst() }
    while let c = sub.last, c == " " || c == "\t" { sub.removeLast() }
    return String(sub)
  }
}
