import PortForwardCodecs

/// SPDY/3 (what the API server or kubelet sends on the port-forward tunnel). Invariants: the frames
/// and the error do not depend on how the bytes were cut into reads; every decoded frame re-encodes
/// and decodes to itself; the decoder never returns more frames than 8-byte headers fit in the input
/// nor holds more than it was given.
enum SPDYTarget {
  static let maxHeaderBlockSize = 1 << 16

  static func run(_ input: [UInt8]) throws(InvariantViolation) {
    guard let mode = InputMode(input) else { return }
    let whole = decode([mode.rest[...]])
    let split = decode(mode.chunks)
    try check(whole.frames == split.frames && whole.error == split.error,
      "reads of \(mode.chunk) bytes give \(split.frames.count) frames, error \(String(describing: split.error)); one read gives \(whole.frames.count), error \(String(describing: whole.error))")
    try check(whole.frames.count <= mode.rest.count / 8, "\(whole.frames.count) frames from \(mode.rest.count) bytes")
    try check(whole.buffered <= mode.rest.count, "decoder holds \(whole.buffered) of \(mode.rest.count) bytes")
    // A fresh encoder/decoder pair, as the peer's own contexts would be.
    let encoder = SPDYFrameEncoder()
    let decoder = SPDYFrameDecoder(maxHeaderBlockSize: maxHeaderBlockSize)
    for frame in whole.frames {
      let wire: [UInt8]
      do { wire = try encoder.encode(frame) } catch {
        throw InvariantViolation("decoded frame \(frame) does not re-encode: \(error)")
      }
      decoder.append(wire)
      let again: SPDYFrame?
      do { again = try decoder.nextFrame() } catch {
        throw InvariantViolation("re-encoded \(frame) does not decode: \(error)")
      }
      try check(again == frame, "re-encoded \(frame) decodes to \(String(describing: again))")
      try check(decoder.bufferedByteCount == 0, "re-encoded \(frame) leaves \(decoder.bufferedByteCount) bytes")
    }
  }

  static func decode(_ chunks: [ArraySlice<UInt8>]) -> (frames: [SPDYFrame], error: SPDYError?, buffered: Int) {
    let decoder = SPDYFrameDecoder(maxHeaderBlockSize: maxHeaderBlockSize)
    var frames: [SPDYFrame] = []
    for chunk in chunks {
      decoder.append(Array(chunk))
      do {
        while let frame = try decoder.nextFrame() { frames.append(frame) }
      } catch {
        return (frames, error, decoder.bufferedByteCount)
      }
    }
    return (frames, nil, decoder.bufferedByteCount)
  }
}

/// RFC 6455 frames: a server's (what the plugin reads, variant bit 0) or a client's, masked (what the
/// sandbox's API server reads, bit 1). Invariants: events and error independent of read sizes;
/// each event re-encodes (masked for a client) and decodes to itself; a message never exceeds the
/// limit; nothing is returned after a close.
enum WebSocketTarget {
  static let maxMessageSize = 1 << 16

  static func run(_ input: [UInt8]) throws(InvariantViolation) {
    guard let mode = InputMode(input) else { return }
    let peer: WebSocketPeer = mode.variant ? .client : .server
    let whole = decode([mode.rest[...]], peer)
    let split = decode(mode.chunks, peer)
    try check(whole.events == split.events && whole.error == split.error,
      "reads of \(mode.chunk) bytes give \(split.events.count) events, error \(String(describing: split.error)); one read gives \(whole.events.count), error \(String(describing: whole.error))")
    try check(whole.events.count <= mode.rest.count / 2, "\(whole.events.count) events from \(mode.rest.count) bytes")
    for (index, event) in whole.events.enumerated() {
      if case .close = event { try check(index == whole.events.count - 1, "events after a close") }
      if case .binary(let message) = event {
        try check(message.count <= maxMessageSize, "message of \(message.count) bytes over the \(maxMessageSize) limit")
      }
      var wire: [UInt8] = []
      let key: UInt32? = peer == .client ? 0x1234_5678 : nil
      do {
        switch event {
        case .binary(let payload): try WebSocketFrameEncoder.encodeFrame(opcode: .binary, payload: payload, maskingKey: key, into: &wire)
        case .ping(let payload): try WebSocketFrameEncoder.encodeFrame(opcode: .ping, payload: payload, maskingKey: key, into: &wire)
        case .pong(let payload): try WebSocketFrameEncoder.encodeFrame(opcode: .pong, payload: payload, maskingKey: key, into: &wire)
        case .close(let code, let reason):
          var body: [UInt8] = []
          if let code { body = [UInt8(code >> 8), UInt8(truncatingIfNeeded: code)] + Array(reason.utf8) }
          try WebSocketFrameEncoder.encodeFrame(opcode: .close, payload: body[...], maskingKey: key, into: &wire)
        }
      } catch {
        throw InvariantViolation("decoded \(event) does not re-encode: \(error)")
      }
      var decoder = WebSocketFrameDecoder(maxMessageSize: maxMessageSize, framesFrom: peer)
      decoder.append(wire)
      let again: WebSocketEvent?
      do { again = try decoder.nextEvent() } catch { throw InvariantViolation("re-encoded \(event) does not decode: \(error)") }
      try check(again == event, "re-encoded \(event) decodes to \(String(describing: again))")
    }
  }

  static func decode(_ chunks: [ArraySlice<UInt8>], _ peer: WebSocketPeer) -> (events: [WebSocketEvent], error: WebSocketError?) {
    var decoder = WebSocketFrameDecoder(maxMessageSize: maxMessageSize, framesFrom: peer)
    var events: [WebSocketEvent] = []
    for chunk in chunks {
      decoder.append(Array(chunk))
      do {
        while let event = try decoder.nextEvent() { events.append(event) }
      } catch {
        return (events, error)
      }
    }
    return (events, nil)
  }
}
