import Foundation
import NIOCore
import PortForwardCodecs

/// The server end of the KEP-4006 tunnel, as kube-apiserver's `streamtunnel.go`: a SPDY upgrade is
/// opened to the kubelet first; only when the kubelet answers 101 does the client get its WebSocket
/// 101 (`Sec-WebSocket-Protocol: SPDY/3.1+<the kubelet's X-Stream-Protocol-Version>`). Any other answer
/// is relayed raw, so the client sees an upgrade failure (kubectl then falls back to SPDY).
///
/// After the switch: binary messages from the client (masked) are unwrapped into the SPDY byte stream
/// towards the kubelet; kubelet bytes go to the client as unmasked binary messages, one per kubelet TLS
/// record, framed as gorilla/websocket frames them, in the records Go's TLS cuts (`RealWireShape`).
/// Pings are answered with pongs; a text message or a close frame closes both connections (a close is
/// answered with a close frame first); the kubelet closing sends close 1000 to the client.
final class WebSocketTunnel: ChannelInboundHandler, KubeletConnectionOwner {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  private enum State {
    /// Dialing the kubelet or waiting for its response head.
    case connecting
    /// The WebSocket is up.
    case tunneling
    /// The kubelet refused the upgrade: its response is relayed raw until it closes.
    case relayingRefusal
    case closed
  }

  private let endpoint: KubeletEndpoint
  private let dialer: KubeletDialer
  private let upgradeRequest: [UInt8]
  private let acceptValue: String
  private var state = State.connecting
  private var context: ChannelHandlerContext?
  private let kubelet = KubeletLeg()
  private var responseHead: [UInt8] = []
  /// Client bytes that arrive before the WebSocket is up (a well-behaved client sends none).
  private var decoder = WebSocketFrameDecoder(framesFrom: .client)
  private var reader = KubeletRecordReader()
  private let writer = GoTLSWriter()

