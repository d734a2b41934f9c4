import Foundation
import KubeletAPI
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOSSL
import PortForwardCodecs
import Testing
import TestSupport

@testable import KubeSandbox

/// The sandbox writes port-forward bytes the way a real cluster does (`RealWireShape`): first the model
/// against the numbers read from the Go sources, then the wire of a real sandbox (in-process API server
/// and kubelet over TLS, an echo "pod") against the model: TLS record sizes seen by a tap between the
/// client and the API server, WebSocket frames and FIN bits, SPDY frames.
@Suite("sandbox API server and kubelet: the real wire shape", .serialized)
struct WireShapeTests {
  // MARK: The model, against the Go sources

  @Test func goTLSRecordsGrowUntil128KiBThenAreFull() {
    var sizer = GoTLSRecordSizer()
    // crypto/tls maxPayloadSizeForWrite: 1186 × (k+1) with TLS 1.3 and an AEAD.
    #expect(sizer.records(forWriteOf: 16384) == [1186, 2372, 3558, 4744, 4524])
    #expect(sizer.records(forWriteOf: 4) == [4])
    #expect(sizer.records(forWriteOf: 0) == [])
    while sizer.bytesSent < GoTLSRecordSizer.boostThreshold { _ = sizer.records(forWriteOf: 16384) }
    #expect(sizer.records(forWriteOf: 32768) == [16384, 16384])
    #expect(sizer.records(forWriteOf: 20000) == [16384, 3616])
  }

  @Test func spdystreamWritesEveryFieldOnItsOwn() throws {
    let encoder = SPDYFrameEncoder()
    let data = try encoder.encode(.data(SPDYDataFrame(streamID: 3, payload: ArraySlice(repeating: 7, count: 32768))))
    #expect(SpdystreamWrites.writes(header: data) == [4, 4, 32768])
    let fin = try encoder.encode(.data(SPDYDataFrame(streamID: 3, flags: .fin)))
    #expect(SpdystreamWrites.writes(header: fin) == [4, 4])
    let reply = try encoder.encode(.synReply(SPDYSynReply(streamID: 1)))
    #expect(SpdystreamWrites.writes(header: reply) == [2, 2, 4, 4, reply.count - 12])
    let rst = try encoder.encode(.rstStream(SPDYRstStream(streamID: 1, status: .cancel)))
    #expect(SpdystreamWrites.writes(header: rst) == [2, 2, 4, 4, 4])
    let ping = try encoder.encode(.ping(SPDYPing(id: 1)))
    #expect(SpdystreamWrites.writes(header: ping) == [2, 2, 4, 4])
  }

  /// gorilla's messageWriter with its 4110-byte buffer: frames of 4096, the last one final, up to 8220
  /// bytes; above, a non-final frame written as header and payload, then `80 00`.
  @Test func gorillaFramesMessagesByTheirSize() {
    func shape(_ count: Int) -> [[UInt8]] {
      GorillaMessageWriter.writes(message: ByteBuffer(repeating: 0xAB, count: count), allocator: ByteBufferAllocator())
        .map { Array($0.readableBytesView.prefix(4)) + [UInt8(truncatingIfNeeded: $0.readableBytes >> 8), UInt8(truncatingIfNeeded: $0.readableBytes)] }
    }
    func sizes(_ count: Int) -> [Int] {
      GorillaMessageWriter.writes(message: ByteBuffer(repeating: 0xAB, count: count), allocator: ByteBufferAllocator())
        .map(\.readableBytes)
    }
    #expect(sizes(4) == [6])
    #expect(shape(4)[0].prefix(2) == [0x82, 0x04])
    #expect(sizes(4096) == [4100])
    #expect(shape(4096)[0].prefix(4) == [0x82, 126, 0x10, 0x00])
    #expect(sizes(4097) == [4100, 3])
    #expect(shape(4097).map { $0[0] } == [0x02, 0x80])
    #expect(sizes(8192) == [4100, 4100])
    #expect(shape(8192).map { $0[0] } == [0x02, 0x80])
    #expect(sizes(8220) == [4100, 4100, 30])
    #expect(shape(8220).map { $0[0] } == [0x02, 0x00, 0x80])
    #expect(sizes(8221) == [4, 8221, 2])
    #expect(shape(8221)[0].prefix(4) == [0x02, 126, 0x20, 0x1D])
    #expect(shape(8221)[2].prefix(2) == [0x80, 0x00])
    #expect(sizes(16384) == [4, 16384, 2])
    #expect(sizes(70000) == [10, 70000, 2])
    #expect(shape(70000)[0].prefix(2) == [0x02, 127])
  }

