import Foundation
import PortForwardCodecs
import KubeClient

/// Why opening a port-forward session failed.
public enum PortForwardOpenError: Error, Sendable, CustomStringConvertible {
  /// The server answered the upgrade with an HTTP status instead of 101 (pod not found, forbidden,
  /// no host assigned, ...). `message` is the Status message when the body was a metav1.Status.
  case rejected(status: Int, reason: String?, message: String, transport: PortForwardTransport)
  /// The 101 did not confirm what we asked for (wrong subprotocol, bad accept value, missing
  /// `X-Stream-Protocol-Version`).
  case handshake(String, transport: PortForwardTransport)
  /// Credentials could not be obtained.
  case credentials(String)
  /// Connecting or TLS failed, or the connection broke during the handshake.
  case transport(String)

  public var description: String {
    switch self {
    case .rejected(let status, _, let message, let transport):
      return "port-forward (\(transport)) refused with HTTP \(status): \(message)"
    case .handshake(let message, let transport): return "port-forward (\(transport)) handshake: \(message)"
    case .credentials(let message): return "credentials: \(message)"
    case .transport(let message): return message
    }
  }

  /// The HTTP status of a refusal, nil otherwise.
  public var httpStatus: Int? {
    if case .rejected(let status, _, _, _) = self { return status }
    return nil
  }
}

/// Why a session ended. Every stream still open fails with `ForwardedStreamError.sessionEnded`.
public enum SessionTermination: Sendable, Equatable, CustomStringConvertible {
  /// `close()` was called.
  case closedLocally
  /// The server ended the connection in order (EOF, WebSocket close, GOAWAY then EOF).
  case closedByPeer(String)
  /// No frame at all (not even a PING reply) within the watchdog window.
  case keepaliveTimeout(Duration)
  /// The byte stream could not be decoded (SPDY or WebSocket framing): nothing after it can be trusted.
  case protocolError(String)
  /// The connection failed (reset, TLS error).
  case transportError(String)

  public var description: String {
    switch self {
    case .closedLocally: return "session closed"
    case .closedByPeer(let why): return "the server closed the session (\(why))"
    case .keepaliveTimeout(let window):
      return "the connection to the API server stopped answering (no reply for \(Self.seconds(window)))"
    case .protocolError(let message): return "protocol error: \(message)"
    case .transportError(let message): return "connection lost: \(message)"
    }
  }

  /// "12s", "600ms": as a user reads a window, not Duration's "12.0 seconds".
  static func seconds(_ d: Duration) -> String {
    let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    if ms % 1000 == 0 { return "\(ms / 1000)s" }
    return ms < 1000 ? "\(ms)ms" : String(format: "%.1fs", Double(ms) / 1000)
  }
}

/// Why one forwarded connection failed. The session lives on unless the case says otherwise.
public enum ForwardedStreamError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The server wrote this text to the connection's error stream (e.g. the kubelet's
  /// `error forwarding port P to pod ...: connection refused`).
  case remote(String)
  /// The server reset the data stream without an explanation.
  case reset(SPDYRstStatus)
  /// We stopped reading this connection locally and its receive buffer exceeded the cap; the
  /// streams were reset so the session reader never has to block.
  case receiveBufferOverflow(limit: Int)
  /// The whole session ended.
  case sessionEnded(SessionTermination)
  /// The session no longer accepts new connections (closing, GOAWAY received, or ended).
  case sessionNotOpen(String)
  /// A frame could not be encoded (a bug, or a stream id space exhausted).
  case encoding(String)

  public var description: String {
    switch self {
    case .remote(let text): return text
    case .reset(let status): return "the server reset the stream (\(status))"
    case .receiveBufferOverflow(let limit):
      return "more than \(limit) bytes received but not consumed locally; connection reset"
    case .sessionEnded(let why): return "\(why)"
    case .sessionNotOpen(let why): return "the session accepts no new connections: \(why)"
    case .encoding(let message): return "cannot encode frame: \(message)"
    }
  }
}
