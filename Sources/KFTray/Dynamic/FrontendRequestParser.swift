import KFTrayRelay

/// The request parsers of `proxy --socks` and `--http-connect` over bytes in memory instead of a
/// socket: the same `SocksConversation` and `HTTPConnectConversation` code, for the fuzz targets
/// (`Sources/Fuzz`) and tests that need no listener.
public enum FrontendRequestParser {
  /// What a conversation made of the client's bytes.
  public struct Outcome: Sendable, Equatable {
    /// Where the client wants to go; nil when the bytes are not a complete, valid request.
    public var destination: DynamicDestination.Request?
    /// Bytes the client sent that belong to the target (a plain HTTP request, rewritten to origin form).
    public var pending: [UInt8]
    /// HTTP only: CONNECT (true) rather than a plain request sent on.
    public var isTunnel: Bool
    /// How many input bytes the parser read; never more than it was given.
    public var consumed: Int
    /// What it answered while reading (method choice, RFC 1929 status, an error reply).
    public var answered: [UInt8]
  }

  /// A SOCKS5 greeting, optional RFC 1929 authentication (when `credentials` are set) and request.
  public static func socks(_ bytes: [UInt8], credentials: DynamicFrontend.Credentials? = nil) -> Outcome {
    parse(bytes, SocksConversation(kind: .socks(credentials: credentials)))
  }

  /// An HTTP CONNECT or absolute-form request head.
  public static func httpConnect(_ bytes: [UInt8]) -> Outcome {
    parse(bytes, HTTPConnectConversation())
  }

  /// The bytes the SOCKS front end answers a request with once the relay replied.
  public static func socksReply(_ reply: DynamicDestination.Reply) -> [UInt8] {
    let client = MemoryClient([])
    SocksConversation(kind: .socks(credentials: nil)).socksReply(client, reply)
    return client.answered
  }

  static func parse(_ bytes: [UInt8], _ conversation: some Conversation) -> Outcome {
    let client = MemoryClient(bytes)
    let request = conversation.readRequest(client)
    return Outcome(
      destination: request?.destination, pending: request?.pending ?? [], isTunnel: request?.isTunnel ?? true,
      consumed: client.offset, answered: client.answered)
  }
}

/// A client whose bytes are all known up front; reading past them is the end of the stream.
/// A class because the conversations take their client by reference, as they take a socket.
final class MemoryClient: FrontendClient {
  let bytes: [UInt8]
  private(set) var offset = 0
  private(set) var answered: [UInt8] = []

  init(_ bytes: [UInt8]) { self.bytes = bytes }

  func read(_ count: Int) -> [UInt8]? {
    guard count > 0 else { return [] }
    guard count <= bytes.count - offset else {
      offset = bytes.count  // a socket would have consumed what there was
      return nil
    }
    defer { offset += count }
    return Array(bytes[offset..<offset + count])
  }

  func answer(_ bytes: [UInt8]) { answered += bytes }
}
