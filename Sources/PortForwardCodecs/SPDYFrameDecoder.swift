/// Incremental SPDY/3 frame decoder: append bytes as they arrive, pull complete frames.
///
/// - `nextFrame()` returns nil when the buffered bytes do not hold a complete frame yet; nothing
///   is copied in that case.
/// - DATA payloads are slices of the appended chunks when a frame lies inside one chunk (no copy);
///   a frame spanning chunks is gathered once.
/// - Strictness follows moby/spdystream, the peer's implementation (spec §A.5): every input that
///   kills a spdystream session throws a `SPDYError`; SETTINGS and WINDOW_UPDATE decode normally
///   so the session can ignore them. After an error the decoder keeps throwing it.
///
/// - With `streamingData`, a DATA payload is returned in pieces as its bytes arrive (each piece a
///   slice of one appended chunk, never gathered); the frame's flags (FIN) come with the last
///   piece, the others have none. A client behind a real API server gets each 32 KiB DATA frame
///   cut into several WebSocket messages or TLS records, so whole frames would mostly straddle.
///
/// Not Sendable: it owns the session's inbound zlib context (see `HeaderDecompressor`).
public final class SPDYFrameDecoder {
  /// Largest frame payload accepted; default is the 24-bit maximum (16 MiB − 1).
  public let maxFrameLength: Int
  /// Hand out DATA payloads piece by piece.
  public let streamingData: Bool
  private var queue = ChunkQueue()
  private let decompressor: HeaderDecompressor
  private var failure: SPDYError?
  /// Streaming: the DATA frame whose payload is being handed out, and how much of it is left.
  private var dataRemaining = 0
  private var dataStreamID: SPDYStreamID = 0
  private var dataFlags = SPDYFlags()

  /// - Parameters:
  ///   - maxFrameLength: refuse frames whose length field exceeds this (checked from the header,
  ///     before the payload is buffered). Clamped to 0…16 MiB − 1.
  ///   - maxHeaderBlockSize: refuse header blocks that decompress to more than this.
  ///   - streamingData: return DATA payloads in pieces as they arrive (see above).
  public init(maxFrameLength: Int = SPDYWire.maxFrameLength, maxHeaderBlockSize: Int = 1 << 20, streamingData: Bool = false) {
    self.maxFrameLength = min(max(0, maxFrameLength), SPDYWire.maxFrameLength)
    self.streamingData = streamingData
    decompressor = HeaderDecompressor(maxBlockSize: maxHeaderBlockSize)
  }

  /// Buffered bytes not yet returned as frames.
  public var bufferedByteCount: Int { queue.count }

  /// Adds received bytes. The decoder keeps a reference to the array instead of copying it, so
  /// pass a fresh array per read (mutating it afterwards costs the caller a copy-on-write).
  public func append(_ bytes: [UInt8]) { queue.append(bytes[...]) }

  /// Adds received bytes (kept by reference, see `append(_: [UInt8])`).
  public func append(_ bytes: ArraySlice<UInt8>) { queue.append(bytes) }

  /// Adds received bytes from memory the caller owns; they are copied once.
  public func append(_ bytes: UnsafeRawBufferPointer) {
    guard !bytes.isEmpty else { return }
    queue.append(Array(bytes)[...])
  }

  /// The next complete frame, or nil if more bytes are needed.
  public func nextFrame() throws(SPDYError) -> SPDYFrame? {
    if let failure { throw failure }
    do {
      return try decodeOne()
    } catch {
      failure = error
      throw error
    }
  }

  private func decodeOne() throws(SPDYError) -> SPDYFrame? {
    if dataRemaining > 0 {
      guard queue.count > 0 else { return nil }
      let piece = queue.readContiguous(upTo: dataRemaining)
      dataRemaining -= piece.count
      return .data(SPDYDataFrame(streamID: dataStreamID, flags: dataRemaining == 0 ? dataFlags : [], payload: piece))
    }
    guard queue.count >= SPDYWire.frameHeaderLength else { return nil }
    let word0 = queue.peekUInt32(0)
    let word1 = queue.peekUInt32(4)
    let flags = SPDYFlags(rawValue: UInt8(truncatingIfNeeded: word1 >> 24))
    let length = Int(word1 & 0xFF_FFFF)
    guard length <= maxFrameLength else { throw .frameTooLarge(length: length, limit: maxFrameLength) }
    let isControl = word0 & 0x8000_0000 != 0
    var controlType: SPDYFrameType?
    if isControl {
      // The version (bits 1…15) is not checked: spdystream never does.
      let code = UInt16(truncatingIfNeeded: word0)
      guard let type = SPDYFrameType(controlCode: code) else { throw .unsupportedControlFrameType(code) }
      // Fail on impossible lengths before waiting for (possibly 16 MiB of) payload.
      try Self.checkLength(type, length: length, flags: flags)
      controlType = type
    } else if streamingData {
      let streamID = word0 & SPDYWire.maxStreamID
      guard streamID != 0 else { throw .zeroStreamID(.data) }
      queue.skip(SPDYWire.frameHeaderLength)
      guard length > 0 else { return .data(SPDYDataFrame(streamID: streamID, flags: flags, payload: [])) }
      dataRemaining = length
      dataStreamID = streamID
      dataFlags = flags
      return try decodeOne()
    }
    guard queue.count >= SPDYWire.frameHeaderLength + length else { return nil }
    queue.skip(SPDYWire.frameHeaderLength)
    let payload = queue.read(length)
    guard let type = controlType else {
      let streamID = word0 & SPDYWire.maxStreamID
      guard streamID != 0 else { throw .zeroStreamID(.data) }
      return .data(SPDYDataFrame(streamID: streamID, flags: flags, payload: payload))
    }
    return try decodeControl(type, flags: flags, payload: payload)
  }

