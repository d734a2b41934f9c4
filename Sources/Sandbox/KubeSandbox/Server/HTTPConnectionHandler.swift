import NIOCore
import NIOHTTP1
import SandboxHTTP

/// Serves HTTP requests of one HTTP/1.1 connection or one HTTP/2 stream (behind
/// `HTTP2FramePayloadToHTTP1ServerCodec`, so both protocols share this code).
///
/// It collects a request, asks the `Router` for an answer and writes it: whole, as a stream of chunks
/// (watch), or as a protocol switch (HTTP/1.1 only). Event-loop confined, as NIO handlers are.
final class HTTPConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  /// What the HTTP/1.1 pipeline must drop when the connection switches protocols.
  struct HTTP1Codec {
    let encoder: HTTPResponseEncoder
    let decoder: ByteToMessageHandler<HTTPRequestDecoder>
  }

  private enum State {
    case idle
    case receiving(HTTPRequestHead, ByteBuffer)
    /// A response is being written (possibly a long stream); `cancel` stops its producer.
    case responding(cancel: (@Sendable () -> Void)?)
    /// The connection left HTTP: bytes pass through to the upgrade handler.
    case upgraded
  }

  private let router: Router
  private let isHTTP2: Bool
  private let certificateUser: UserInfo?
  private let http1Codec: HTTP1Codec?
  private var state = State.idle
  private var keepAlive = true
  /// A HEAD answer carries the GET's headers (with its Content-Length) but no body.
  private var respondingToHead = false
  /// Counts streamed responses, so chunks still queued from a finished stream cannot leak into the next.
  private var streamGeneration = 0
  private var context: ChannelHandlerContext?
  /// Bodies larger than this are refused (kube's limit for most requests is 3 MiB).
  private let maximumBodySize = 3 * 1024 * 1024

  init(router: Router, isHTTP2: Bool, certificateUser: UserInfo?, http1Codec: HTTP1Codec?) {
    self.router = router
    self.isHTTP2 = isHTTP2
    self.certificateUser = certificateUser
    self.http1Codec = http1Codec
  }

  func handlerAdded(context: ChannelHandlerContext) { self.context = context }
  func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    if case .upgraded = state {
      // Bytes the HTTP decoder had buffered past the upgrade request, forwarded on its removal.
      context.fireChannelRead(data)
      return
    }
    switch unwrapInboundIn(data) {
    case .head(let head):
      guard case .idle = state else { return }  // no pipelining: kubectl never does it
      keepAlive = head.isKeepAlive
      state = .receiving(head, context.channel.allocator.buffer(capacity: 0))
      // libcurl asks before sending larger HTTP/1.1 bodies and would otherwise wait a second for this.
      if !isHTTP2, head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }) {
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
      }
    case .body(var chunk):
      guard case .receiving(let head, var body) = state else { return }
      if body.readableBytes + chunk.readableBytes > maximumBodySize {
        state = .responding(cancel: nil)
        keepAlive = false
        write(.error(StatusError(code: 413, reason: "RequestEntityTooLarge", message: "the request is too large")),
          context: context)
        return
      }
      state = .idle  // avoid a copy-on-write of `body` while it is appended to
      body.writeBuffer(&chunk)
      state = .receiving(head, body)
    case .end:
      guard case .receiving(let head, let body) = state else { return }
      state = .responding(cancel: nil)
      respondingToHead = head.method == .HEAD
      let request = APIRequest(
        method: head.method, uri: head.uri, headers: head.headers, body: Array(buffer: body), isHTTP2: isHTTP2,
        certificateUser: certificateUser)
      write(router.handle(request), context: context)
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    if case .responding(let cancel) = state { cancel?() }
    state = .idle
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    // Parse errors and resets: nothing useful to answer; close like Go's server does.
    context.close(promise: nil)
  }

  // MARK: - Writing

  private func write(_ response: APIResponse, context: ChannelHandlerContext) {
    switch response {
    case .full(let status, var headers, let body):
      headers.replaceOrAdd(name: "Content-Length", value: String(body.count))
      writeHead(status: status, headers: headers, context: context)
      if !body.isEmpty && !respondingToHead {
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
      }
      finishResponse(context: context)
    case .stream(let streaming):
      writeHead(status: streaming.status, headers: streaming.headers, context: context)
      context.flush()
      streamGeneration += 1
      let generation = streamGeneration
      let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
      let writer = ResponseStreamWriter(
        eventLoop: context.eventLoop,
        sendChunk: { bytes in bound.value.writeChunk(bytes, generation: generation) },
        sendEnd: { bound.value.endStream(generation: generation) })
      let cancel = streaming.start(writer)
      if case .responding = state { state = .responding(cancel: cancel) } else { cancel() }
    case .upgrade(let upgrade):
      switchProtocols(upgrade, context: context)
    case .deferred(let future):
      let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
      future.hop(to: context.eventLoop).whenComplete { result in
        let handler = bound.value
        // The client may have gone away meanwhile.
        guard let context = handler.context, case .responding = handler.state else { return }
        switch result {
        case .success(let response): handler.write(response, context: context)
        case .failure(let error as StatusError): handler.write(.error(error), context: context)
        case .failure(let error): handler.write(.error(.internalError("\(error)")), context: context)
        }
      }
    }
  }

  private func writeHead(status: HTTPResponseStatus, headers: HTTPHeaders, context: ChannelHandlerContext) {
    var headers = headers
    if !isHTTP2 && !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
    headers.replaceOrAdd(name: "Date", value: HTTPDate.now())
    let head = HTTPResponseHead(version: .http1_1, status: status, headers: headers)
    context.write(wrapOutboundOut(.head(head)), promise: nil)
  }

  private func writeChunk(_ bytes: [UInt8], generation: Int) {
    guard let context, case .responding = state, generation == streamGeneration, !bytes.isEmpty else { return }
    context.writeAndFlush(
      wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil)
  }

  private func endStream(generation: Int) {
    guard let context, case .responding = state, generation == streamGeneration else { return }
    finishResponse(context: context)
  }

  private func finishResponse(context: ChannelHandlerContext) {
    state = .idle
    let closeAfter = !isHTTP2 && !keepAlive
    let channel = context.channel
    context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
      if closeAfter { channel.close(promise: nil) }
    }
  }

  /// Leaves HTTP: drops the response encoder, installs the protocol's handler, writes the raw `101`
  /// head together with the protocol's first bytes in one write, then drops the request decoder (which
  /// forwards any bytes it had already read past the request to the new handler).
  private func switchProtocols(_ upgrade: UpgradeResponse, context: ChannelHandlerContext) {
    guard let codec = http1Codec else {
      write(.error(.badRequest("protocol upgrades need HTTP/1.1")), context: context)
      return
    }
    state = .upgraded
    let pipeline = context.pipeline.syncOperations
    do {
      pipeline.removeHandler(codec.encoder, promise: nil)
      try pipeline.addHandler(upgrade.makeHandler(), position: .after(self))
    } catch {
      context.close(promise: nil)
      return
    }
    var bytes = context.channel.allocator.buffer(capacity: 256 + upgrade.initialBytes.count)
    if let head = upgrade.head {
      bytes.writeString("HTTP/1.1 \(head.status.code) \(head.status.reasonPhrase)\r\n")
      for (name, value) in head.headers { bytes.writeString("\(name): \(value)\r\n") }
      bytes.writeString("\r\n")
    }
    bytes.writeBytes(upgrade.initialBytes)
    if bytes.readableBytes > 0 { context.writeAndFlush(NIOAny(bytes), promise: nil) }
    pipeline.removeHandler(codec.decoder, promise: nil)
  }
}
