import Foundation
import PortForwardCodecs
import KubeClient
import Synchronization

/// Where a session is in its life.
public enum SessionState: Sendable, Equatable, CustomStringConvertible {
  case open
  /// GOAWAY received: existing connections continue, new ones are refused.
  case goingAway
  /// `close()` was called; the connection is being shut down.
  case closing
  case ended(SessionTermination)

  public var description: String {
    switch self {
    case .open: return "open"
    case .goingAway: return "going away"
    case .closing: return "closing"
    case .ended(let why): return "ended: \(why)"
    }
  }
}

/// The engine behind `PortForwardSession` for one upgraded connection: the reader (on the
/// connection's I/O thread), the writer, the stream table, the keepalive timer and the life cycle.
final class SessionCore: Sendable {
  let writer: FrameWriter
  let streams = SessionStreams()
  let options: PortForwardSessionOptions
  private let tunnel: Bool

  private struct ReaderState: ~Copyable {
    var webSocket: WebSocketFrameDecoder?
    let spdy: SPDYFrameDecoder
  }

  private struct Life {
    var state: SessionState = .open
    var lastFrame: ContinuousClock.Instant = .now
    var waiters: [CheckedContinuation<SessionTermination, Never>] = []
    var keepaliveRunning = false
  }


  private let reader: Mutex<ReaderState>
  private let life = Mutex(Life())
  /// Internal (not private) so unit tests can read what was written before a connection exists.
  let slot = ConnectionSlot()

  init(tunnel: Bool, options: PortForwardSessionOptions) {
    self.tunnel = tunnel
    self.options = options
    // Streaming decoders: a real API server cuts each 32 KiB DATA frame into several WebSocket
    // messages and frames (or TLS records); payload pieces go to the streams as they arrive, as
    // slices of the received chunk, instead of being gathered twice (message, then frame).
    reader = Mutex(
      ReaderState(
        webSocket: tunnel ? WebSocketFrameDecoder(streamingPayloads: true) : nil,
        spdy: SPDYFrameDecoder(streamingData: true)))
    writer = FrameWriter(webSocketTunnel: tunnel) { [slot] append in slot.write(append) }
  }

  var events: UpgradeEvents {
    UpgradeEvents(
      received: { [self] bytes in received(bytes) },
      closed: { [self] error in connectionClosed(error) })
  }

  /// Hands over the connection after a successful handshake and starts the keepalive.
  func attach(_ connection: UpgradedConnection) {
    slot.attach(connection)
    streams.setPauseHandler { [weak connection] paused in connection?.setReceivePaused(paused) }
    let startKeepalive = life.withLock { l -> Bool in
      if case .ended = l.state { return false }
      l.keepaliveRunning = true
      l.lastFrame = .now
      return true
    }
    if startKeepalive {
      let thread = Thread { [self] in keepaliveLoop() }
      thread.name = "kftray-pf-keepalive"
      thread.start()
    } else {
      connection.abort()
    }
  }

  var state: SessionState { life.withLock { $0.state } }

  // MARK: Streams

  func openStreamPair(port: UInt16) throws(ForwardedStreamError) -> ForwardedStream {
    switch state {
    case .open: break
    case .goingAway: throw .sessionNotOpen("the server sent GOAWAY")
    case .closing: throw .sessionNotOpen("the session is closing")
    case .ended(let why): throw .sessionEnded(why)
    }
    var registration: Result<ForwardedStream, ForwardedStreamError>?
    _ = try writer.openStreamPair(port: port) { pair in
      // Registered under the writer lock, before the frames leave: an answer cannot beat it.
      let stream = ForwardedStream(
        pair: pair, port: port, writer: writer, receiveLimit: options.receiveBufferLimit,
        stallTimeout: options.stalledStreamTimeout,
        errorGrace: options.errorStreamGrace, owner: streams)
      do throws(ForwardedStreamError) {
        try streams.add(stream)
        registration = .success(stream)
      } catch { registration = .failure(error) }
    }
    return try registration!.get()
  }

  // MARK: Shutdown

  /// The orderly end: RST(CANCEL) the open streams, GOAWAY, WebSocket close, then close.
  func close() {
    let proceed = life.withLock { l -> Bool in
      switch l.state {
      case .open, .goingAway:
        l.state = .closing
        return true
      case .closing, .ended: return false
      }
    }
    guard proceed else { return }
    let open = streams.all.filter(\.isOpenForReset).map(\.dataStreamID)
    writer.closeSession(resetting: open)
    streams.endAll(.sessionEnded(.closedLocally))
    let connection = slot.connection
    connection?.close()
    if connection == nil { terminate(.closedLocally) }
  }

  func terminated() async -> SessionTermination {
    await withCheckedContinuation { continuation in
      let done = life.withLock { l -> SessionTermination? in
        if case .ended(let why) = l.state { return why }
        l.waiters.append(continuation)
        return nil
      }
      if let done { continuation.resume(returning: done) }
    }
  }

  /// Ends the session once: every stream fails with the reason, waiters wake, and for a dead or
  /// corrupt connection the socket is dropped at once.
  func terminate(_ reason: SessionTermination, abortConnection: Bool = false) {
    let waiters = life.withLock { l -> [CheckedContinuation<SessionTermination, Never>]? in
      if case .ended = l.state { return nil }
      l.state = .ended(reason)
      l.keepaliveRunning = false
      defer { l.waiters = [] }
      return l.waiters
    }
    guard let waiters else { return }
    writer.markClosed()
    streams.endAll(.sessionEnded(reason))
    if abortConnection { slot.connection?.abort() }
    for waiter in waiters { waiter.resume(returning: reason) }
  }

  // MARK: Reader (the connection's I/O thread)

