import Foundation
import NIOCore
import NIOHTTP1

/// `pods/log` proxied to the node's kubelet as kube-apiserver's `LogREST` does (`LogLocation` +
/// `LocationStreamer`): the log options become the kubelet's query, a 2xx answer is streamed to the
/// client as it arrives (`follow` included), anything else becomes a `metav1.Status`
/// (`GenericHttpResponseChecker`: 400 → BadRequest with the kubelet's text, 500 → InternalError, others
/// by code).
///
/// A plain HTTP exchange, not a byte pipe, so it does not share `KubeletLeg` with the upgrade proxies:
/// it needs the HTTP client codec on the kubelet side and an answer that depends on the kubelet's status.
final class KubeletLogRelay: ChannelInboundHandler {
  typealias InboundIn = HTTPClientResponsePart

  private enum State {
    case waitingForHead
    /// The kubelet said 200: bytes go to the client's writer (buffered until it is attached).
    case streaming(writer: ResponseStreamWriter?, buffered: [[UInt8]], ended: Bool)
    /// The kubelet refused: its body is collected for the Status message.
    case refused(code: Int, body: [UInt8])
    case done
  }

  /// kube's `maxReadLength` for an error body.
  static let maximumErrorBody = 50_000

  private let promise: EventLoopPromise<APIResponse>
  private let podName: String
  private var state = State.waitingForHead
  private var channel: Channel?

  private init(promise: EventLoopPromise<APIResponse>, podName: String) {
    self.promise = promise
    self.podName = podName
  }

  /// The response for the API server's router: deferred until the kubelet's status is known.
  static func response(
    endpoint: KubeletEndpoint, dialer: KubeletDialer, eventLoop: EventLoop, uri: String, podName: String
  ) -> APIResponse {
    let promise = eventLoop.makePromise(of: APIResponse.self)
    eventLoop.execute {
      let relay = KubeletLogRelay(promise: promise, podName: podName)
      let bound = NIOLoopBound(relay, eventLoop: eventLoop)
      dialer.connect(to: endpoint, on: eventLoop) { channel in
        try channel.pipeline.syncOperations.addHTTPClientHandlers()
        try channel.pipeline.syncOperations.addHandler(bound.value)
      }.whenComplete { result in
        switch result {
        case .failure(let error):
          promise.fail(StatusError.internalError("error dialing backend: \(error)"))
        case .success(let channel):
          bound.value.channel = channel
          var headers = HTTPHeaders()
          headers.add(name: "Host", value: "\(endpoint.host):\(endpoint.port)")
          headers.add(name: "User-Agent", value: "kftray-sandbox-apiserver")
          let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: headers)
          channel.write(HTTPClientRequestPart.head(head), promise: nil)
          channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
      }
    }
    return .deferred(promise.futureResult)
  }

  /// `LogLocation`'s query: only options that are set, in kube's names.
  static func kubeletQuery(_ query: Query) -> String {
    var items: [String] = []
    for flag in ["follow", "previous", "timestamps"] where query.flag(flag) { items.append("\(flag)=true") }
    for number in ["sinceSeconds", "tailLines", "limitBytes"] {
      if let value = query[number], let parsed = Int64(value) { items.append("\(number)=\(parsed)") }
    }
    if let since = query["sinceTime"], !since.isEmpty {
      let escaped = since.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~:"))) ?? since
      items.append("sinceTime=\(escaped)")
    }
    return items.joined(separator: "&")
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let head):
      guard case .waitingForHead = state else { return }
      let code = Int(head.status.code)
      if (200...206).contains(code) {
        state = .streaming(writer: nil, buffered: [], ended: false)
        promise.succeed(.stream(streamingResponse(context: context)))
      } else {
        state = .refused(code: code, body: [])
      }
    case .body(var buffer):
      let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
      switch state {
      case .streaming(let writer?, _, _):
        writer.write(bytes)
      case .streaming(nil, var buffered, let ended):
        buffered.append(bytes)
        state = .streaming(writer: nil, buffered: buffered, ended: ended)
      case .refused(let code, var body):
        body += bytes.prefix(max(0, Self.maximumErrorBody - body.count))
        state = .refused(code: code, body: body)
      default:
        break
      }
    case .end:
      finish(context: context)
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    finish(context: context)
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    if case .waitingForHead = state {
      state = .done
      promise.fail(StatusError.internalError("error reading from the kubelet: \(error)"))
    }
    context.close(promise: nil)
  }

  private func finish(context: ChannelHandlerContext) {
    switch state {
    case .waitingForHead:
      state = .done
      promise.fail(StatusError.internalError("error dialing backend: the kubelet closed the connection"))
    case .streaming(let writer?, _, _):
      state = .done
      writer.finish()
    case .streaming(nil, let buffered, _):
      state = .streaming(writer: nil, buffered: buffered, ended: true)
    case .refused(let code, let body):
      state = .done
      promise.fail(Self.status(code: code, body: String(decoding: body, as: UTF8.self), podName: podName))
    case .done:
      return
    }
    context.close(promise: nil)
  }

  /// The client's stream is ready (called on this relay's loop): replay what arrived meanwhile.
  private func attach(_ writer: ResponseStreamWriter) {
    guard case .streaming(nil, let buffered, let ended) = state else { return }
    for bytes in buffered { writer.write(bytes) }
    if ended {
      state = .done
      writer.finish()
    } else {
      state = .streaming(writer: writer, buffered: [], ended: false)
    }
  }

  private func streamingResponse(context: ChannelHandlerContext) -> StreamingResponse {
    var headers = HTTPHeaders()
    headers.add(name: "Content-Type", value: "text/plain")
    headers.add(name: "Cache-Control", value: "no-cache, private")
    let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
    let loop = context.eventLoop
    let channel = context.channel
    return StreamingResponse(
      status: .ok, headers: headers,
      start: { writer in
        loop.execute { bound.value.attach(writer) }
        // The client went away: stop reading the kubelet.
        return { channel.close(promise: nil) }
      })
  }

  /// `GenericHttpResponseChecker.Check`.
  static func status(code: Int, body: String, podName: String) -> StatusError {
    switch code {
    case 400: return .badRequest(body)
    case 500: return .internalError(body)
    case 404:
      return StatusError(
        code: 404, reason: "NotFound",
        message: "the server could not find the requested resource ( pods/log \(podName))",
        details: ["name": .string(podName), "kind": "pods/log"])
    case 422:
      return StatusError(
        code: 422, reason: "Invalid",
        message: "the server rejected our request due to an error in our request ( pods/log \(podName))",
        details: ["name": .string(podName), "kind": "pods/log"])
    default:
      return StatusError(
        code: code, reason: "",
        message: "the server responded with the status code \(code) but did not return more information ( pods/log \(podName))",
        details: ["name": .string(podName), "kind": "pods/log"])
    }
  }
}