  private static func checkLength(_ type: SPDYFrameType, length: Int, flags: SPDYFlags) throws(SPDYError) {
    switch type {
    case .synStream:
      // 10 fixed bytes; spdystream needs at least one compressed byte after them, and the
      // header-block check below catches an empty block as a size mismatch.
      guard length >= 10 else { throw .invalidFrameLength(type, length: length) }
    case .synReply, .headers:
      guard length >= 4 else { throw .invalidFrameLength(type, length: length) }
    case .rstStream:
      guard length == 8 else { throw .invalidFrameLength(type, length: length) }
    case .settings:
      guard length >= 4, (length - 4) % 8 == 0 else { throw .invalidFrameLength(type, length: length) }
    case .ping:
      guard length == 4 else { throw .invalidFrameLength(type, length: length) }
      guard flags.rawValue == 0 else { throw .invalidFlags(type, flags: flags.rawValue) }
    case .goAway, .windowUpdate:
      guard flags.rawValue == 0 else { throw .invalidFlags(type, flags: flags.rawValue) }
      guard length == 8 else { throw .invalidFrameLength(type, length: length) }
    case .data:
      break
    }
  }

  private func decodeControl(_ type: SPDYFrameType, flags: SPDYFlags, payload p: ArraySlice<UInt8>) throws(SPDYError) -> SPDYFrame {
    let base = p.startIndex
    func u32(_ offset: Int) -> UInt32 {
      let i = base + offset
      return UInt32(p[i]) << 24 | UInt32(p[i + 1]) << 16 | UInt32(p[i + 2]) << 8 | UInt32(p[i + 3])
    }
    switch type {
    case .synStream:
      let streamID = u32(0) & SPDYWire.maxStreamID
      let associated = u32(4) & SPDYWire.maxStreamID
      let priority = p[base + 8] >> 5
      let slot = p[base + 9]
      // Decompress even when the id is bad: it is fatal either way, but the order of checks
      // mirrors spdystream (block errors first, then forbidden headers, then the id).
      let headers = try decodeBlock(p.dropFirst(10), type: type, streamID: streamID)
      guard streamID != 0 else { throw .zeroStreamID(type) }
      return .synStream(
        SPDYSynStream(
          streamID: streamID, associatedStreamID: associated, priority: priority, slot: slot, flags: flags,
          headers: headers))
    case .synReply:
      let streamID = u32(0) & SPDYWire.maxStreamID
      let headers = try decodeBlock(p.dropFirst(4), type: type, streamID: streamID)
      guard streamID != 0 else { throw .zeroStreamID(type) }
      return .synReply(SPDYSynReply(streamID: streamID, flags: flags, headers: headers))
    case .headers:
      let streamID = u32(0) & SPDYWire.maxStreamID
      let headers = try decodeBlock(p.dropFirst(4), type: type, streamID: streamID)
      guard streamID != 0 else { throw .zeroStreamID(type) }
      return .headers(SPDYHeaders(streamID: streamID, flags: flags, headers: headers))
    case .rstStream:
      let streamID = u32(0) & SPDYWire.maxStreamID
      let status = u32(4)
      guard status != 0 else { throw .invalidRstStatus }
      guard streamID != 0 else { throw .zeroStreamID(type) }
      return .rstStream(SPDYRstStream(streamID: streamID, status: SPDYRstStatus(rawValue: status), flags: flags))
    case .settings:
      let count = Int(u32(0))
      // The length must match the count exactly; spdystream would otherwise lose framing.
      guard count == (p.count - 4) / 8 else { throw .invalidFrameLength(type, length: p.count) }
      var entries: [SPDYSettings.Entry] = []
      entries.reserveCapacity(count)
      for i in 0..<count {
        let word = u32(4 + 8 * i)
        entries.append(
          SPDYSettings.Entry(flags: UInt8(word >> 24), id: word & 0xFF_FFFF, value: u32(8 + 8 * i)))
      }
      return .settings(SPDYSettings(flags: flags, entries: entries))
    case .ping:
      let id = u32(0)
      guard id != 0 else { throw .zeroPingID }
      return .ping(SPDYPing(id: id))
    case .goAway:
      return .goAway(
        SPDYGoAway(
          lastGoodStreamID: u32(0) & SPDYWire.maxStreamID, status: SPDYGoAwayStatus(rawValue: u32(4))))
    case .windowUpdate:
      return .windowUpdate(
        SPDYWindowUpdate(streamID: u32(0) & SPDYWire.maxStreamID, deltaWindowSize: u32(4) & 0x7FFF_FFFF))
    case .data:
      preconditionFailure("DATA is not a control frame")
    }
  }

  private func decodeBlock(_ compressed: ArraySlice<UInt8>, type: SPDYFrameType, streamID: SPDYStreamID) throws(SPDYError)
    -> SPDYHeaderBlock
  {
    let raw = try decompressor.decompress(compressed, frameType: type)
    let block = try SPDYHeaderBlockCodec.decode(raw, type: type)
    let banned = SPDYHeaderBlockCodec.forbidden(for: type, streamID: streamID)
    for field in block.fields where banned.contains(field.name) {
      throw .forbiddenHeader(field.name, in: type)
    }
    return block
  }
}

@available(*, unavailable, message: "owns the session's inbound zlib context")
extension SPDYFrameDecoder: Sendable {}
