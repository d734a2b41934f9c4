/// What a forward reports, in order: `PortForwarder.events` all of it, `LocalForwarder`'s handler the
/// connection cases (its connections all use session 0).
public enum ForwardEvent: Sendable, Equatable {
  case listening([BoundAddress])
  /// A session (`session` is its id within this forward) is up and takes connections.
  case sessionOpened(session: Int, pod: String, transport: PortForwardTransport)
  /// Opening an extra or replacement session failed; existing sessions carry on.
  case sessionOpenFailed(pod: String, message: String)
  /// A session this forward closed itself (idle extra shard, or replaced by `replaceTarget`).
  case sessionClosed(session: Int)
  /// A session ended without being asked to (peer closed, watchdog, transport error).
  case sessionLost(session: Int, SessionTermination)
  /// After the last session was lost, a new one is up (`attempt` counts from 1).
  case reconnected(session: Int, attempt: Int)
  case connectionOpened(connection: Int, listener: BoundAddress, session: Int)
  /// Both directions ended (in order, or the local side went away).
  case connectionClosed(connection: Int, session: Int, bytesToPod: Int, bytesFromPod: Int, duration: Duration)
  /// Only this connection failed; `reason` carries the kubelet's text for `.remote`.
  case connectionFailed(
    connection: Int, session: Int?, reason: ForwardedStreamError, bytesToPod: Int, bytesFromPod: Int, duration: Duration)
  case stopped
}

extension ForwardEvent {
  /// The public report of what the loop saw happen to a connection; nil for `accepted`, which is
  /// reported once the connection's stream pair is open (or could not be opened).
  init?(_ event: LoopEvent) {
    switch event {
    case .accepted:
      return nil
    case .opened(let id, let listener, let session):
      self = .connectionOpened(connection: id, listener: listener, session: session)
    case .setupFailed(let id, let error):
      self = .connectionFailed(connection: id, session: nil, reason: error, bytesToPod: 0, bytesFromPod: 0, duration: .zero)
    case .ended(let s):
      if let failure = s.failure {
        self = .connectionFailed(
          connection: s.connection, session: s.sessionID, reason: failure, bytesToPod: s.bytesToPod,
          bytesFromPod: s.bytesFromPod, duration: s.duration)
      } else {
        self = .connectionClosed(
          connection: s.connection, session: s.sessionID, bytesToPod: s.bytesToPod, bytesFromPod: s.bytesFromPod,
          duration: s.duration)
      }
    }
  }
}
