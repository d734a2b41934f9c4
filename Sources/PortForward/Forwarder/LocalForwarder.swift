import Foundation
import PortForwardCodecs
import Synchronization

/// Listens on loopback and forwards every accepted connection to `remotePort` in the pod over ONE
/// given session (one stream pair per connection). `PortForwarder` is the full forward (sharding,
/// reconnects, events, statistics); this is the single-session building block.
public final class LocalForwarder: Sendable {
  public let addresses: [BoundAddress]
  public let remotePort: UInt16
  /// The local port (the same on both addresses).
  public var localPort: UInt16 { addresses[0].port }

  private let current: CurrentSession
  private let control: LoopControl
  private let finished = DispatchSemaphore(value: 0)

  public init(
    session: PortForwardSession, remotePort: UInt16, localPort: UInt16 = 0,
    sendHighWater: Int = 256 << 10, events: @escaping @Sendable (ForwardEvent) -> Void = { _ in }
  ) throws(PortForwarderError) {
    let control = try LoopControl()
    let listeners = try LoopbackListener.bindBoth(port: localPort)
    addresses = listeners.map(\.bound)
    self.remotePort = remotePort
    self.control = control
    let current = CurrentSession(session)
    self.current = current
    let hooks = LoopHooks(
      chooseSession: { .success(SessionChoice(session: current.session, id: 0)) },
      event: { event in
        if let event = ForwardEvent(event) { events(event) }
      })
    let finished = finished
    ForwarderLoop.start(
      control: control, hooks: hooks, listeners: listeners.map { ListenerFD(fd: $0.fd, bound: $0.bound) },
      remotePort: remotePort, sendHighWater: sendHighWater, done: { finished.signal() })
  }

  /// New connections use `session` from now on; connections already running stay on theirs.
  public func replaceSession(_ session: PortForwardSession) {
    current.session = session
  }

  public var session: PortForwardSession { current.session }

  /// Closes the listeners and every local connection (their streams are reset), and waits for the
  /// loop to finish. The session stays open: it belongs to the caller.
  public func stop() {
    guard control.requestStop() else { return }
    finished.wait()
  }

  deinit { stop() }
}

/// The session new connections use; swapped by `replaceSession`.
final class CurrentSession: Sendable {
  private let value: Mutex<PortForwardSession>
  init(_ session: PortForwardSession) { value = Mutex(session) }
  var session: PortForwardSession {
    get { value.withLock { $0 } }
    set { value.withLock { $0 = newValue } }
  }
}
