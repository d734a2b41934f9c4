import Foundation
import PortForwardCodecs
import Synchronization

/// The session's only writer. Everything that touches the outbound side happens under one lock:
/// allocating a stream id, compressing a header block, and handing the bytes to the sink. So the
/// wire order is the compression order (the peer's inflate context stays in step) and stream ids
/// are strictly increasing on the wire (spec §A.4, §A.5).
///
/// In tunnel mode every batch of SPDY bytes becomes ONE masked binary WebSocket message, so a
/// SYN_STREAM is one message rather than kubectl's eight.
public final class FrameWriter: Sendable {
  /// Payload limit per DATA frame: what Go peers use, and fair between streams (spec §A.6).
  public static let maxDataPayload = 32 * 1024

  public struct StreamPair: Sendable, Equatable {
    public var requestID: UInt64
    public var errorStreamID: SPDYStreamID
    public var dataStreamID: SPDYStreamID
  }

  private struct State: ~Copyable {
    let encoder: SPDYFrameEncoder
    var nextStreamID: SPDYStreamID = 1
    var nextPingID: UInt32 = 1
    var nextRequestID: UInt64 = 0
    /// Set once GOAWAY or a WebSocket close was written (or the session ended): nothing may follow.
    var closed = false
  }

  /// Where wire bytes go: the sink runs `append`, which adds bytes to the end of its send queue.
  /// Called under the writer lock (that is what keeps order). Appending in place lets a DATA
  /// frame's payload be copied once, from the local socket's buffer to the bytes that are sent.
  public typealias Sink = @Sendable (_ append: (inout [UInt8]) -> Void) -> Void

  private let state: Mutex<State>
  private let tunnel: Bool
  private let sink: Sink

  public init(webSocketTunnel: Bool, sink: @escaping Sink) {
    state = Mutex(State(encoder: SPDYFrameEncoder()))
    tunnel = webSocketTunnel
    self.sink = sink
  }

  public var isClosed: Bool { state.withLock { $0.closed } }

  /// The pipelined setup of one forwarded connection (spec §B.1, §E.3): SYN_STREAM(error),
  /// DATA(error, FIN, empty), SYN_STREAM(data), in one write. Nothing waits for SYN_REPLY.
  /// `prepare` runs under the lock with the allocated ids, before the bytes leave, so the caller
  /// can register the streams before any answer can arrive.
  public func openStreamPair(port: UInt16, prepare: (StreamPair) -> Void) throws(ForwardedStreamError) -> StreamPair {
    try state.withLock { s throws(ForwardedStreamError) -> StreamPair in
      guard !s.closed else { throw .sessionNotOpen("the session is closing") }
      guard s.nextStreamID <= SPDYWire.maxStreamID - 2 else { throw .sessionNotOpen("stream ids exhausted") }
      let pair = StreamPair(requestID: s.nextRequestID, errorStreamID: s.nextStreamID, dataStreamID: s.nextStreamID + 2)
      func headers(_ type: String) -> SPDYHeaderBlock {
        ["streamtype": type, "port": String(port), "requestid": String(pair.requestID)]
      }
      var bytes: [UInt8] = []
      do {
        try s.encoder.encode(.synStream(SPDYSynStream(streamID: pair.errorStreamID, headers: headers("error"))), into: &bytes)
        try s.encoder.encode(.data(SPDYDataFrame(streamID: pair.errorStreamID, flags: .fin)), into: &bytes)
        try s.encoder.encode(.synStream(SPDYSynStream(streamID: pair.dataStreamID, headers: headers("data"))), into: &bytes)
      } catch {
        // A failed header encode may leave the deflate context ahead of the peer: no more frames.
        s.closed = true
        throw .encoding("\(error)")
      }
      s.nextStreamID += 4
      s.nextRequestID += 1
      prepare(pair)
      emit(bytes)
      return pair
    }
  }

