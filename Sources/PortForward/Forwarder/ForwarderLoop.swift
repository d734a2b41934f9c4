import Foundation
import PortForwardCodecs
import KubeClient
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// What the poll loop reports about local connections to its owner (on its own thread; handlers must
/// not block). Internal plumbing: owners report it to their users as `ForwardEvent`.
enum LoopEvent: Sendable {
  case accepted(connection: Int, listener: BoundAddress)
  /// The stream pair was opened on the session the owner calls `sessionID`.
  case opened(connection: Int, listener: BoundAddress, sessionID: Int)
  /// No stream pair could be opened; the local socket was closed at once.
  case setupFailed(connection: Int, ForwardedStreamError)
  case ended(ConnectionSummary)
}

/// How one local connection ended.
struct ConnectionSummary: Sendable {
  var connection: Int
  var sessionID: Int
  /// nil: ended in order, or closed locally (`reset` tells which).
  var failure: ForwardedStreamError?
  /// The local socket was closed with RST (failure, local peer gone, forwarder stopping).
  var reset: Bool
  var bytesToPod: Int
  var bytesFromPod: Int
  var duration: Duration
}

/// A session the loop may put a new connection on, with the owner's id for it.
struct SessionChoice: Sendable {
  var session: PortForwardSession
  var id: Int
}

/// What the loop needs from its owner. All closures run on the loop thread.
struct LoopHooks: Sendable {
  /// The session for the next accepted connection (the owner's sharding policy lives here).
  var chooseSession: @Sendable () -> Result<SessionChoice, ForwardedStreamError>
  var event: @Sendable (LoopEvent) -> Void
  /// Run about once a second while `wantsMaintenance` says so (closing idle extra sessions: on
  /// this thread, so it cannot race a connection being assigned to the session it closes).
  var maintenance: @Sendable () -> Void = {}
  var wantsMaintenance: @Sendable () -> Bool = { false }
  /// How long an accepted connection may wait for a session when none is open (reconnecting, or
  /// the pod being replaced) before it is closed; zero closes it at once.
  var connectionWait: Duration = .zero
}

/// A session whose send queue went over the high-water mark, and the connections whose local
/// reads stopped because of it until it drains.
private struct ThrottledSession {
  var session: PortForwardSession
  var connections: [LocalConnection]
}

/// An accepted connection waiting for a session (`LoopHooks.connectionWait`).
private struct WaitingConnection {
  var fd: Int32
  var id: Int
  var listener: BoundAddress
  var deadline: ContinuousClock.Instant
}

/// Shared between the loop thread and its owner.
final class LoopControl: Sendable {
  let wakeup: Wakeup
  /// The loop's descriptors: created here, with the wake-up pipe, so that failing to make it is
  /// an error for the caller instead of a dead loop thread.
  let readiness: ReadinessQueue
  private let stopRequested = Atomic<Bool>(false)
  /// Payload bytes moved, for live statistics.
  let bytesToPod = Atomic<Int>(0)
  let bytesFromPod = Atomic<Int>(0)
  let openConnections = Atomic<Int>(0)
  /// Local sockets whose stream has something new (bytes, an end, a failure): the loop visits
  /// these, not every connection, after each wake-up.
  private let ready = Mutex<[Int32]>([])

  init() throws(PortForwarderError) {
    do { wakeup = try Wakeup() } catch { throw .socket(error.description) }
    readiness = try ReadinessQueue()
  }

  /// true the first time.
  func requestStop() -> Bool {
    let (exchanged, _) = stopRequested.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent)
    if exchanged { wakeup.signal() }
    return exchanged
  }

  var stopping: Bool { stopRequested.load(ordering: .sequentiallyConsistent) }

  /// Called from session threads; wakes the loop only when the list was empty (a wake-up is
  /// then already on its way for the others).
  func markReady(_ fd: Int32) {
    let first = ready.withLock { list -> Bool in
      list.append(fd)
      return list.count == 1
    }
    if first { wakeup.signal() }
  }

  func takeReady() -> [Int32] {
    ready.withLock { list in
      defer { list.removeAll(keepingCapacity: true) }
      return list
    }
  }
}

/// One local connection, owned by the loop thread.
final class LocalConnection {
  let id: Int
  let fd: Int32
  let stream: ForwardedStream
  let session: PortForwardSession
  let sessionID: Int
  let started = ContinuousClock.now
  /// Local → pod still open (no EOF from the local peer yet).
  var readOpen = true
  /// Pod → local bytes taken from the stream but not yet accepted by the socket.
  var outbound = OutboundSlices()
  /// The stream's outcome, read while gathering bytes: acted on once `outbound` is sent.
  var deferredRead: StreamRead?
  /// The stream reported its end and the local write side was shut down.
  var remoteEnded = false
  var bytesToPod = 0
  var bytesFromPod = 0
  /// What the readiness queue reports for this socket (kept to skip unchanged updates).
  var interest: Interest = .read
  /// Listed in the loop's throttled sessions (local reads stopped until its session drains).
  var throttled = false

