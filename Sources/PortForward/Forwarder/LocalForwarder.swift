import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// What happened to a local connection (for logs like kubectl's "Handling connection for L").
public enum ForwarderEvent: Sendable, Equatable {
  case accepted(connection: Int, listener: BoundAddress)
  /// The connection could not be set up or failed later; only that connection is closed.
  case failed(connection: Int, ForwardedStreamError)
  /// Both directions ended in order.
  case finished(connection: Int)
}

/// Listens on loopback and forwards every accepted connection to `remotePort` in the pod over the
/// current session (one stream pair per connection).
///
/// I/O model: ONE thread polls every local socket, the listeners and a wake-up pipe. The session
/// reader never calls into local sockets; it only buffers into the stream and wakes this loop,
/// which writes to a local socket when it is writable. Local reads pause while the session's
/// connection has more than `sendHighWater` bytes queued (backpressure towards the pod).
public final class LocalForwarder: Sendable {
  public let addresses: [BoundAddress]
  public let remotePort: UInt16
  /// The local port (the same on both addresses).
  public var localPort: UInt16 { addresses[0].port }

  private let shared: ForwarderShared
  private let finished = DispatchSemaphore(value: 0)

  public init(
    session: PortForwardSession, remotePort: UInt16, localPort: UInt16 = 0,
    sendHighWater: Int = 8 << 20, events: @escaping @Sendable (ForwarderEvent) -> Void = { _ in }
  ) throws(ForwarderError) {
    let listeners = try LoopbackListener.bindBoth(port: localPort)
    addresses = listeners.map(\.bound)
    self.remotePort = remotePort
    let wakeup: Wakeup
    do { wakeup = try Wakeup() } catch {
      listeners.forEach { closeFD($0.fd) }
      throw error
    }
    shared = ForwarderShared(session: session, wakeup: wakeup, events: events)
    let shared = shared
    let finished = finished
    let fds = listeners.map { ListenerFD(fd: $0.fd, bound: $0.bound) }
    let thread = Thread {
      ForwarderLoop(shared: shared, listeners: fds, remotePort: remotePort, sendHighWater: sendHighWater).run()
      finished.signal()
    }
    thread.name = "kftray-forwarder"
    thread.start()
  }

  /// New connections use `session` from now on; connections already running stay on theirs.
  public func replaceSession(_ session: PortForwardSession) {
    shared.state.withLock { $0.session = session }
  }

  public var session: PortForwardSession { shared.state.withLock { $0.session } }

  /// Closes the listeners and every local connection (their streams are reset), and waits for the
  /// loop to finish. The session stays open: it belongs to the caller.
  public func stop() {
    let first = shared.state.withLock { s -> Bool in
      defer { s.stopRequested = true }
      return !s.stopRequested
    }
    guard first else { return }
    shared.wakeup.signal()
    finished.wait()
  }

  deinit { stop() }
}

struct ListenerFD: Sendable {
  var fd: Int32
  var bound: BoundAddress
}

final class ForwarderShared: Sendable {
  struct State {
    var session: PortForwardSession
    var stopRequested = false
  }
  let state: Mutex<State>
  let wakeup: Wakeup
  let events: @Sendable (ForwarderEvent) -> Void

  init(session: PortForwardSession, wakeup: Wakeup, events: @escaping @Sendable (ForwarderEvent) -> Void) {
    state = Mutex(State(session: session))
    self.wakeup = wakeup
    self.events = events
  }
}

/// One local connection, owned by the loop thread.
final class LocalConnection {
  let id: Int
  let fd: Int32
  let stream: ForwardedStream
  let session: PortForwardSession
  /// Local → pod still open (no EOF from the local peer yet).
  var readOpen = true
  /// Pod → local bytes taken from the stream but not yet accepted by the socket.
  var outbound: [UInt8] = []
  var outboundOffset = 0
  /// The stream reported its end and the local write side was shut down.
  var remoteEnded = false

  init(id: Int, fd: Int32, stream: ForwardedStream, session: PortForwardSession) {
    self.id = id
    self.fd = fd
    self.stream = stream
    self.session = session
  }
}

