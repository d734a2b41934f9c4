/// RFC 6455 opcodes.
public enum WebSocketOpcode: UInt8, Sendable, Equatable {
  case continuation = 0x0
  case text = 0x1
  case binary = 0x2
  case close = 0x8
  case ping = 0x9
  case pong = 0xA

  public var isControl: Bool { rawValue & 0x8 != 0 }
}

/// What the other side of the tunnel said, in order.
public enum WebSocketEvent: Sendable, Equatable {
  /// One complete binary message (fragments reassembled; may be empty). For the port-forward
  /// tunnel the concatenated binary payloads are the SPDY byte stream; boundaries mean nothing.
  /// Often a slice of the appended bytes (no copy): indices need not start at 0.
  case binary(ArraySlice<UInt8>)
  /// The session must answer with a pong carrying the same payload.
  case ping(ArraySlice<UInt8>)
  case pong(ArraySlice<UInt8>)
  /// The peer closed. `code` is nil when the close frame had no body (RFC 1005 "no status").
  /// 1000 means a normal end of the tunnel (EOF). The decoder returns nothing after this.
  case close(code: UInt16?, reason: String)
}

public enum WebSocketError: Error, Sendable, Equatable, CustomStringConvertible {
  // Decoding frames (all fatal for the connection).
  /// Servers must not mask (RFC 6455 §5.1).
  case maskedServerFrame
  /// Clients must mask every frame (RFC 6455 §5.1).
  case unmaskedClientFrame
  /// RSV1–3 set although no extension was negotiated.
  case reservedBitsSet(UInt8)
  case unknownOpcode(UInt8)
  /// A control frame without FIN.
  case fragmentedControlFrame(WebSocketOpcode)
  /// A control frame with more than 125 payload bytes.
  case controlFrameTooLong(Int)
  /// A 64-bit length with the most significant bit set.
  case invalidPayloadLength
  /// A continuation frame with no fragmented message in progress.
  case unexpectedContinuation
  /// A new text/binary frame while a fragmented message is still open.
  case expectedContinuation(WebSocketOpcode)
  /// Text messages are invalid in the port-forward tunnel (kubectl: "invalid message type").
  case textMessageNotAllowed
  /// A message (or one frame of it) longer than the decoder's limit.
  case messageTooLarge(length: UInt64, limit: Int)
  /// A close body of 1 byte, or a reason that is not UTF-8.
  case invalidClosePayload

  // Encoding (caller errors; nothing is appended).
  /// Control frame payloads are limited to 125 bytes and cannot be fragmented.
  case invalidControlFrame(WebSocketOpcode, payloadLength: Int)

  public var description: String {
    switch self {
    case .maskedServerFrame: return "the server sent a masked WebSocket frame"
    case .unmaskedClientFrame: return "the client sent an unmasked WebSocket frame"
    case .reservedBitsSet(let bits): return "WebSocket frame with reserved bits 0x\(String(bits, radix: 16))"
    case .unknownOpcode(let op): return "unknown WebSocket opcode 0x\(String(op, radix: 16))"
    case .fragmentedControlFrame(let op): return "fragmented WebSocket control frame \(op)"
    case .controlFrameTooLong(let n): return "WebSocket control frame with \(n) payload bytes (max 125)"
    case .invalidPayloadLength: return "WebSocket 64-bit payload length with the top bit set"
    case .unexpectedContinuation: return "WebSocket continuation frame outside a fragmented message"
    case .expectedContinuation(let op): return "WebSocket \(op) frame inside a fragmented message"
    case .textMessageNotAllowed: return "invalid message type received: text (the port-forward tunnel is binary)"
    case .messageTooLarge(let length, let limit): return "WebSocket message of \(length) bytes exceeds \(limit)"
    case .invalidClosePayload: return "malformed WebSocket close frame payload"
    case .invalidControlFrame(let op, let n): return "invalid WebSocket \(op) frame with \(n) payload bytes"
    }
  }
}

/// Close codes used by the tunnel.
public enum WebSocketCloseCode {
  public static let normalClosure: UInt16 = 1000
}

