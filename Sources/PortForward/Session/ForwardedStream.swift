import Foundation
import PortForwardCodecs
import Synchronization

/// What `ForwardedStream.read` has for the local side.
public enum StreamRead: Sendable, Equatable {
  /// The next received bytes, as they arrived: a slice of the session's receive buffer, not a
  /// copy (one DATA frame's payload, or part of it).
  case bytes(ArraySlice<UInt8>)
  /// Nothing buffered yet; `onReadable` fires when that changes.
  case pending
  /// The server finished the data stream and reported no error: half-close the local side.
  case end
  case failed(ForwardedStreamError)
}

/// One forwarded TCP connection: a data stream and its error stream (spec §B.1).
///
/// The session reader pushes into it without ever blocking: bytes land in a receive buffer with a
/// cap; past the cap the pair is reset (only this connection fails, the session keeps reading).
/// The consumer pulls with `read` when it can write locally, and is told by `onReadable` when to
/// try again. The outcome waits for both streams: the kubelet FINs the data stream *before* it
/// writes the error text (spec §B.4), so "EOF" is only reported once the error stream ended
/// too (or a short grace passed), and a connection that carried error text fails with that text.
public final class ForwardedStream: Sendable {
  public let port: UInt16
  public let requestID: UInt64
  public let errorStreamID: SPDYStreamID
  public let dataStreamID: SPDYStreamID

  private struct State {
    /// DATA payloads by reference. A slice keeps its whole receive chunk alive, so memory held
    /// can exceed `buffered` (by at most one receive chunk per payload); the limit counts payload.
    var chunks: [ArraySlice<UInt8>] = []
    var chunkHead = 0
    var buffered = 0
    var remoteData: RemoteEnd = .open
    var dataEndedAt: ContinuousClock.Instant?
    var errorText: [UInt8] = []
    var errorEnded = false
    var failure: ForwardedStreamError?
    var localFinished = false
    var localReset = false
    var closed = false
    var handler: (@Sendable () -> Void)?
    /// Counted once in the session's statistics.
    var outcomeReported = false
    /// Over the receive limit since (or since the last local progress); nil when under it.
    var overLimitSince: ContinuousClock.Instant?
    /// Where the session reader may write received bytes itself (`deliverDirectly`).
    var direct: DirectDelivery?
    /// The consumer took bytes with `read` that it has not finished writing: the reader must not
    /// write behind its back (the bytes would overtake them).
    var consumerHolds = false
    var directBytes = 0

    /// Drops `n` received bytes from the front: the consumer read them, or the reader wrote them.
    mutating func dropFront(_ n: Int) {
      var left = n
      while left > 0 {
        let chunk = chunks[chunkHead]
        if chunk.count <= left {
          left -= chunk.count
          chunks[chunkHead] = []
          chunkHead += 1
        } else {
          chunks[chunkHead] = chunk.dropFirst(left)
          left = 0
        }
      }
      if chunkHead == chunks.count {
        chunks.removeAll(keepingCapacity: true)
        chunkHead = 0
      }
      buffered -= n
    }

    /// Local progress on a stream over its receive limit: restarts its stall clock, or ends the
    /// overrun. True when it came back under `limit`.
    mutating func madeProgress(limit: Int) -> Bool {
      guard overLimitSince != nil else { return false }
      if buffered <= limit {
        overLimitSince = nil
        return true
      }
      overLimitSince = .now
      return false
    }
  }

  /// A local socket the session reader writes to itself, and who counts what it wrote.
  struct DirectDelivery {
    var fd: Int32
    var sent: @Sendable (Int) -> Void
  }

  enum RemoteEnd: Equatable { case open, fin, reset(SPDYRstStatus) }

  private let state = Mutex(State())
  private let writer: FrameWriter
  private let receiveLimit: Int
  private let stallTimeout: Duration
  private let errorGrace: Duration
  /// Strong on purpose: the table drops the stream on `close()` or when the session ends, which
  /// breaks the cycle.
  private let owner: SessionStreams