  init(id: Int, fd: Int32, stream: ForwardedStream, choice: SessionChoice) {
    self.id = id
    self.fd = fd
    self.stream = stream
    session = choice.session
    sessionID = choice.id
  }
}

/// The poll loop behind `LocalForwarder` and `PortForwarder` (confined to its thread).
///
/// I/O model: ONE thread waits on every local socket, the listeners and a wake-up pipe (a
/// `ReadinessQueue`: each socket's interest is updated when it changes, so a wake-up costs what is
/// ready, not what is open). Session readers never call into local sockets; they only buffer into
/// the stream and wake this loop, which writes to a local socket when it is writable. Local reads
/// of a connection pause while its session's connection has more than `sendHighWater` bytes queued
/// (backpressure towards the pod), so a slow session throttles only the connections it carries.
final class ForwarderLoop {
  private let control: LoopControl
  private let hooks: LoopHooks
  private let listeners: [ListenerFD]
  private let remotePort: UInt16
  private let sendHighWater: Int
  private var connections: [Int32: LocalConnection] = [:]
  private var waiting: [WaitingConnection] = []
  /// By the owner's session id.
  private var throttled: [Int: ThrottledSession] = [:]
  private let readiness: ReadinessQueue
  private var nextID = 0
  /// One local read may carry several DATA frames: `sendData` splits it into ≤ 32 KiB frames and
  /// hands them over as one write (one lock, one wake-up of the connection's thread, one
  /// WebSocket message), which is what bulk uploads spend their time on.
  private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
  private var nextMaintenance = ContinuousClock.now

  init(control: LoopControl, hooks: LoopHooks, listeners: [ListenerFD], remotePort: UInt16, sendHighWater: Int) {
    self.control = control
    self.hooks = hooks
    self.listeners = listeners
    self.remotePort = remotePort
    self.sendHighWater = sendHighWater
    readiness = control.readiness
  }

  deinit { buffer.deallocate() }

  /// Starts the loop on its own thread; `done` runs on it after the last connection was closed.
  static func start(
    control: LoopControl, hooks: LoopHooks, listeners: [ListenerFD], remotePort: UInt16, sendHighWater: Int,
    done: @escaping @Sendable () -> Void
  ) {
    let thread = Thread {
      ForwarderLoop(control: control, hooks: hooks, listeners: listeners, remotePort: remotePort, sendHighWater: sendHighWater)
        .run()
      done()
    }
    thread.name = "kftray-forwarder"
    thread.start()
  }

  func run() {
    readiness.register(control.wakeup.readFD, .read)
    for listener in listeners { readiness.register(listener.fd, .read) }
    var ready: [Readiness] = []
    while !control.stopping {
      // Pod → local first, for the streams that have something new. A descriptor may repeat or
      // belong to a newer connection by now (closed and reused): an extra visit is harmless.
      for fd in control.takeReady() {
        guard let connection = connections[fd] else { continue }
        pumpToLocal(connection)
        updateInterest(connection)
      }
      releaseDrainedSessions()
      let maintain = hooks.wantsMaintenance()
      // A throttled session's drain notification wakes the loop; the short timeout is only a
      // safety net. Waiting connections are offered a session again every 50 ms.
      let timeout: Int32 = !waiting.isEmpty ? 50 : !throttled.isEmpty ? 100 : (maintain ? 1000 : -1)
      readiness.wait(timeout: control.wakeup.beginWait() ? timeout : 0, into: &ready)
      control.wakeup.endWait(readable: ready.contains { $0.fd == control.wakeup.readFD })
      for event in ready {
        if event.fd == control.wakeup.readFD {
          continue
        } else if let listener = listeners.first(where: { $0.fd == event.fd }) {
          acceptAll(listener)
        } else if let connection = connections[event.fd] {
          // The descriptor may have been closed and reused by a connection accepted in this
          // round: the event is then a spurious one for it, which costs an EAGAIN at most.
          handle(event, on: connection)
        }
      }
      if !waiting.isEmpty { retryWaiting() }
      if maintain, ContinuousClock.now >= nextMaintenance {
        hooks.maintenance()
        nextMaintenance = ContinuousClock.now + .seconds(1)
      }
    }
    for connection in Array(connections.values) { finish(connection, failure: nil, reset: true) }
    for w in waiting {
      closeDescriptor(w.fd)
      hooks.event(.setupFailed(connection: w.id, .sessionNotOpen("the forward stopped")))
    }
    waiting = []
    listeners.forEach {
      readiness.deregister($0.fd)
      closeDescriptor($0.fd)
    }
    readiness.deregister(control.wakeup.readFD)
  }

