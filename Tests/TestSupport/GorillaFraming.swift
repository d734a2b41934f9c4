import PortForwardCodecs

/// A real API server's WebSocket tunnel, as the engine's decoders receive it (RealWireShape in the
/// sandbox has the sources): each piece of the SPDY stream is one binary message, which
/// gorilla/websocket's 4110-byte write buffer sends as 4096-byte frames when it is at most 8220
/// bytes long, and otherwise as one non-final frame followed by an empty final frame `80 00`.
public enum GorillaFraming {
  /// `spdy` cut into messages of the sizes in `cuts` (16384 once they run out), framed as above.
  public static func messages(_ spdy: [UInt8], cuts: [Int]) -> [UInt8] {
    var out: [UInt8] = []
    var offset = 0
    var cuts = cuts[...]
    while offset < spdy.count {
      let size = min(cuts.popFirst() ?? 16384, spdy.count - offset)
      let message = spdy[offset..<(offset + size)]
      offset += size
      if size > 8220 {
        WebSocketFrameEncoder.appendHeader(opcode: .binary, payloadLength: size, fin: false, maskingKey: nil, into: &out)
        out += message
        out += [0x80, 0x00]
      } else {
        var rest = message
        var opcode = WebSocketOpcode.binary
        repeat {
          let piece = rest.prefix(4096)
          rest = rest.dropFirst(piece.count)
          try! WebSocketFrameEncoder.encodeFrame(opcode: opcode, payload: piece, fin: rest.isEmpty, maskingKey: nil, into: &out)
          opcode = .continuation
        } while !rest.isEmpty
      }
    }
    return out
  }
}
