import NIOCore
import PortForwardCodecs

/// Decodes the frames a WebSocket **client** sends (RFC 6455: always masked), for the server end of the
/// KEP-4006 tunnel. The `PortForward` module's `WebSocketFrameDecoder` is the client's decoder and
/// rightly refuses masked frames, hence this small counterpart.
///
/// For the tunnel, message boundaries mean nothing: the binary payloads concatenated are the SPDY byte
/// stream. So each binary or continuation frame's payload is handed out as soon as it is complete,
/// without reassembling messages; only the message type is tracked (text is refused).
struct WebSocketClientFrameDecoder {
  enum Event: Equatable {
    /// Payload of a binary frame or of a continuation of a binary message (may be empty).
    case binary([UInt8])
    case ping([UInt8])
    case pong
    /// `code` nil for a close frame without a body.
    case close(code: UInt16?)
  }

  enum Failure: Error, Equatable {
    case unmaskedClientFrame
    case reservedBitsSet
    case unknownOpcode(UInt8)
    case textMessage
    case invalidControlFrame
    case unexpectedContinuation
    case expectedContinuation
    case frameTooLarge(UInt64)
  }

  /// Largest frame payload accepted (checked from the header, before buffering the payload).
  let maximumFrameSize: Int
  private var buffer = ByteBuffer()
  private var inBinaryMessage = false
  private(set) var isClosed = false

  init(maximumFrameSize: Int = 16 << 20) { self.maximumFrameSize = maximumFrameSize }

  mutating func append(_ bytes: inout ByteBuffer) {
    guard !isClosed else { return }
    buffer.writeBuffer(&bytes)
  }

  mutating func next() throws(Failure) -> Event? {
    while !isClosed {
      let start = buffer.readerIndex
      guard let b0: UInt8 = buffer.getInteger(at: start), let b1: UInt8 = buffer.getInteger(at: start + 1) else {
        return nil
      }
      if b0 & 0x70 != 0 { throw .reservedBitsSet }
      guard b1 & 0x80 != 0 else { throw .unmaskedClientFrame }
      let fin = b0 & 0x80 != 0
      let opcode = b0 & 0x0F
      var length = UInt64(b1 & 0x7F)
      var offset = 2
      if length == 126 {
        guard let wide: UInt16 = buffer.getInteger(at: start + 2) else { return nil }
        length = UInt64(wide)
        offset = 4
      } else if length == 127 {
        guard let wide: UInt64 = buffer.getInteger(at: start + 2) else { return nil }
        length = wide
        offset = 10
      }
      switch opcode {
      case 0x1: throw .textMessage
      case 0x2: if inBinaryMessage { throw .expectedContinuation }
      case 0x0: if !inBinaryMessage { throw .unexpectedContinuation }
      case 0x8, 0x9, 0xA: if !fin || length > 125 { throw .invalidControlFrame }
      default: throw .unknownOpcode(opcode)
      }
      guard length <= UInt64(maximumFrameSize) else { throw .frameTooLarge(length) }
      let total = offset + 4 + Int(length)
      guard buffer.readableBytes >= total else { return nil }
      guard let key: UInt32 = buffer.getInteger(at: start + offset),
        var payload = buffer.getBytes(at: start + offset + 4, length: Int(length))
      else { return nil }
      buffer.moveReaderIndex(forwardBy: total)
      WebSocketMask.apply(key: key, to: &payload, from: 0)
      if buffer.readableBytes == 0 { buffer.discardReadBytes() }
      switch opcode {
      case 0x0, 0x2:
        inBinaryMessage = !fin
        return .binary(payload)
      case 0x9:
        return .ping(payload)
      case 0xA:
        return .pong
      default:  // 0x8
        isClosed = true
        buffer = ByteBuffer()
        if payload.count >= 2 { return .close(code: UInt16(payload[0]) << 8 | UInt16(payload[1])) }
        return .close(code: nil)
      }
    }
    return nil
  }
}