  private func handle(_ event: Readiness, on connection: LocalConnection) {
    // Writable again: send what was blocked, then whatever the stream buffered meanwhile.
    if event.writable { pumpToLocal(connection) }
    guard connections[connection.fd] === connection else { return }
    if connection.readOpen, event.readable || event.hangup {
      pumpToRemote(connection)
    } else if !connection.readOpen, event.hangup {
      // Reset by the local peer after its EOF: nothing can be written any more, and the queue
      // would report this forever.
      finish(connection, failure: nil, reset: true)
      return
    }
    if connections[connection.fd] === connection { updateInterest(connection) }
  }

  /// Reads while the session can take more and the local side is open; writes while bytes wait.
  /// A connection whose session is over the high-water mark stops reading until it drains: the
  /// queue is level-triggered, so a readable socket left unread would be reported again at once.
  private func updateInterest(_ connection: LocalConnection) {
    var wanted: Interest = []
    if connection.readOpen {
      if connection.session.pendingBytes < sendHighWater {
        wanted.insert(.read)
      } else if !connection.throttled {
        throttle(connection)
      }
    }
    if !connection.outbound.isEmpty { wanted.insert(.write) }
    if wanted != connection.interest {
      readiness.change(connection.fd, to: wanted)
      connection.interest = wanted
    }
  }

  private func throttle(_ connection: LocalConnection) {
    connection.throttled = true
    if throttled[connection.sessionID] != nil {
      throttled[connection.sessionID]!.connections.append(connection)
      return
    }
    throttled[connection.sessionID] = ThrottledSession(session: connection.session, connections: [connection])
    let wakeup = control.wakeup
    connection.session.notifyWhenPending(below: sendHighWater / 2) { wakeup.signal() }
  }

  /// Sessions back under the high-water mark: their connections read again.
  private func releaseDrainedSessions() {
    guard !throttled.isEmpty else { return }
    for (id, entry) in throttled where entry.session.pendingBytes < sendHighWater {
      throttled[id] = nil
      for connection in entry.connections where connections[connection.fd] === connection {
        connection.throttled = false
        updateInterest(connection)
      }
    }
  }

  private func acceptAll(_ listener: ListenerFD) {
    while true {
      let fd = accept(listener.fd, nil, nil)
      guard fd >= 0 else { return }
      setNonBlocking(fd)
      var one: Int32 = 1
      setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
      nextID += 1
      let id = nextID
      hooks.event(.accepted(connection: id, listener: listener.bound))
      switch attach(fd: fd, id: id, listener: listener.bound) {
      case .success: break
      case .failure(.sessionNotOpen) where hooks.connectionWait > .zero:
        waiting.append(
          WaitingConnection(fd: fd, id: id, listener: listener.bound, deadline: .now + hooks.connectionWait))
      case .failure(let error):
        closeDescriptor(fd)
        hooks.event(.setupFailed(connection: id, error))
      }
    }
  }

  /// Offers the waiting connections a session again; those past their deadline are closed.
  private func retryWaiting() {
    let now = ContinuousClock.now
    var still: [WaitingConnection] = []
    for w in waiting {
      switch attach(fd: w.fd, id: w.id, listener: w.listener) {
      case .success: continue
      case .failure(.sessionNotOpen) where now < w.deadline: still.append(w)
      case .failure(let error):
        closeDescriptor(w.fd)
        hooks.event(.setupFailed(connection: w.id, error))
      }
    }
    waiting = still
  }

  /// Opens a stream pair for an accepted socket on the session the owner chooses.
  private func attach(fd: Int32, id: Int, listener: BoundAddress) -> Result<Void, ForwardedStreamError> {
    let opened = hooks.chooseSession().flatMap { choice -> Result<(ForwardedStream, SessionChoice), ForwardedStreamError> in
      do throws(ForwardedStreamError) {
        return .success((try choice.session.openStreamPair(port: remotePort), choice))
      } catch { return .failure(error) }
    }
    switch opened {
    case .success(let (stream, choice)):
      let connection = LocalConnection(id: id, fd: fd, stream: stream, choice: choice)
      connections[fd] = connection
      readiness.register(fd, connection.interest)
      control.openConnections.add(1, ordering: .relaxed)
      hooks.event(.opened(connection: id, listener: listener, sessionID: choice.id))
      stream.deliverDirectly(to: fd) { [control] n in control.bytesFromPod.add(n, ordering: .relaxed) }
      stream.onReadable { [control] in control.markReady(fd) }
      // The client often writes right after connecting: its first bytes then leave together
      // with the stream pair's setup instead of a loop round later.
      pumpToRemote(connection)
      if connections[fd] === connection { updateInterest(connection) }
      return .success(())
    case .failure(let error):
      return .failure(error)
    }
  }