/// The poll loop (confined to its thread).
final class ForwarderLoop {
  private let shared: ForwarderShared
  private let listeners: [ListenerFD]
  private let remotePort: UInt16
  private let sendHighWater: Int
  private var connections: [Int32: LocalConnection] = [:]
  private var nextID = 0
  private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: FrameWriter.maxDataPayload, alignment: 16)

  init(shared: ForwarderShared, listeners: [ListenerFD], remotePort: UInt16, sendHighWater: Int) {
    self.shared = shared
    self.listeners = listeners
    self.remotePort = remotePort
    self.sendHighWater = sendHighWater
  }

  deinit { buffer.deallocate() }

  func run() {
    while !shared.state.withLock({ $0.stopRequested }) {
      // Pod → local first: the streams may have buffered bytes since the last round.
      for connection in Array(connections.values) { pumpToLocal(connection) }

      var fds = [pollfd(fd: shared.wakeup.readFD, events: Int16(POLLIN), revents: 0)]
      fds += listeners.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
      var throttled = false
      var order: [LocalConnection] = []
      for connection in connections.values {
        var events: Int16 = 0
        if connection.readOpen {
          if connection.session.pendingBytes < sendHighWater { events |= Int16(POLLIN) } else { throttled = true }
        }
        if connection.outboundOffset < connection.outbound.count { events |= Int16(POLLOUT) }
        fds.append(pollfd(fd: connection.fd, events: events, revents: 0))
        order.append(connection)
      }
      // While throttled, look again soon: the session's queue drains without waking us.
      _ = poll(&fds, nfds_t(fds.count), throttled ? 5 : -1)
      if fds[0].revents != 0 { shared.wakeup.drain() }
      for (i, listener) in listeners.enumerated() where fds[1 + i].revents != 0 { acceptAll(listener) }
      let base = 1 + listeners.count
      for (i, connection) in order.enumerated() {
        let revents = fds[base + i].revents
        guard revents != 0, connections[connection.fd] === connection else { continue }
        if revents & Int16(POLLOUT) != 0 { flush(connection) }
        guard connections[connection.fd] === connection else { continue }
        if connection.readOpen, revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
          pumpToRemote(connection)
        } else if !connection.readOpen, revents & Int16(POLLHUP | POLLERR) != 0 {
          // Reset by the local peer after its EOF: nothing can be written any more, and poll would
          // report this forever.
          finish(connection, failure: nil, reset: true)
        }
      }
    }
    for connection in Array(connections.values) { finish(connection, failure: nil, reset: true) }
    listeners.forEach { closeFD($0.fd) }
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
      shared.events(.accepted(connection: id, listener: listener.bound))
      let session = shared.state.withLock { $0.session }
      do {
        let stream = try session.openStreamPair(port: remotePort)
        let connection = LocalConnection(id: id, fd: fd, stream: stream, session: session)
        connections[fd] = connection
        let wakeup = shared.wakeup
        stream.onReadable { wakeup.signal() }
      } catch {
        closeFD(fd)
        shared.events(.failed(connection: id, error))
      }
    }
  }

  /// Local → pod: reads what the socket has (bounded per round, for fairness).
  private func pumpToRemote(_ connection: LocalConnection) {
    for _ in 0..<8 {
      let n = recv(connection.fd, buffer.baseAddress, buffer.count, 0)
      if n > 0 {
        do {
          try connection.stream.write(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
        } catch {
          finish(connection, failure: error, reset: true)
          return
        }
        if connection.session.pendingBytes >= sendHighWater { return }
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
      if connection.outboundOffset < connection.outbound.count {
        if !flush(connection) {
          // Blocked on the local socket. A failed stream (overflow, session end) still closes it.
          if let failure = connection.stream.failure { finish(connection, failure: failure, reset: true) }
          return
        }
        continue
      }
      switch connection.stream.read(maxBytes: 256 * 1024) {
      case .bytes(let bytes):
        connection.outbound = bytes
        connection.outboundOffset = 0
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
    while connection.outboundOffset < connection.outbound.count {
      let n = connection.outbound.withUnsafeBytes { raw in
        send(connection.fd, raw.baseAddress! + connection.outboundOffset, raw.count - connection.outboundOffset, Int32(MSG_NOSIGNAL))
      }
      if n > 0 {
        connection.outboundOffset += n
      } else {
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return false }
        // The local peer is gone (EPIPE, ECONNRESET): reset the streams.
        finish(connection, failure: nil, reset: true)
        return false
      }
    }
    connection.outbound = []
    connection.outboundOffset = 0
    return true
  }

  private func completeIfDone(_ connection: LocalConnection) {
    if !connection.readOpen && connection.remoteEnded { finish(connection, failure: nil, reset: false) }
  }

  private func finish(_ connection: LocalConnection, failure: ForwardedStreamError?, reset: Bool) {
    guard connections.removeValue(forKey: connection.fd) != nil else { return }
    connection.stream.close()
    if reset {
      // A failed connection must not look like a clean end to the local client (a truncated
      // download would pass as complete): close with RST instead of FIN.
      var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
      setsockopt(connection.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    }
    closeFD(connection.fd)
    if let failure {
      shared.events(.failed(connection: connection.id, failure))
    } else if !reset {
      shared.events(.finished(connection: connection.id))
    }
  }
}