  /// The API server's writes to the client: each cut into Go's records, each record flushed on its
  /// own. (The wire test below rarely sees a cut: spdystream's small writes use up the growing record
  /// sizes before any payload comes, so this pins the writer directly.)
  @Test func goTLSWriterWritesAndFlushesRecordByRecord() throws {
    let recorder = WriteRecorder()
    let channel = EmbeddedChannel(handlers: [recorder, GoTLSWriterHarness()])
    try channel.writeInbound(ByteBuffer(repeating: 1, count: 16384))
    try channel.writeInbound(ByteBuffer(repeating: 2, count: 4))
    #expect(recorder.events == ["w1186", "f", "w2372", "f", "w3558", "f", "w4744", "f", "w4524", "f", "w4", "f"])
    _ = try channel.finish()
  }

  /// A flush that re-enters the writer's handler (NIO reads from a socket whose write failed, and
  /// the tunnel answers a close frame read then): the nested write goes out and nothing traps. A
  /// mutating writer held in the handler's `var` crashed the sandbox here in `make bench`.
  @Test func goTLSWriterMayBeReenteredFromAFlush() throws {
    let recorder = WriteRecorder()
    let channel = EmbeddedChannel(handlers: [recorder, ReadOnFirstFlush(), GoTLSWriterHarness()])
    try channel.writeInbound(ByteBuffer(repeating: 1, count: 16384))
    let writes = recorder.events.filter { $0.hasPrefix("w") }.map { Int($0.dropFirst())! }
    #expect(writes.reduce(0, +) == 16384 + 4, "\(recorder.events)")
    #expect(writes.contains(4), "the nested write went out: \(recorder.events)")
    #expect(recorder.events.filter { $0 == "f" }.count == writes.count, "a flush after every record")
    _ = try channel.finish()
  }

  /// The API server's reads of the kubelet stream do not depend on how the bytes arrive.
  @Test(arguments: [1, 3, 8, 1000, 70000])
  func kubeletRecordReaderCutsTheSameWhateverTheChunks(chunk: Int) throws {
    let encoder = SPDYFrameEncoder()
    var stream = try encoder.encode(.synReply(SPDYSynReply(streamID: 1)))
    stream += try encoder.encode(.data(SPDYDataFrame(streamID: 3, payload: ArraySlice(repeating: 1, count: 32768))))
    stream += try encoder.encode(.data(SPDYDataFrame(streamID: 3, payload: ArraySlice(repeating: 2, count: 10))))
    stream += try encoder.encode(.data(SPDYDataFrame(streamID: 3, flags: .fin)))
    var reader = KubeletRecordReader()
    var reads: [[UInt8]] = []
    var offset = 0
    while offset < stream.count {
      let end = min(stream.count, offset + chunk)
      reader.append(ByteBuffer(bytes: stream[offset..<end]))
      offset = end
      while let read = reader.nextRead() { reads.append(Array(read.readableBytesView)) }
    }
    let replyBody = stream.count - (8 + 32768 + 8 + 10 + 8) - 12
    // Every record counts towards the growth, the SYN_REPLY's five small ones too: the payload's
    // records are the 8th to 11th (1186 × 8, × 9, × 10, the rest).
    #expect(reads.map(\.count) == [2, 2, 4, 4, replyBody, 4, 4, 9488, 10674, 11860, 746, 4, 4, 10, 4, 4])
    #expect(Array(reads.joined()) == stream)
  }

  // MARK: The wire

  enum Mode: String, CaseIterable, Sendable { case websocket, spdy }

