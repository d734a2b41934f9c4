/// Whose frames a decoder reads. RFC 6455 §5.1: a client masks every frame it sends, a server none,
/// and a frame that breaks the rule is fatal. The plugin reads a server's frames; the sandbox's API
/// server, the other end of the same tunnel, reads a client's.
public enum WebSocketPeer: Sendable {
  case server
  case client
}

/// Incremental decoder for the frames one WebSocket peer sends (RFC 6455): binary messages possibly
/// fragmented, control frames possibly interleaved between fragments; masked frames (a client's) are
/// unmasked.
///
/// A value type (honestly Sendable): it holds only bytes and counters. `nextEvent()` returns nil
/// when more bytes are needed (nothing copied in that case). Unfragmented unmasked messages are
/// returned as slices of the appended chunks; fragmented ones are gathered into one buffer. After a
/// fatal error the decoder keeps throwing it; after a close frame it returns nil and drops input.
///
/// With `streamingPayloads` (for a byte stream carried in binary messages, like the SPDY tunnel,
/// whose reader does not care where messages end) unmasked binary and continuation payloads are
/// returned as `.binary` pieces as soon as they arrive, without waiting for the frame or the message
/// to complete and without gathering: a real API server sends a message per kubelet TLS record, as
/// several 4 KiB frames or a frame followed by an empty final one (`RealWireShape` in the sandbox).
/// The framing rules (continuations only inside a fragmented message, the size limit, control
/// frames only between frames) are checked all the same.
public struct WebSocketFrameDecoder: Sendable {
  /// Largest message accepted (sum of its fragments); checked from frame headers, before the
  /// payload is buffered, so a hostile length cannot make us wait for or allocate gigabytes.
  public let maxMessageSize: Int
  /// The peer whose frames this reads, which decides whether frames must be masked.
  public let peer: WebSocketPeer
  private var queue = ChunkQueue()
  private var fragments: [UInt8] = []
  private var inFragmentedMessage = false
  private var closed = false
  private var failure: WebSocketError?
  /// Hand out data payloads piece by piece (unmasked frames only).
  public let streamingPayloads: Bool
  /// Streaming: payload bytes of the current data frame not handed out yet.
  private var frameRemaining = 0
  /// Streaming: the current message's length so far, for the size limit (nothing is gathered).
  private var messageLength: UInt64 = 0

  public init(maxMessageSize: Int = 16 << 20, framesFrom peer: WebSocketPeer = .server, streamingPayloads: Bool = false) {
    self.maxMessageSize = max(0, maxMessageSize)
    self.peer = peer
    self.streamingPayloads = streamingPayloads
  }

  public var bufferedByteCount: Int { queue.count }
  /// True once a close frame was decoded.
  public var isClosed: Bool { closed }

  /// Adds received bytes; the array is kept by reference, not copied.
  public mutating func append(_ bytes: [UInt8]) { if !closed { queue.append(bytes[...]) } }
  public mutating func append(_ bytes: ArraySlice<UInt8>) { if !closed { queue.append(bytes) } }
  /// Adds received bytes from memory the caller owns; they are copied once.
  public mutating func append(_ bytes: UnsafeRawBufferPointer) {
    if !closed && !bytes.isEmpty { queue.append(Array(bytes)[...]) }
  }

  public mutating func nextEvent() throws(WebSocketError) -> WebSocketEvent? {
    if let failure { throw failure }
    do {
      return try decode()
    } catch {
      failure = error
      throw error
    }
  }