  init(
    pair: FrameWriter.StreamPair, port: UInt16, writer: FrameWriter, receiveLimit: Int, stallTimeout: Duration,
    errorGrace: Duration, owner: SessionStreams
  ) {
    self.stallTimeout = stallTimeout
    self.port = port
    requestID = pair.requestID
    errorStreamID = pair.errorStreamID
    dataStreamID = pair.dataStreamID
    self.writer = writer
    self.receiveLimit = receiveLimit
    self.errorGrace = errorGrace
    self.owner = owner
  }

  // MARK: Consumer side

  /// Sets the callback run (on the session's I/O thread, or whichever thread changed the state)
  /// whenever `read` may return something new. It must not block; it fires once at once if
  /// something is already there.
  public func onReadable(_ handler: @escaping @Sendable () -> Void) {
    let ready = state.withLock { s -> Bool in
      s.handler = handler
      return s.buffered > 0 || s.remoteData != .open || s.failure != nil
    }
    if ready { handler() }
  }

  /// Lets the session reader write received bytes to the local socket `fd` itself, at the end of
  /// each received chunk, whenever the consumer holds none (`read(maxBytes:holdingNone:)`): a
  /// download then costs no hand-over to the consumer's thread (a wake-up write, a poll return,
  /// a pipe read and a context switch per chunk). What the socket does not take at once stays
  /// buffered and the consumer is woken as before. The consumer must `close()` the stream before
  /// it closes `fd`. `sent` runs on the reader's thread with each count written.
  func deliverDirectly(to fd: Int32, sent: @escaping @Sendable (Int) -> Void) {
    state.withLock { $0.direct = DirectDelivery(fd: fd, sent: sent) }
  }

  /// What the session reader wrote to the direct socket itself.
  var bytesDeliveredDirectly: Int { state.withLock { $0.directBytes } }

  /// Up to `maxBytes` received bytes (from one DATA frame: call again for more), or the outcome
  /// once everything was read. `holdingNone`: the caller has written everything it read before;
  /// with nothing buffered either, the session reader may then write to its socket directly.
  public func read(maxBytes: Int = 64 * 1024, holdingNone: Bool = false) -> StreamRead {
    var backUnder = false
    let (result, report) = state.withLock { s -> (StreamRead, StreamRead?) in
      defer { backUnder = s.madeProgress(limit: receiveLimit) }
      if let failure = s.failure { return (.failed(failure), reportOnce(&s, .failed(failure))) }
      if s.buffered > 0 {
        let out = s.chunks[s.chunkHead].prefix(maxBytes)
        s.dropFront(out.count)
        s.consumerHolds = true
        return (.bytes(out), nil)
      }
      if holdingNone { s.consumerHolds = false }
      guard let outcome = outcome(s) else { return (.pending, nil) }
      return (outcome, reportOnce(&s, outcome))
    }
    if backUnder { owner.streamOverLimit(false) }
    if let report { owner.connectionEnded(self, failed: report != .end) }
    return result
  }

  /// Set when the connection failed before its outcome was read (receive buffer overflow, session
  /// end): lets a consumer that is blocked on its local side notice.
  public var failure: ForwardedStreamError? { state.withLock { $0.failure } }

  /// Sends bytes on the data stream (DATA frames ≤ 32 KiB, never waits for a window).
  public func write(_ bytes: UnsafeRawBufferPointer) throws(ForwardedStreamError) {
    guard !bytes.isEmpty else { return }
    if let failure = state.withLock({ $0.failure }) { throw failure }
    try writer.sendData(streamID: dataStreamID, bytes, fin: false)
    owner.countSent(bytes.count)
  }

  public func write(_ bytes: [UInt8]) throws(ForwardedStreamError) {
    let result: Result<Void, ForwardedStreamError> = bytes.withUnsafeBytes { raw in
      do throws(ForwardedStreamError) { try write(raw); return .success(()) } catch { return .failure(error) }
    }
    try result.get()
  }