  @Test(arguments: Mode.allCases)
  func clientReceivesTheRealServersShape(mode: Mode) async throws {
    try await PortForwardCluster.with { cluster in
      let echo = try await EchoServer(group: cluster.group)
      defer { Task { await echo.close() } }
      _ = try cluster.createPod("p", port: echo.port)
      let tap = try await RecordTap.start(group: cluster.group, upstreamPort: cluster.sandbox.port)
      defer { Task { await tap.close() } }
      let (channel, inbox) = try await cluster.rawTLSConnection(port: tap.port)
      defer { channel.close(promise: nil) }

      let key = WebSocketHandshake.makeKey()
      let request =
        mode == .websocket
        ? "GET /api/v1/namespaces/default/pods/p/portforward HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
          + "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: \(key)\r\n"
          + "Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io\r\n\r\n"
        : "POST /api/v1/namespaces/default/pods/p/portforward HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
          + "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\nContent-Length: 0\r\n\r\n"
      try await channel.writeAndFlush(ByteBuffer(string: request)).get()
      let head = try await waitForResponseHead(inbox)
      #expect(head.hasPrefix("HTTP/1.1 101"), "\(head)")

      // Error and data streams for the echo port, then 300 KiB on the data stream.
      let encoder = SPDYFrameEncoder()
      let payload = randomBytes(300 * 1024)
      var spdy = try encoder.encode(
        .synStream(SPDYSynStream(streamID: 1, headers: ["streamtype": "error", "port": "\(echo.port)", "requestid": "0"])))
      spdy += try encoder.encode(
        .synStream(SPDYSynStream(streamID: 3, headers: ["streamtype": "data", "port": "\(echo.port)", "requestid": "0"])))
      var offset = 0
      while offset < payload.count {
        let end = min(payload.count, offset + 32768)
        spdy += try encoder.encode(.data(SPDYDataFrame(streamID: 3, payload: payload[offset..<end])))
        offset = end
      }
      var out: [UInt8] = []
      if mode == .websocket { WebSocketFrameEncoder.encodeBinary(spdy[...], into: &out) } else { out = spdy }
      try await channel.writeAndFlush(ByteBuffer(bytes: out)).get()

      // Everything after the head, until the echo is complete.
      var received: [UInt8] = []
      var frames: [WireFrame] = []
      var spdyStream: [UInt8] = []
      var echoed = 0
      let deadline = Date().addingTimeInterval(30)
      while echoed < payload.count, Date() < deadline {
        received += inbox.withLockedValue { box -> [UInt8] in
          defer { box = [] }
          return box
        }
        if mode == .websocket {
          (frames, spdyStream) = try WireFrame.parseAll(received)
        } else {
          spdyStream = received
        }
        echoed = Self.dataBytes(spdyStream, stream: 3)
        if echoed < payload.count { try await Task.sleep(nanoseconds: 20_000_000) }
      }
      #expect(echoed == payload.count)

      // The real shape, stated directly: DATA frames of at most 32 KiB arrive as a 4-byte and a 4-byte
      // piece, then the payload in reads of at most one 16 KiB record.
      var reader = KubeletRecordReader()
      reader.append(ByteBuffer(bytes: spdyStream))
      var reads: [Int] = []
      while let read = reader.nextRead() { reads.append(read.readableBytes) }
      #expect(reads.reduce(0, +) == spdyStream.count)
      #expect(reads.max() == RealWireShape.maxRecordPayload)
      #expect(reads.filter { $0 == 4 }.count >= 2 * (payload.count / 32768))

      // The client's writes, as the real server makes them.
      var writes: [ByteBuffer] = [ByteBuffer(string: head)]
      reader = KubeletRecordReader()
      reader.append(ByteBuffer(bytes: spdyStream))
      while let read = reader.nextRead() {
        if mode == .websocket {
          writes += GorillaMessageWriter.writes(message: read, allocator: ByteBufferAllocator())
        } else {
          writes.append(read)
        }
      }
      if mode == .websocket {
        // Frames and FIN bits on the wire are gorilla's.
        let expectedFrames = try WireFrame.parseAll(Array(writes.dropFirst().map { Array($0.readableBytesView) }.joined())).0
        #expect(frames == expectedFrames)
        // A message longer than 8220 bytes: one non-final binary frame, then an empty final `80 00`.
        let long = frames.indices.dropLast().filter {
          frames[$0].opcode == 2 && !frames[$0].fin && frames[$0].length > 8220
        }
        #expect(!long.isEmpty)
        #expect(long.allSatisfy { frames[$0 + 1] == WireFrame(fin: true, opcode: 0, length: 0) })
        // The SPDY frame headers come as messages of their own: 4 bytes, final, unfragmented.
        #expect(frames.filter { $0 == WireFrame(fin: true, opcode: 2, length: 4) }.count >= 2 * (payload.count / 32768))
      }
      // TLS records: the tail of what the tap saw is exactly the records Go's TLS cuts these writes into
      // (before it: the handshake and session tickets).
      var sizer = GoTLSRecordSizer()
      let expectedRecords = writes.flatMap { sizer.records(forWriteOf: $0.readableBytes) }
      let seen = tap.applicationRecordPayloads
      #expect(seen.count >= expectedRecords.count)
      #expect(Array(seen.suffix(expectedRecords.count)) == expectedRecords, "seen \(seen.suffix(40)) expected \(expectedRecords.suffix(40))")
      #expect(expectedRecords.contains(4) && expectedRecords.max() == RealWireShape.maxRecordPayload)
      if mode == .spdy {
        // Stated on the wire itself: each DATA frame's two 4-byte header pieces are records of their own.
        #expect(seen.filter { $0 == 4 }.count >= 2 * (payload.count / 32768))
      }
    }
  }