  private mutating func decode() throws(WebSocketError) -> WebSocketEvent? {
    // Each pass consumes at least the 2-byte header, so this ends when the bytes run out.
    while !closed {
      if frameRemaining > 0 {
        // Inside a streamed payload: whatever of it is here, from one chunk, without a copy.
        guard queue.count > 0 else { return nil }
        let piece = queue.readContiguous(upTo: frameRemaining)
        frameRemaining -= piece.count
        return .binary(piece)
      }
      guard queue.count >= 2 else { return nil }
      let b0 = queue.peek(0)
      let b1 = queue.peek(1)
      if b0 & 0x70 != 0 { throw .reservedBitsSet(b0 & 0x70) }
      guard let opcode = WebSocketOpcode(rawValue: b0 & 0x0F) else { throw .unknownOpcode(b0 & 0x0F) }
      let masked = b1 & 0x80 != 0
      switch peer {
      case .server: if masked { throw .maskedServerFrame }
      case .client: if !masked { throw .unmaskedClientFrame }
      }
      let fin = b0 & 0x80 != 0
      var headerLength = 2
      var length = UInt64(b1 & 0x7F)
      if length == 126 {
        guard queue.count >= 4 else { return nil }
        length = UInt64(queue.peek(2)) << 8 | UInt64(queue.peek(3))
        headerLength = 4
      } else if length == 127 {
        guard queue.count >= 10 else { return nil }
        length = 0
        for i in 2..<10 { length = length << 8 | UInt64(queue.peek(i)) }
        if length & (1 << 63) != 0 { throw .invalidPayloadLength }
        headerLength = 10
      }
      // Everything checkable from the header is checked before waiting for the payload.
      switch opcode {
      case .close, .ping, .pong:
        if !fin { throw .fragmentedControlFrame(opcode) }
        if length > 125 { throw .controlFrameTooLong(Int(length)) }
      case .text:
        throw .textMessageNotAllowed
      case .binary:
        if inFragmentedMessage { throw .expectedContinuation(opcode) }
        if length > UInt64(maxMessageSize) { throw .messageTooLarge(length: length, limit: maxMessageSize) }
      case .continuation:
        if !inFragmentedMessage { throw .unexpectedContinuation }
        let total = (streamingPayloads ? messageLength : UInt64(fragments.count)) + length
        if total > UInt64(maxMessageSize) { throw .messageTooLarge(length: total, limit: maxMessageSize) }
      }
      if streamingPayloads && !masked && (opcode == .binary || opcode == .continuation) {
        queue.skip(headerLength)
        messageLength = (opcode == .binary ? 0 : messageLength) + length
        inFragmentedMessage = !fin
        frameRemaining = Int(length)  // ≤ maxMessageSize, checked above
        continue
      }
      let maskLength = masked ? 4 : 0
      let frameLength = headerLength + maskLength + Int(length)  // length ≤ maxMessageSize or ≤ 125 here
      guard queue.count >= frameLength else { return nil }
      let key = masked ? queue.peekUInt32(headerLength) : 0
      queue.skip(headerLength + maskLength)
      var payload = queue.read(Int(length))
      if masked {
        // The one copy a masked payload costs: the appended chunks are shared, never written.
        var unmasked = Array(payload)
        WebSocketMask.apply(key: key, to: &unmasked, from: 0)
        payload = unmasked[...]
      }
      switch opcode {
      case .ping: return .ping(payload)
      case .pong: return .pong(payload)
      case .close:
        closed = true
        queue = ChunkQueue()
        return try Self.parseClose(payload)
      case .binary:
        if fin { return .binary(payload) }
        inFragmentedMessage = true
        fragments = Array(payload)
      case .continuation:
        fragments.append(contentsOf: payload)
        if fin {
          inFragmentedMessage = false
          let message = fragments
          fragments = []
          return .binary(message[...])
        }
      case .text:
        preconditionFailure("text frames are rejected above")
      }
    }
    return nil
  }

  private static func parseClose(_ payload: ArraySlice<UInt8>) throws(WebSocketError) -> WebSocketEvent {
    if payload.isEmpty { return .close(code: nil, reason: "") }
    guard payload.count >= 2 else { throw .invalidClosePayload }
    let code = UInt16(payload[payload.startIndex]) << 8 | UInt16(payload[payload.startIndex + 1])
    guard let reason = String(validating: payload.dropFirst(2), as: UTF8.self) else { throw .invalidClosePayload }
    return .close(code: code, reason: reason)
  }
}