  private func received(_ chunk: [UInt8]) {
    life.withLock { $0.lastFrame = .now }
    var failure: String?
    var peerClosed: String?
    // Consumers to wake, once each, after the whole chunk was decoded.
    var wake = ReadableWakeups()
    reader.withLock { r in
      do {
        if r.webSocket != nil {
          r.webSocket!.append(chunk)
          while let event = try r.webSocket!.nextEvent() {
            switch event {
            case .binary(let payload): if !payload.isEmpty { r.spdy.append(payload) }
            case .ping(let payload): writer.pong(payload)
            case .pong: break
            case .close(let code, let reason):
              peerClosed = "WebSocket close \(code.map(String.init) ?? "without status")\(reason.isEmpty ? "" : ": \(reason)")"
            }
          }
        } else {
          r.spdy.append(chunk)
        }
        while let frame = try r.spdy.nextFrame() { dispatch(frame, wake: &wake) }
      } catch {
        failure = "\(error)"
      }
    }
    wake.run()
    if let failure {
      terminate(.protocolError(failure), abortConnection: true)
    } else if let peerClosed {
      terminate(.closedByPeer(peerClosed))
      slot.connection?.close()
    }
  }

  private func dispatch(_ frame: SPDYFrame, wake: inout ReadableWakeups) {
    switch frame {
    case .data(let data):
      guard let stream = streams.lookup(data.streamID) else { return }
      let handler = stream.receiveData(data.payload, fin: data.isFin, onErrorStream: data.streamID == stream.errorStreamID)
      if let handler { wake.add(stream, handler) }
    case .rstStream(let rst):
      guard let stream = streams.lookup(rst.streamID) else { return }
      stream.receiveReset(rst.status, onErrorStream: rst.streamID == stream.errorStreamID)
    case .synReply, .headers, .settings, .windowUpdate:
      // Nothing to do: setup is pipelined, and neither side implements SPDY flow control (§A.6).
      break
    case .ping(let ping):
      // Even ids are the server's: echo them. Odd ids answer ours; receiving anything already
      // fed the watchdog.
      if ping.id % 2 == 0 { writer.echoPing(id: ping.id) }
    case .goAway:
      life.withLock { l in if case .open = l.state { l.state = .goingAway } }
    case .synStream(let syn):
      // k8s servers never open streams; refuse politely instead of killing the session.
      writer.reset(streamID: syn.streamID, status: .refusedStream)
    }
  }

  private func connectionClosed(_ error: UpgradeError?) {
    let closing = life.withLock { l -> Bool in
      if case .closing = l.state { return true }
      return false
    }
    if closing {
      terminate(.closedLocally)
    } else if let error {
      terminate(.transportError("\(error)"))
    } else {
      terminate(.closedByPeer("end of stream"))
    }
  }

  // MARK: Keepalive

  /// PING every `pingInterval`; no frame at all for `pingInterval × missedPingLimit` ends the
  /// session. kubectl's PINGs never time out (spec §A.7); ours do, so a dead peer is noticed.
  private func keepaliveLoop() {
    let interval = options.pingInterval
    let window = interval * options.missedPingLimit
    let tick = min(interval / 4, .milliseconds(100))
    var nextPing = ContinuousClock.now + interval
    while true {
      Thread.sleep(forTimeInterval: Double(tick.components.attoseconds) / 1e18 + Double(tick.components.seconds))
      let (running, lastFrame) = life.withLock { ($0.keepaliveRunning, $0.lastFrame) }
      guard running else { return }
      let now = ContinuousClock.now
      for stream in streams.all {
        stream.errorGraceCheck(now: now)
        stream.stallCheck(now: now)
      }
      if streams.readingPaused {
        // We stopped reading (a stalled stream, for at most its stall timeout): the silence is ours,
        // so the window starts again once reading resumes.
        life.withLock { $0.lastFrame = now }
      } else if now - lastFrame > window {
        terminate(.keepaliveTimeout(window), abortConnection: true)
        return
      }
      if now >= nextPing {
        _ = writer.ping()
        nextPing = now + interval
      }
    }
  }
}

/// The connection as the writer sees it. Bytes written before the connection object exists (the
/// reader may echo a PING that came in right behind the 101) are kept and flushed first, in
/// order, by `attach`.
final class ConnectionSlot: Sendable {
  private struct State {
    var connection: UpgradedConnection?
    var early: [UInt8] = []
  }
  private let state = Mutex(State())

  func write(_ append: (inout [UInt8]) -> Void) {
    state.withLock { s in
      if let connection = s.connection { connection.write(append) } else { append(&s.early) }
    }
  }

  func attach(_ connection: UpgradedConnection) {
    state.withLock { s in
      let early = s.early
      if !early.isEmpty { connection.write { $0.append(contentsOf: early) } }
      s.early = []
      s.connection = connection
    }
  }

  var connection: UpgradedConnection? { state.withLock { $0.connection } }

  /// What was written while no connection was attached (the reader's unit tests run without one).
  var unattachedBytes: [UInt8] { state.withLock { $0.early } }
}

/// The readable callbacks one received chunk owes, one per stream however many DATA pieces it got.
/// A chunk carries a handful of streams at most, so a linear search beats hashing.
struct ReadableWakeups {
  private var pending: [(stream: ForwardedStream, handler: @Sendable () -> Void)] = []

  mutating func add(_ stream: ForwardedStream, _ handler: @escaping @Sendable () -> Void) {
    if !pending.contains(where: { $0.stream === stream }) { pending.append((stream, handler)) }
  }

  /// A stream whose bytes the reader wrote to the local socket itself needs no wake-up.
  func run() {
    for entry in pending where !entry.stream.flushDirectly() { entry.handler() }
  }
}