  /// Payload bytes of the complete DATA frames of `stream` in a SPDY byte stream.
  static func dataBytes(_ bytes: [UInt8], stream: UInt32) -> Int {
    var offset = 0
    var total = 0
    while offset + 8 <= bytes.count {
      let length = Int(bytes[offset + 5]) << 16 | Int(bytes[offset + 6]) << 8 | Int(bytes[offset + 7])
      guard offset + 8 + length <= bytes.count else { break }
      if bytes[offset] & 0x80 == 0 {
        let id = UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
        if id == stream { total += length }
      }
      offset += 8 + length
    }
    return total
  }
}

/// One WebSocket frame as the wire has it (server frames: unmasked).
struct WireFrame: Equatable, CustomStringConvertible {
  var fin: Bool
  var opcode: UInt8
  var length: Int

  var description: String { "\(fin ? "F" : "-")\(opcode):\(length)" }

  /// The complete frames at the start of `bytes` and their binary and continuation payloads joined.
  static func parseAll(_ bytes: [UInt8]) throws -> ([WireFrame], [UInt8]) {
    var frames: [WireFrame] = []
    var payloads: [UInt8] = []
    var offset = 0
    while offset + 2 <= bytes.count {
      guard bytes[offset + 1] & 0x80 == 0 else { throw TestFailure("a masked server frame") }
      var length = Int(bytes[offset + 1] & 0x7F)
      var header = 2
      if length == 126 {
        guard offset + 4 <= bytes.count else { break }
        length = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
        header = 4
      } else if length == 127 {
        guard offset + 10 <= bytes.count else { break }
        length = (2..<10).reduce(0) { $0 << 8 | Int(bytes[offset + $1]) }
        header = 10
      }
      guard offset + header + length <= bytes.count else { break }
      let frame = WireFrame(fin: bytes[offset] & 0x80 != 0, opcode: bytes[offset] & 0x0F, length: length)
      frames.append(frame)
      if frame.opcode <= 2 { payloads += bytes[(offset + header)..<(offset + header + length)] }
      offset += header + length
    }
    return (frames, payloads)
  }
}

/// A TCP relay on loopback between a test client and the API server that notes the length of every
/// TLS record the server sends (the record layer is readable on the wire; payload = length − 17 for a
/// TLS 1.3 AEAD record: 16 bytes of tag, 1 of inner content type).
final class RecordTap: Sendable {
  let server: Channel
  private let records: NIOLockedValueBox<[(type: UInt8, length: Int)]>

  var port: Int { server.localAddress?.port ?? 0 }

  /// The payload lengths of the encrypted records (type 23): the handshake's encrypted part, session
  /// tickets, then application data.
  var applicationRecordPayloads: [Int] {
    records.withLockedValue { $0.filter { $0.type == 23 }.map { $0.length - 17 } }
  }