/// Client-side frame encoding (RFC 6455 §5.2). Client frames are always masked with a fresh
/// random key; passing `maskingKey: nil` produces an unmasked (server-style) frame for test peers.
public enum WebSocketFrameEncoder {
  /// A random masking key from the system CSPRNG (RFC 6455 §5.3 wants it unpredictable).
  public static func randomMaskingKey() -> UInt32 { UInt32.random(in: .min ... .max) }

  /// Appends one frame. The payload is copied once into `buffer`, then masked in place.
  public static func encodeFrame(
    opcode: WebSocketOpcode, payload: UnsafeRawBufferPointer, fin: Bool = true,
    maskingKey: UInt32? = randomMaskingKey(), into buffer: inout [UInt8]
  ) throws(WebSocketError) {
    let length = payload.count
    if opcode.isControl && (length > 125 || !fin) {
      throw .invalidControlFrame(opcode, payloadLength: length)
    }
    appendHeader(opcode: opcode, payloadLength: length, fin: fin, maskingKey: maskingKey, into: &buffer)
    let payloadStart = buffer.count
    buffer.append(contentsOf: payload)
    if let key = maskingKey { WebSocketMask.apply(key: key, to: &buffer, from: payloadStart) }
  }

  /// Appends a frame header (with the masking key, if any) for a payload the caller appends
  /// next and masks itself. No checks: control frames go through `encodeFrame`.
  public static func appendHeader(
    opcode: WebSocketOpcode, payloadLength length: Int, fin: Bool = true, maskingKey: UInt32?,
    into buffer: inout [UInt8]
  ) {
    // No reserveCapacity here: an exact reserve on every call defeats the array's geometric
    // growth and turns coalescing many frames into one buffer quadratic.
    buffer.append((fin ? 0x80 : 0) | opcode.rawValue)
    let maskBit: UInt8 = maskingKey == nil ? 0 : 0x80
    if length <= 125 {
      buffer.append(maskBit | UInt8(length))
    } else if length <= 0xFFFF {
      buffer.append(maskBit | 126)
      buffer.append(UInt8(length >> 8))
      buffer.append(UInt8(truncatingIfNeeded: length))
    } else {
      buffer.append(maskBit | 127)
      let wide = UInt64(length)
      for shift in stride(from: 56, through: 0, by: -8) { buffer.append(UInt8(truncatingIfNeeded: wide >> UInt64(shift))) }
    }
    if let key = maskingKey {
      buffer.append(UInt8(key >> 24))
      buffer.append(UInt8(truncatingIfNeeded: key >> 16))
      buffer.append(UInt8(truncatingIfNeeded: key >> 8))
      buffer.append(UInt8(truncatingIfNeeded: key))
    }
  }

  public static func encodeFrame(
    opcode: WebSocketOpcode, payload: ArraySlice<UInt8>, fin: Bool = true,
    maskingKey: UInt32? = randomMaskingKey(), into buffer: inout [UInt8]
  ) throws(WebSocketError) {
    // withUnsafeBytes cannot carry a typed throw out; report the result instead.
    let result: Result<Void, WebSocketError> = payload.withUnsafeBytes { raw in
      do throws(WebSocketError) {
        try encodeFrame(opcode: opcode, payload: raw, fin: fin, maskingKey: maskingKey, into: &buffer)
        return .success(())
      } catch { return .failure(error) }
    }
    try result.get()
  }

  /// One unfragmented binary message: the tunnel's way to send SPDY bytes (ideally one frame or a
  /// coalesced batch per message).
  public static func encodeBinary(
    _ payload: ArraySlice<UInt8>, maskingKey: UInt32 = randomMaskingKey(), into buffer: inout [UInt8]
  ) {
    // Binary frames have no length restriction below 2^63, so this cannot throw.
    try! encodeFrame(opcode: .binary, payload: payload, maskingKey: maskingKey, into: &buffer)
  }

  public static func encodeBinary(_ payload: [UInt8], maskingKey: UInt32 = randomMaskingKey(), into buffer: inout [UInt8]) {
    encodeBinary(payload[...], maskingKey: maskingKey, into: &buffer)
  }

