import KubeletAPI
import NIOCore

/// The API server's side of `RealWireShape` (the facts and their sources are there).

/// What kube-apiserver's `io.Copy` reads from the kubelet's `tls.Conn`: one TLS record per read. NIOSSL
/// hands the sandbox the kubelet's bytes without their record boundaries, so they are cut again here
/// by the model the sandbox's kubelet writes by: spdystream's field-by-field writes
/// (`SpdystreamWrites`), each cut into records by the kubelet connection's `GoTLSRecordSizer`. Fed the
/// bytes after the kubelet's upgrade response head. Event-loop confined, like its owner.
struct KubeletRecordReader {
  private var pending: ByteBuffer?
  private var sizer = GoTLSRecordSizer()
  /// The framer writes of the current frame still to come (the first one is in progress).
  private var writes: ArraySlice<Int> = []
  private var writeRemaining = 0
  /// The length of the record being waited for, once it has been decided.
  private var record: Int?

  mutating func append(_ incoming: ByteBuffer) {
    guard incoming.readableBytes > 0 else { return }
    if var pending, pending.readableBytes > 0 {
      var incoming = incoming
      pending.writeBuffer(&incoming)
      self.pending = pending
    } else {
      // Nothing left over: the new buffer is taken as it is (slices of it are read without a copy).
      pending = incoming
    }
  }

  /// The next read the real API server would get, once all of its bytes are here.
  mutating func nextRead() -> ByteBuffer? {
    guard var buffer = pending else { return nil }
    if record == nil {
      if writeRemaining == 0 {
        if writes.isEmpty {
          guard buffer.readableBytes >= 8 else { return nil }
          writes = SpdystreamWrites.writes(header: buffer.readableBytesView.prefix(8))[...]
        }
        writeRemaining = writes.removeFirst()
      }
      let length = sizer.nextRecord(remaining: writeRemaining)
      writeRemaining -= length
      record = length
    }
    guard let length = record, buffer.readableBytes >= length else { return nil }
    record = nil
    let read = buffer.readSlice(length: length)
    pending = buffer.readableBytes > 0 ? buffer : nil
    return read
  }
}

/// Writes through a Go `tls.Conn` of the API server's: each write cut into the records Go would make,
/// each record its own socket write (Go writes every record as it seals it). NIOSSL seals one record
/// per buffer written, so a buffer per record and a flush after each gives the same records.
///
/// A class, not a struct held in a `var` of the handler: a flush can re-enter the handler (NIO reads
/// from a socket whose write failed, and that read may make the handler write again), and a mutating
/// method would still hold exclusive access to the handler's `var` then, which traps (it crashed the
/// sandbox in `make bench`). Only the sizer's step is exclusive here, never across a flush.
final class GoTLSWriter {
  private var sizer = GoTLSRecordSizer()

  func write(_ buffer: ByteBuffer, to context: ChannelHandlerContext) {
    var buffer = buffer
    while buffer.readableBytes > 0 {
      let length = sizer.nextRecord(remaining: buffer.readableBytes)
      context.write(NIOAny(buffer.readSlice(length: length)!), promise: nil)
      context.flush()
    }
  }
}

/// gorilla/websocket's `messageWriter` for one binary message of the tunnel (`TunnelingConnection.Write`:
/// `NextWriter`, one `Write`, `Close`) on a server connection with the 4096 + 14 byte buffer it allocates
/// when the hijacked writer offers none: the socket writes it makes, in order.
enum GorillaMessageWriter {
  /// The write buffer: `defaultWriteBufferSize` + `maxFrameHeaderSize`.
  static let bufferSize = 4096 + 14
  /// The payload of a full buffered frame (the 14 header bytes are reserved in the buffer).
  static let framePayload = 4096
  /// `len(p) > 2*len(w.c.writeBuf)`: longer writes skip the buffer.
  static let directThreshold = 2 * bufferSize

  static func writes(message: ByteBuffer, allocator: ByteBufferAllocator) -> [ByteBuffer] {
    let count = message.readableBytes
    if count > directThreshold {
      // flushFrame(false, p): the header and the payload as two writes; Close: an empty final frame.
      var header = allocator.buffer(capacity: 10)
      appendHeader(opcode: 0x2, fin: false, length: count, to: &header)
      var final = allocator.buffer(capacity: 2)
      appendHeader(opcode: 0x0, fin: true, length: 0, to: &final)
      return [header, message, final]
    }
    // Buffered: a frame is flushed when the buffer is full and more is to be copied; Close flushes the rest.
    var rest = message
    var opcode: UInt8 = 0x2
    var writes: [ByteBuffer] = []
    repeat {
      let length = min(framePayload, rest.readableBytes)
      let fin = rest.readableBytes <= framePayload
      var frame = allocator.buffer(capacity: length + 4)
      appendHeader(opcode: opcode, fin: fin, length: length, to: &frame)
      var payload = rest.readSlice(length: length)!
      frame.writeBuffer(&payload)
      writes.append(frame)
      opcode = 0x0
    } while rest.readableBytes > 0
    return writes
  }

  /// A server frame's header (no mask): 2, 4 or 10 bytes as the length needs.
  static func appendHeader(opcode: UInt8, fin: Bool, length: Int, to buffer: inout ByteBuffer) {
    buffer.writeInteger((fin ? 0x80 : 0) | opcode)
    if length <= 125 {
      buffer.writeInteger(UInt8(length))
    } else if length <= 0xFFFF {
      buffer.writeInteger(UInt8(126))
      buffer.writeInteger(UInt16(length))
    } else {
      buffer.writeInteger(UInt8(127))
      buffer.writeInteger(UInt64(length))
    }
  }
}