  private init(server: Channel, records: NIOLockedValueBox<[(type: UInt8, length: Int)]>) {
    self.server = server
    self.records = records
  }

  static func start(group: EventLoopGroup, upstreamPort: Int) async throws -> RecordTap {
    let records = NIOLockedValueBox<[(type: UInt8, length: Int)]>([])
    let server = try await ServerBootstrap(group: group)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(
            ClientSide(upstreamPort: upstreamPort, records: records))
        }
      }
      .bind(host: "127.0.0.1", port: 0).get()
    return RecordTap(server: server, records: records)
  }

  func close() async { try? await server.close() }

  /// The accepted connection: bytes to the API server (queued until it is connected).
  private final class ClientSide: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let upstreamPort: Int
    private let records: NIOLockedValueBox<[(type: UInt8, length: Int)]>
    private var upstream: Channel?
    private var queued: [ByteBuffer] = []

    init(upstreamPort: Int, records: NIOLockedValueBox<[(type: UInt8, length: Int)]>) {
      self.upstreamPort = upstreamPort
      self.records = records
    }

    func channelActive(context: ChannelHandlerContext) {
      let client = context.channel
      let records = self.records
      let me = NIOLoopBound(self, eventLoop: context.eventLoop)
      ClientBootstrap(group: context.eventLoop)
        .channelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ServerSide(client: client, records: records))
          }
        }
        .connect(host: "127.0.0.1", port: upstreamPort)
        .whenComplete { result in
          switch result {
          case .success(let channel):
            me.value.upstream = channel
            for buffer in me.value.queued { channel.write(buffer, promise: nil) }
            me.value.queued = []
            channel.flush()
          case .failure:
            client.close(promise: nil)
          }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
      let buffer = unwrapInboundIn(data)
      if let upstream { upstream.writeAndFlush(buffer, promise: nil) } else { queued.append(buffer) }
    }

    func channelInactive(context: ChannelHandlerContext) { upstream?.close(promise: nil) }
    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
  }

  /// The API server's side: every byte is passed on; record headers are read on the way.
  private final class ServerSide: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let client: Channel
    private let records: NIOLockedValueBox<[(type: UInt8, length: Int)]>
    private var header: [UInt8] = []
    private var skip = 0

    init(client: Channel, records: NIOLockedValueBox<[(type: UInt8, length: Int)]>) {
      self.client = client
      self.records = records
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
      let buffer = unwrapInboundIn(data)
      var found: [(type: UInt8, length: Int)] = []
      for byte in buffer.readableBytesView {
        if skip > 0 {
          skip -= 1
          continue
        }
        header.append(byte)
        if header.count == 5 {
          let length = Int(header[3]) << 8 | Int(header[4])
          found.append((header[0], length))
          skip = length
          header = []
        }
      }
      if !found.isEmpty { records.withLockedValue { $0 += found } }
      client.writeAndFlush(buffer, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) { client.close(promise: nil) }
    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
  }
}

/// Hands every inbound buffer to a `GoTLSWriter` (as the proxies hand it kubelet reads).
private final class GoTLSWriterHarness: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  private let writer = GoTLSWriter()
  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    writer.write(unwrapInboundIn(data), to: context)
  }
}

/// On the first flush, reads 4 bytes into the handlers after it, as NIO does when a flush finds the
/// connection failed.
private final class ReadOnFirstFlush: ChannelOutboundHandler {
  typealias OutboundIn = ByteBuffer
  private var fired = false
  func flush(context: ChannelHandlerContext) {
    if !fired {
      fired = true
      context.fireChannelRead(NIOAny(ByteBuffer(repeating: 2, count: 4)))
    }
    context.flush()
  }
}

/// Notes each write's size and each flush on their way to the socket.
private final class WriteRecorder: ChannelOutboundHandler {
  typealias OutboundIn = ByteBuffer
  var events: [String] = []
  func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
    events.append("w\(unwrapOutboundIn(data).readableBytes)")
    context.write(data, promise: promise)
  }
  func flush(context: ChannelHandlerContext) {
    events.append("f")
    context.flush()
  }
}