  /// Local → pod: reads what the socket has (bounded per round, for fairness).
  private func pumpToRemote(_ connection: LocalConnection) {
    for _ in 0..<4 {
      // Checked before reading, not only after: one pass over many connections that all became
      // readable must not queue all of their bytes past the mark.
      if connection.session.pendingBytes >= sendHighWater { return }
      let n = recv(connection.fd, buffer.baseAddress, buffer.count, 0)
      if n > 0 {
        do {
          try connection.stream.write(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
        } catch {
          finish(connection, failure: error, reset: true)
          return
        }
        connection.bytesToPod += n
        control.bytesToPod.add(n, ordering: .relaxed)
      } else if n == 0 {
        // Local half-close: FIN on the data stream; the answer keeps flowing back.
        connection.readOpen = false
        do { try connection.stream.finish() } catch {
          finish(connection, failure: error, reset: true)
          return
        }
        completeIfDone(connection)
        return
      } else {
        if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return }
        finish(connection, failure: nil, reset: true)
        return
      }
    }
  }

  /// Pod → local: moves stream bytes into the socket until it would block.
  private func pumpToLocal(_ connection: LocalConnection) {
    while connections[connection.fd] === connection, !connection.remoteEnded {
      if !connection.outbound.isEmpty {
        if !flush(connection) {
          // Blocked on the local socket. A failed stream (overflow, session end) still closes it.
          if let failure = connection.stream.failure { finish(connection, failure: failure, reset: true) }
          return
        }
        continue
      }
      // Everything read before was written (the loop only gets here with `outbound` empty): with
      // nothing buffered either, the session reader may write to the socket itself again.
      let next = connection.deferredRead ?? connection.stream.read(maxBytes: OutboundSlices.maxBytes, holdingNone: true)
      connection.deferredRead = nil
      switch next {
      case .bytes(let bytes):
        connection.outbound.append(bytes)
        // Take what else is buffered, so one sendmsg carries several DATA frames.
        gather: while connection.outbound.canTakeMore {
          switch connection.stream.read(maxBytes: connection.outbound.room) {
          case .bytes(let more): connection.outbound.append(more)
          case .pending: break gather
          case let outcome:
            connection.deferredRead = outcome
            break gather
          }
        }
      case .pending:
        return
      case .end:
        connection.remoteEnded = true
        shutdown(connection.fd, Int32(SHUT_WR))
        completeIfDone(connection)
        return
      case .failed(let error):
        finish(connection, failure: error, reset: true)
        return
      }
    }
  }

  /// Writes pending outbound bytes; true when all were written.
  @discardableResult
  private func flush(_ connection: LocalConnection) -> Bool {
    while !connection.outbound.isEmpty {
      let n = connection.outbound.send(to: connection.fd)
      if n > 0 {
        connection.bytesFromPod += n
        control.bytesFromPod.add(n, ordering: .relaxed)
      } else {
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return false }
        // The local peer is gone (EPIPE, ECONNRESET): reset the streams.
        finish(connection, failure: nil, reset: true)
        return false
      }
    }
    return true
  }

  private func completeIfDone(_ connection: LocalConnection) {
    if !connection.readOpen && connection.remoteEnded { finish(connection, failure: nil, reset: false) }
  }

  private func finish(_ connection: LocalConnection, failure: ForwardedStreamError?, reset: Bool) {
    guard connections.removeValue(forKey: connection.fd) != nil else { return }
    readiness.deregister(connection.fd)
    connection.stream.close()
    if reset {
      // A failed connection must not look like a clean end to the local client (a truncated
      // download would pass as complete): close with RST instead of FIN.
      var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
      setsockopt(connection.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    }
    closeDescriptor(connection.fd)
    control.openConnections.subtract(1, ordering: .relaxed)
    hooks.event(
      .ended(
        ConnectionSummary(
          connection: connection.id, sessionID: connection.sessionID, failure: failure, reset: reset,
          bytesToPod: connection.bytesToPod,
          bytesFromPod: connection.bytesFromPod + connection.stream.bytesDeliveredDirectly,
          duration: ContinuousClock.now - connection.started)))
  }
}

struct ListenerFD: Sendable {
  var fd: Int32
  var bound: BoundAddress
}
