/// How the real port-forward path cuts its bytes into writes, TLS records, WebSocket messages and
/// frames, so that the sandbox's kubelet and API server hand a client the same shape a cluster does
/// (kube-apiserver 1.36, client-go, gorilla/websocket at v1.5.4-0.20250319132907-e064f32e3674 as kube's
/// go.mod pins it, containerd 2.x, moby/spdystream, Go's crypto/tls). Read from their sources:
///
/// - **containerd** (`internal/cri/server/sandbox_portforward_linux.go`): `io.Copy(stream, conn)` from the
///   pod socket; `*net.TCPConn.WriteTo` falls back to `genericWriteTo` = `io.Copy` with its 32 KiB buffer,
///   so each SPDY DATA frame carries one read of at most 32 KiB (`copyBufferSize`).
/// - **spdystream** (`spdy/write.go` `writeDataFrame`, `writeControlFrameHeader`; `connection.go`
///   `NewConnection` passes the raw `net.Conn` to `spdy.NewFramer`, unbuffered): every field is its own
///   `Write`: a DATA frame is written as 4 bytes (stream id), 4 bytes (flags and length), then the payload;
///   a control frame as 2 (version), 2 (type), 4 (flags and length), then each field of its body
///   (`SpdystreamWrites`).
/// - **kubelet** (`pkg/kubelet/server/server.go` `proxyStream` → apimachinery `proxy/upgradeaware.go`):
///   the CRI stream is relayed with `io.Copy(requestHijackedConn, backendConn)`; with the relay waiting
///   on the runtime's socket each framer `Write` is one read and one `tls.Conn.Write` towards the API
///   server. (Under backpressure the relay's reads coalesce up to 32 KiB; the model keeps the
///   unbacked-up shape, which is what a client sees while it keeps up.)
/// - **Go crypto/tls** (`conn.go` `writeRecordLocked`, `maxPayloadSizeForWrite`, `Read`): a `Write` is cut
///   into records of at most 16384 bytes, each its own write to the socket; until the connection has sent
///   128 KiB (`recordSizeBoostThreshold`, wire bytes) record *k* (0-based) carries at most
///   `(1208 - 5 - 16 - 1) * (k + 1)` bytes with TLS 1.3 and an AEAD (`GoTLSRecordSizer`). `Read` returns
///   bytes of at most one record.
/// - **kube-apiserver** (`upgradeaware.go` as above, `io.Copy(requestHijackedConn, backendConn)` with the
///   kubelet's `tls.Conn` as source): one kubelet record per read, one write per read. For SPDY the write
///   goes to the client's `tls.Conn` as is. For the WebSocket tunnel (`apiserver/pkg/util/proxy/
///   streamtunnel.go`, client-go `tools/portforward/tunneling_connection.go`) each write is one binary
///   message (`NextWriter`, `Write`, `Close`); the `Upgrader` sets no buffer sizes and
///   `Hijack().Writer.AvailableBuffer()` is empty, so gorilla allocates 4096 + 14 bytes (`server.go`
///   `Upgrade`, `conn.go` `newConn`) and `messageWriter` (`conn.go` `Write`, `flushFrame`, `Close`) sends
///   a message of at most 8220 bytes (2 × 4110) as frames of 4096 payload bytes, each one socket write,
///   the last one final; a longer message as one non-final frame whose header and payload are two writes
///   (`net.Buffers` on a `tls.Conn` writes each), then an empty final continuation frame `80 00`.
public enum RealWireShape {
  /// Go's `io.Copy` buffer: the most one SPDY DATA frame from containerd carries.
  public static let copyBufferSize = 32 * 1024
  /// TLS's largest record payload (`maxPlaintext`).
  public static let maxRecordPayload = 16384
}

/// Go crypto/tls's dynamic record sizing for the writes of one connection (`conn.go`
/// `maxPayloadSizeForWrite`), for TLS 1.3 with an AEAD (what both the kubelet and the API server
/// negotiate here). Counting starts at the first write after the upgrade's response head: the handshake
/// and the HTTP exchange before it (a few KiB the real count includes) are left out, so the switch to
/// full records comes that much later here.
public struct GoTLSRecordSizer: Sendable, Equatable {
  /// `tcpMSSEstimate - recordHeaderLen - AEAD overhead - 1` (the TLS 1.3 inner content type).
  public static let smallRecordPayload = 1208 - 5 - 16 - 1
  /// `recordSizeBoostThreshold`: wire bytes after which every record may be full.
  public static let boostThreshold = 128 * 1024
  /// What a record adds on the wire: 5 bytes of header, 16 of tag, 1 of inner content type.
  public static let recordOverhead = 5 + 16 + 1

  public private(set) var bytesSent = 0
  private var packetsSent = 0

  public init() {}

  /// The payload length of the next record of a write that still has `remaining` bytes to go; counts
  /// the record as sent.
  public mutating func nextRecord(remaining: Int) -> Int {
    var limit = RealWireShape.maxRecordPayload
    if bytesSent < Self.boostThreshold {
      let packet = packetsSent
      packetsSent += 1
      if packet <= 1000 { limit = min(limit, Self.smallRecordPayload * (packet + 1)) }
    }
    let length = min(limit, remaining)
    bytesSent += length + Self.recordOverhead
    return length
  }

  /// The records one `tls.Conn.Write` of `count` bytes makes (empty for an empty write, as Go sends none).
  public mutating func records(forWriteOf count: Int) -> [Int] {
    var records: [Int] = []
    var remaining = count
    while remaining > 0 {
      let length = nextRecord(remaining: remaining)
      records.append(length)
      remaining -= length
    }
    return records
  }
}

/// The `Write` calls spdystream's framer (`spdy/write.go`) makes for one frame, from its first 8 bytes.
public enum SpdystreamWrites {
  /// The lengths of the framer's writes for the frame whose 8-byte header is `header` (the header's own
  /// bytes included), empty writes left out (Go's TLS sends no record for them). DATA: 4 (stream id),
  /// 4 (flags and length), the payload. Control: 2 (version), 2 (type), 4 (flags and length), then the
  /// body field by field: SYN_STREAM 4, 4, 1, 1, header block; SYN_REPLY and HEADERS 4, header block;
  /// RST_STREAM, GOAWAY and WINDOW_UPDATE 4, 4; PING 4; SETTINGS 4 then 4, 4 per entry.
  public static func writes(header: some Collection<UInt8>) -> [Int] {
    precondition(header.count >= 8)
    let bytes = Array(header.prefix(8))
    let length = Int(bytes[5]) << 16 | Int(bytes[6]) << 8 | Int(bytes[7])
    guard bytes[0] & 0x80 != 0 else { return length > 0 ? [4, 4, length] : [4, 4] }
    var body: [Int]
    switch Int(bytes[2]) << 8 | Int(bytes[3]) {
    case 1: body = [4, 4, 1, 1, length - 10]
    case 2, 8: body = [4, length - 4]
    case 3, 7, 9: body = [4, 4]
    case 6: body = [4]
    case 4: body = [4] + Array(repeating: 4, count: max(0, (length - 4) / 4))
    default: body = [length]
    }
    // A malformed length (shorter than the fields) is written as it comes: one piece.
    if body.reduce(0, +) != length || body.contains(where: { $0 < 0 }) { body = [length] }
    return [2, 2, 4] + body.filter { $0 > 0 }
  }
}