  /// Local EOF: DATA(FIN) on the data stream. Receiving continues.
  public func finish() throws(ForwardedStreamError) {
    let send = state.withLock { s -> Bool in
      guard !s.localFinished, !s.localReset, s.failure == nil else { return false }
      s.localFinished = true
      return true
    }
    if send { try writer.sendData(streamID: dataStreamID, UnsafeRawBufferPointer(start: nil, count: 0), fin: true) }
  }

  /// Done with this connection (normally or not): resets the data stream unless both sides already
  /// finished it (kubectl's rule), and forgets the pair. Idempotent.
  public func close() {
    var wasOver = false
    let reset = state.withLock { s -> Bool in
      guard !s.closed else { return false }
      s.closed = true
      s.handler = nil
      wasOver = s.overLimitSince != nil
      s.overLimitSince = nil
      s.chunks = []
      s.buffered = 0
      // Both directions ended in order: nothing to cancel. Otherwise tell the server to stop.
      let needsReset = !s.localReset && !(s.localFinished && s.remoteData != .open)
      if needsReset { s.localReset = true }
      return needsReset && !isSessionFailure(s.failure)
    }
    if wasOver { owner.streamOverLimit(false) }
    if reset { writer.reset(streamID: dataStreamID) }
    owner.remove(self)
  }

  // MARK: Session reader side (never blocks)

  /// Takes a DATA payload (a whole frame's or a piece of one). Returns the readable callback to run
  /// instead of running it, so that the session reader can wake each consumer once per received
  /// chunk, after all of its frames, and outside its own lock.
  func receiveData(_ payload: ArraySlice<UInt8>, fin: Bool, onErrorStream: Bool) -> (@Sendable () -> Void)? {
    var overflow = false
    var wentOver = false
    var wasOver = false
    let handler = state.withLock { s -> (@Sendable () -> Void)? in
      guard !s.closed, s.failure == nil else { return nil }
      if onErrorStream {
        guard !s.errorEnded else { return nil }
        // The error text is short; cap it anyway so a hostile server cannot grow it unbounded.
        if s.errorText.count < 64 * 1024 { s.errorText.append(contentsOf: payload.prefix(64 * 1024 - s.errorText.count)) }
        if fin { s.errorEnded = true }
        return s.remoteData != .open ? s.handler : nil
      }
      guard s.remoteData == .open else { return nil }
      if !payload.isEmpty {
        let after = s.buffered + payload.count
        // Immediate reset without a stall timeout, or far past the limit (the pause could not
        // take effect: frames already in flight, or no connection attached).
        if after > receiveLimit && (stallTimeout == .zero || after > 4 * receiveLimit) {
          s.failure = .receiveBufferOverflow(limit: receiveLimit)
          s.localReset = true
          s.chunks = []
          s.buffered = 0
          wasOver = s.overLimitSince != nil
          s.overLimitSince = nil
          overflow = true
          return s.handler
        }
        s.chunks.append(payload)
        s.buffered = after
        if after > receiveLimit && s.overLimitSince == nil {
          s.overLimitSince = .now
          wentOver = true
        }
      }
      if fin {
        s.remoteData = .fin
        s.dataEndedAt = .now
      }
      return s.handler
    }
    if !payload.isEmpty && !onErrorStream && !overflow { owner.countReceived(payload.count) }
    if wentOver { owner.streamOverLimit(true) }
    if wasOver { owner.streamOverLimit(false) }
    if overflow {
      writer.reset(streamID: dataStreamID)
      writer.reset(streamID: errorStreamID)
    }
    return handler
  }

