import NIOCore
import NIOHTTP1

/// The sandbox-only echo upgrade, for transport tests of HTTP/1.1 upgrades (the same mechanics as the
/// SPDY and WebSocket port-forward upgrades, without their framing).
///
/// Contract:
/// - `GET /sandbox/echo-upgrade` over HTTP/1.1, authenticated (any user; anonymous → 401), with
///   `Connection: Upgrade` and `Upgrade: kftray-echo`. Without those headers → 400 Bad Request; over
///   HTTP/2 → 400 (upgrades need HTTP/1.1); other methods → 405.
/// - The answer is `HTTP/1.1 101 Switching Protocols` with `Connection: Upgrade` and
///   `Upgrade: kftray-echo`. After the head the connection is a raw byte stream.
/// - `?greeting=TEXT`: TEXT (UTF-8, percent-decoded) is sent right after the head, in the same write,
///   so a client sees "early bytes" in the read that completes the head.
/// - `?burst=N` (0…64 MiB): N bytes follow (after any greeting), byte `i` being `i % 251`, also in
///   that first write, so a client must drain them.
/// - Then every byte received is echoed back, until the client closes the connection.
enum EchoUpgrade {
  static let path = "/sandbox/echo-upgrade"
  static let protocolName = "kftray-echo"
  static let maximumBurst = 64 * 1024 * 1024

  static func respond(to request: APIRequest) -> APIResponse {
    guard request.method == .GET else { return .error(.methodNotAllowed) }
    guard !request.isHTTP2 else { return .error(.badRequest("the echo upgrade needs HTTP/1.1")) }
    guard request.isUpgrade(to: protocolName) else {
      return .error(.badRequest("expected Connection: Upgrade and Upgrade: \(protocolName)"))
    }
    var initial = Array((request.query["greeting"] ?? "").utf8)
    if let burstText = request.query["burst"] {
      guard let burst = Int(burstText), (0...maximumBurst).contains(burst) else {
        return .error(.badRequest("burst must be an integer between 0 and \(maximumBurst)"))
      }
      initial.reserveCapacity(initial.count + burst)
      for index in 0..<burst { initial.append(UInt8(index % 251)) }
    }
    var headers = HTTPHeaders()
    headers.add(name: "Connection", value: "Upgrade")
    headers.add(name: "Upgrade", value: protocolName)
    return .upgrade(
      UpgradeResponse(
        head: HTTPResponseHead(version: .http1_1, status: .switchingProtocols, headers: headers),
        initialBytes: initial, makeHandler: { EchoHandler() }))
  }
}

/// Echoes raw bytes until the peer closes.
final class EchoHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    // Flushed per read: bytes the HTTP decoder forwards on removal come without a readComplete.
    context.writeAndFlush(data, promise: nil)
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    context.close(promise: nil)
  }
}