  /// DATA frames of at most `maxDataPayload` bytes, the last one with FIN if `fin`. An empty
  /// payload with `fin` is the bare half-close.
  public func sendData(streamID: SPDYStreamID, _ payload: UnsafeRawBufferPointer, fin: Bool) throws(ForwardedStreamError) {
    try state.withLock { s throws(ForwardedStreamError) in
      guard !s.closed else { throw .sessionNotOpen("the session is closing") }
      // The only way a DATA frame fails to encode; checked before anything is appended.
      guard streamID != 0, streamID <= SPDYWire.maxStreamID else {
        throw .encoding("\(SPDYError.invalidStreamID(streamID, .data))")
      }
      sink { out in
        // In tunnel mode the frames form one binary message, each frame masked in place right after
        // it was appended, while it is still in the L1 cache. Every frame but the last is a multiple
        // of 4 bytes long, so each starts at key byte 0 and the key applies from its start.
        let frames = max(1, (payload.count + Self.maxDataPayload - 1) / Self.maxDataPayload)
        var maskingKey: UInt32?
        if tunnel {
          let key = WebSocketFrameEncoder.randomMaskingKey()
          WebSocketFrameEncoder.appendHeader(
            opcode: .binary, payloadLength: payload.count + frames * SPDYWire.frameHeaderLength, maskingKey: key,
            into: &out)
          maskingKey = key
        }
        var offset = 0
        repeat {
          let take = min(Self.maxDataPayload, payload.count - offset)
          let last = offset + take == payload.count
          let frameStart = out.count
          // Cannot throw: valid stream id (checked above), length ≤ maxDataPayload.
          try! SPDYFrameEncoder.encodeData(
            streamID: streamID, flags: last && fin ? .fin : [],
            payload: UnsafeRawBufferPointer(rebasing: payload[offset..<(offset + take)]), into: &out)
          if let maskingKey { WebSocketMask.apply(key: maskingKey, to: &out, from: frameStart) }
          offset += take
        } while offset < payload.count
      }
    }
  }

  /// RST_STREAM. Ignored once the session is closed (there is nobody left to tell).
  public func reset(streamID: SPDYStreamID, status: SPDYRstStatus = .cancel) {
    writeControl(.rstStream(SPDYRstStream(streamID: streamID, status: status)))
  }

  /// A PING with the next odd id (client parity); returns the id, nil if the session is closed.
  public func ping() -> UInt32? {
    state.withLock { s -> UInt32? in
      guard !s.closed else { return nil }
      let id = s.nextPingID
      // Odd ids only, wrapping before the 32-bit limit; 0 is never used.
      s.nextPingID = id >= UInt32.max - 2 ? 1 : id + 2
      guard let bytes = try? s.encoder.encode(.ping(SPDYPing(id: id))) else { return nil }
      emit(bytes)
      return id
    }
  }

  /// Echoes a server PING (even id) unchanged.
  public func echoPing(id: UInt32) { writeControl(.ping(SPDYPing(id: id))) }

  /// A WebSocket pong for a server ping (tunnel only).
  public func pong(_ payload: ArraySlice<UInt8>) {
    guard tunnel else { return }
    state.withLock { s in
      guard !s.closed else { return }
      var frame: [UInt8] = []
      guard (try? WebSocketFrameEncoder.encodePong(payload.prefix(125), into: &frame)) != nil else { return }
      sink { $0.append(contentsOf: frame) }
    }
  }

  /// The orderly end (spec §A.7): RST_STREAM(CANCEL) for each open stream, GOAWAY(0, OK), then in
  /// tunnel mode a WebSocket close 1000. After this the writer accepts nothing.
  public func closeSession(resetting streams: [SPDYStreamID]) {
    state.withLock { s in
      guard !s.closed else { return }
      s.closed = true
      var bytes: [UInt8] = []
      for id in streams {
        try? s.encoder.encode(.rstStream(SPDYRstStream(streamID: id, status: .cancel)), into: &bytes)
      }
      try? s.encoder.encode(.goAway(SPDYGoAway(lastGoodStreamID: 0, status: .ok)), into: &bytes)
      emit(bytes)
      if tunnel {
        var close: [UInt8] = []
        try? WebSocketFrameEncoder.encodeClose(into: &close)
        sink { $0.append(contentsOf: close) }
      }
    }
  }

  /// Stops all writing without sending anything (the connection is gone).
  public func markClosed() { state.withLock { $0.closed = true } }

  private func writeControl(_ frame: SPDYFrame) {
    state.withLock { s in
      guard !s.closed, let bytes = try? s.encoder.encode(frame) else { return }
      emit(bytes)
    }
  }

  /// Called with the lock held.
  private func emit(_ spdy: [UInt8]) {
    guard !spdy.isEmpty else { return }
    sink { out in
      if tunnel { WebSocketFrameEncoder.encodeBinary(spdy, into: &out) } else { out.append(contentsOf: spdy) }
    }
  }
}