  /// Called by the session reader after a received chunk, instead of the readable callback
  /// `receiveData` returned: writes what is buffered to the direct socket when nobody else is
  /// writing to it. Returns true when that left nothing for the consumer to do (everything
  /// written, no outcome to act on); false: run the callback.
  func flushDirectly() -> Bool {
    var backUnder = false
    var written = 0
    var sent: (@Sendable (Int) -> Void)?
    let done = state.withLock { s -> Bool in
      // Closed is checked under the lock the consumer's close() takes before it closes the
      // socket, so the descriptor cannot have been reused while this writes to it.
      guard let direct = s.direct, !s.consumerHolds, !s.closed, s.failure == nil, s.buffered > 0 else { return false }
      var slices = OutboundSlices()
      for chunk in s.chunks[s.chunkHead...] {
        guard slices.canTakeMore else { break }
        slices.append(chunk)
      }
      let n = slices.send(to: direct.fd)
      guard n > 0 else { return false }
      written = n
      sent = direct.sent
      s.dropFront(n)
      s.directBytes += n
      backUnder = s.madeProgress(limit: receiveLimit)
      return s.buffered == 0 && s.remoteData == .open
    }
    if written > 0 { sent?(written) }
    if backUnder { owner.streamOverLimit(false) }
    return done
  }

  func receiveReset(_ status: SPDYRstStatus, onErrorStream: Bool) {
    let handler = state.withLock { s -> (@Sendable () -> Void)? in
      guard !s.closed, s.failure == nil else { return nil }
      if onErrorStream {
        s.errorEnded = true
        return s.remoteData != .open ? s.handler : nil
      }
      guard s.remoteData == .open else { return nil }
      s.remoteData = .reset(status)
      s.dataEndedAt = .now
      return s.handler
    }
    handler?()
  }

  /// The session ended: the stream fails with that reason.
  func fail(_ error: ForwardedStreamError) {
    let handler = state.withLock { s -> (@Sendable () -> Void)? in
      guard !s.closed, s.failure == nil else { return nil }
      // A connection that already ended cleanly and was fully read keeps its outcome.
      if s.outcomeReported { return nil }
      s.failure = error
      return s.handler
    }
    handler?()
  }

  /// Called by the session's timer: the data stream ended but the error stream never did.
  func errorGraceCheck(now: ContinuousClock.Instant) {
    let handler = state.withLock { s -> (@Sendable () -> Void)? in
      guard !s.closed, !s.errorEnded, let ended = s.dataEndedAt, now - ended >= errorGrace else { return nil }
      s.errorEnded = true
      return s.handler
    }
    handler?()
  }

  /// Called by the session's timer: over the limit with no local progress for `stallTimeout`,
  /// the connection is reset alone and the session reads again.
  func stallCheck(now: ContinuousClock.Instant) {
    let handler = state.withLock { s -> (@Sendable () -> Void)?? in
      guard let since = s.overLimitSince, now - since >= stallTimeout, !s.closed, s.failure == nil else { return nil }
      s.failure = .receiveBufferOverflow(limit: receiveLimit)
      s.localReset = true
      s.chunks = []
      s.buffered = 0
      s.overLimitSince = nil
      return .some(s.handler)
    }
    guard let handler else { return }
    owner.stallReset()
    owner.streamOverLimit(false)
    writer.reset(streamID: dataStreamID)
    writer.reset(streamID: errorStreamID)
    handler?()
  }

  var isOpenForReset: Bool {
    state.withLock { !$0.closed && !$0.localReset && !($0.localFinished && $0.remoteData != .open) }
  }

  // MARK: helpers

  private func outcome(_ s: State) -> StreamRead? {
    guard s.remoteData != .open, s.errorEnded else { return nil }
    if !s.errorText.isEmpty {
      return .failed(.remote(String(decoding: s.errorText, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
    }
    if case .reset(let status) = s.remoteData { return .failed(.reset(status)) }
    return .end
  }

  private func reportOnce(_ s: inout State, _ outcome: StreamRead) -> StreamRead? {
    guard !s.outcomeReported else { return nil }
    s.outcomeReported = true
    return outcome
  }

  private func isSessionFailure(_ failure: ForwardedStreamError?) -> Bool {
    if case .sessionEnded = failure { return true }
    return false
  }
}