  public static func encodePing(
    _ payload: ArraySlice<UInt8> = [], maskingKey: UInt32 = randomMaskingKey(), into buffer: inout [UInt8]
  ) throws(WebSocketError) {
    try encodeFrame(opcode: .ping, payload: payload, maskingKey: maskingKey, into: &buffer)
  }

  /// The answer to `WebSocketEvent.ping(payload)`: same payload.
  public static func encodePong(
    _ payload: ArraySlice<UInt8>, maskingKey: UInt32 = randomMaskingKey(), into buffer: inout [UInt8]
  ) throws(WebSocketError) {
    try encodeFrame(opcode: .pong, payload: payload, maskingKey: maskingKey, into: &buffer)
  }

  /// Close frame: 2-byte code (default 1000, what kubectl sends) + UTF-8 reason (≤ 123 bytes).
  public static func encodeClose(
    code: UInt16 = WebSocketCloseCode.normalClosure, reason: String = "",
    maskingKey: UInt32 = randomMaskingKey(), into buffer: inout [UInt8]
  ) throws(WebSocketError) {
    var body: [UInt8] = [UInt8(code >> 8), UInt8(truncatingIfNeeded: code)]
    body.append(contentsOf: reason.utf8)
    try encodeFrame(opcode: .close, payload: body[...], maskingKey: maskingKey, into: &buffer)
  }
}

/// The RFC 6455 §5.3 XOR mask, eight bytes at a time (this runs over every tunnel byte we send).
/// RFC 6455 masking (XOR with the 4-byte key, repeating), a machine word at a time: both the
/// client's encoder and the sandbox's server-side decoder spend most of their per-byte work here.
public enum WebSocketMask {
  /// Masks (or unmasks: the same operation) `buffer[start...]` with `key`, whose most significant
  /// byte is the first masking byte on the wire.
  public static func apply(key: UInt32, to buffer: inout [UInt8], from start: Int) {
    let keyBytes: (UInt8, UInt8, UInt8, UInt8) = (
      UInt8(key >> 24), UInt8(truncatingIfNeeded: key >> 16), UInt8(truncatingIfNeeded: key >> 8),
      UInt8(truncatingIfNeeded: key)
    )
    // A word whose in-memory byte order is k0 k1 k2 k3 k0 k1 k2 k3, whatever the host endianness.
    var wide: UInt64 = 0
    withUnsafeMutableBytes(of: &wide) { w in
      w[0] = keyBytes.0; w[1] = keyBytes.1; w[2] = keyBytes.2; w[3] = keyBytes.3
      w[4] = keyBytes.0; w[5] = keyBytes.1; w[6] = keyBytes.2; w[7] = keyBytes.3
    }
    let mask = wide
    // 32 bytes a step: about four times the 8-byte loop's speed, as fast as copying the payload in
    // the first place (a release build masked 32 KiB at 45 GB/s, against 12; SIMD32<UInt8>, which
    // the compiler did not vectorize, managed 0.13).
    let wideMask = SIMD4<UInt64>(repeating: mask)
    buffer.withUnsafeMutableBytes { raw in
      guard let base = raw.baseAddress else { return }
      let count = raw.count - start
      var p = base + start
      var i = 0
      while i + 32 <= count {
        p.storeBytes(of: p.loadUnaligned(as: SIMD4<UInt64>.self) ^ wideMask, as: SIMD4<UInt64>.self)
        p += 32
        i += 32
      }
      while i + 8 <= count {
        p.storeBytes(of: p.loadUnaligned(as: UInt64.self) ^ mask, as: UInt64.self)
        p += 8
        i += 8
      }
      // i is a multiple of 8, hence of 4: the tail starts at key byte 0.
      var k = 0
      while i < count {
        let m: UInt8
        switch k & 3 {
        case 0: m = keyBytes.0
        case 1: m = keyBytes.1
        case 2: m = keyBytes.2
        default: m = keyBytes.3
        }
        p.storeBytes(of: p.load(as: UInt8.self) ^ m, as: UInt8.self)
        p += 1
        i += 1
        k += 1
      }
    }
  }
}