  init(endpoint: KubeletEndpoint, dialer: KubeletDialer, upgradeRequest: [UInt8], acceptValue: String) {
    self.endpoint = endpoint
    self.dialer = dialer
    self.upgradeRequest = upgradeRequest
    self.acceptValue = acceptValue
  }

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    kubelet.open(endpoint: endpoint, dialer: dialer, request: upgradeRequest, owner: self, on: context.eventLoop)
  }

  // MARK: Client side

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let buffer = unwrapInboundIn(data)
    buffer.withUnsafeReadableBytes { decoder.append($0) }
    if case .tunneling = state { pumpClientFrames() }
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    kubelet.flush()
    context.flush()
    context.fireChannelReadComplete()
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    kubelet.setAutoRead(context.channel.isWritable)
    context.fireChannelWritabilityChanged()
  }

  func channelInactive(context: ChannelHandlerContext) {
    state = .closed
    kubelet.close()
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    context.close(promise: nil)
  }

  private func pumpClientFrames() {
    guard let context, kubelet.channel != nil else { return }
    do {
      while case .tunneling = state, let event = try decoder.nextEvent() {
        switch event {
        case .binary(let payload):
          if !payload.isEmpty { kubelet.write(context.channel.allocator.buffer(bytes: payload)) }
        case .ping(let payload):
          var frame: [UInt8] = []
          try? WebSocketFrameEncoder.encodeFrame(opcode: .pong, payload: payload, maskingKey: nil, into: &frame)
          writer.write(context.channel.allocator.buffer(bytes: frame), to: context)
        case .pong:
          break
        case .close(let code, _):
          // Answer with the same code (1000 when none was given), then end both sides.
          closeBoth(code: code ?? WebSocketCloseCode.normalClosure, reason: "")
        }
      }
    } catch {
      // The do block's thrown type is the decoder's typed `WebSocketError`.
      if error == .textMessageNotAllowed {
        closeBoth(code: 1003, reason: "invalid message type received")
      } else {
        closeBoth(code: 1002, reason: "protocol error")
      }
    }
  }

  /// Sends a close frame to the client, then closes both connections once it is written.
  private func closeBoth(code: UInt16, reason: String) {
    guard let context else { return }
    state = .closed
    kubelet.flush()
    kubelet.close()
    var frame: [UInt8] = []
    let body = [UInt8(code >> 8), UInt8(truncatingIfNeeded: code)] + Array(reason.utf8)
    try? WebSocketFrameEncoder.encodeFrame(opcode: .close, payload: body[...], maskingKey: nil, into: &frame)
    let channel = context.channel
    writer.write(channel.allocator.buffer(bytes: frame), to: context)
    context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
      channel.close(promise: nil)
    }
  }

  // MARK: KubeletConnectionOwner

  func kubeletDialFailed(_ error: Error) {
    guard let context, case .connecting = state else { return }
    state = .closed
    KubeletLeg.refuse(context, dialError: error)
  }

  func kubeletRead(_ buffer: ByteBuffer) {
    guard let context else { return }
    var buffer = buffer
    switch state {
    case .connecting:
      responseHead += buffer.readBytes(length: buffer.readableBytes) ?? []
      guard let end = Self.headEnd(responseHead) else { return }
      let head = Array(responseHead[..<end])
      let rest = Array(responseHead[end...])
      responseHead = []
      let (status, headers) = Self.parseHead(head)
      guard status == 101 else {
        // Replay the kubelet's refusal as it is (status line, headers and whatever body follows).
        state = .relayingRefusal
        context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: head + rest)), promise: nil)
        return
      }
      state = .tunneling
      let negotiated = headers.first { $0.name == "x-stream-protocol-version" }?.value ?? "portforward.k8s.io"
      let response =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Accept: \(acceptValue)\r\nSec-WebSocket-Protocol: \(KubeletProxy.tunnelPrefix)\(negotiated)\r\n\r\n"
      // gorilla writes the 101 head with one write on the hijacked connection.
      writer.write(context.channel.allocator.buffer(string: response), to: context)
      reader.append(context.channel.allocator.buffer(bytes: rest))
      relayRecords(context)
      // Frames the client sent early (gorilla's server would refuse them; we keep them in order).
      pumpClientFrames()
      kubelet.flush()
    case .tunneling:
      reader.append(buffer)
      relayRecords(context)
    case .relayingRefusal:
      context.write(wrapOutboundOut(buffer), promise: nil)
    case .closed:
      break
    }
  }

  /// One binary message per kubelet record (`TunnelingConnection.Write` per io.Copy read), each in
  /// gorilla's frames and writes.
  private func relayRecords(_ context: ChannelHandlerContext) {
    while let read = reader.nextRead() {
      for write in GorillaMessageWriter.writes(message: read, allocator: context.channel.allocator) {
        writer.write(write, to: context)
      }
    }
  }

  func kubeletReadComplete() { context?.flush() }

  func kubeletWritabilityChanged(_ writable: Bool) {
    _ = context?.channel.setOption(ChannelOptions.autoRead, value: writable)
  }

  func kubeletClosed() {
    guard let context else { return }
    let channel = context.channel
    switch state {
    case .tunneling:
      closeBoth(code: WebSocketCloseCode.normalClosure, reason: "")
    case .connecting:
      state = .closed
      let bytes = RawStatusResponse.bytes(.internalError("error dialing backend: the kubelet closed the connection"))
      context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(bytes: bytes))).whenComplete { _ in
        channel.close(promise: nil)
      }
    case .relayingRefusal:
      state = .closed
      context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
        channel.close(promise: nil)
      }
    case .closed:
      break
    }
  }

  // MARK: HTTP response head

  static func headEnd(_ bytes: [UInt8]) -> Int? {
    guard bytes.count >= 4 else { return nil }
    for index in 0...(bytes.count - 4)
    where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
      return index + 4
    }
    return nil
  }

  /// Status code and headers (names lowercased) of a response head.
  static func parseHead(_ head: [UInt8]) -> (Int, [(name: String, value: String)]) {
    let lines = String(decoding: head, as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: true)
    guard let statusLine = lines.first else { return (0, []) }
    let parts = statusLine.split(separator: " ", maxSplits: 2)
    let status = parts.count >= 2 ? Int(parts[1]) ?? 0 : 0
    var headers: [(name: String, value: String)] = []
    for line in lines.dropFirst() {
      guard let colon = line.firstIndex(of: ":") else { continue }
      headers.append(
        (
          line[..<colon].lowercased(),
          String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        ))
    }
    return (status, headers)
  }
}
