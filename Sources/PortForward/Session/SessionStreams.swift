import Foundation
import PortForwardCodecs
import Synchronization

/// Counters of one session (a snapshot).
public struct SessionStatistics: Sendable, Equatable {
  /// Stream pairs opened (one per forwarded connection).
  public var connectionsOpened = 0
  /// Connections whose outcome was a failure (error text, reset, overflow, session end).
  public var connectionsFailed = 0
  /// Pairs not yet closed by their consumer.
  public var connectionsActive = 0
  /// Payload bytes sent on data streams (to the pod).
  public var bytesSent = 0
  /// Payload bytes received on data streams (from the pod).
  public var bytesReceived = 0
  public init() {}
}

/// The session's stream table and counters: maps both stream ids of each pair to its
/// `ForwardedStream`, so frames for unknown or forgotten streams are dropped (as spdystream does).
final class SessionStreams: Sendable {
  private struct State {
    var byID: [SPDYStreamID: ForwardedStream] = [:]
    var stats = SessionStatistics()
    var ended: ForwardedStreamError?
    /// Streams holding more than their receive limit; while any does, the socket is not read.
    var overLimit = 0
    var pause: (@Sendable (Bool) -> Void)?
    var lastStallReset: ContinuousClock.Instant?
  }

  private let state = Mutex(State())

  func add(_ stream: ForwardedStream) throws(ForwardedStreamError) {
    try state.withLock { s throws(ForwardedStreamError) in
      if let ended = s.ended { throw ended }
      s.byID[stream.errorStreamID] = stream
      s.byID[stream.dataStreamID] = stream
      s.stats.connectionsOpened += 1
      s.stats.connectionsActive += 1
    }
  }

  /// Counted when a stream pair's setup failed after the ids were registered.
  func setupFailed(_ stream: ForwardedStream) {
    state.withLock { s in
      if s.byID.removeValue(forKey: stream.dataStreamID) != nil {
        s.byID.removeValue(forKey: stream.errorStreamID)
        s.stats.connectionsActive -= 1
        s.stats.connectionsFailed += 1
      }
    }
  }

  /// Who pauses and resumes reading the connection (set once it is attached).
  func setPauseHandler(_ handler: @escaping @Sendable (Bool) -> Void) {
    state.withLock { $0.pause = handler }
  }

  /// A stream went over (or back under) its receive limit. Called under the lock so that pause
  /// and resume reach the connection in order (its own lock is a leaf: no cycle).
  func streamOverLimit(_ over: Bool) {
    state.withLock { s in
      let before = s.overLimit
      s.overLimit += over ? 1 : -1
      if before == 0 && s.overLimit == 1 { s.pause?(true) }
      if before == 1 && s.overLimit == 0 { s.pause?(false) }
    }
  }

  /// Reading the connection is paused (a stream is over its receive limit): nothing arrives
  /// meanwhile, through no fault of the server.
  var readingPaused: Bool { state.withLock { $0.overLimit > 0 } }

  /// A stream was reset for stalling: the server may still be wedged behind it for a while.
  func stallReset() { state.withLock { $0.lastStallReset = .now } }

  /// Some stream is over its limit (reading paused), or one was reset for stalling within `window`.
  func hasStall(window: Duration) -> Bool {
    state.withLock { s in
      s.overLimit > 0 || s.lastStallReset.map { ContinuousClock.now - $0 < window } ?? false
    }
  }

  func lookup(_ id: SPDYStreamID) -> ForwardedStream? { state.withLock { $0.byID[id] } }

  func remove(_ stream: ForwardedStream) {
    state.withLock { s in
      if s.byID.removeValue(forKey: stream.dataStreamID) != nil {
        s.byID.removeValue(forKey: stream.errorStreamID)
        s.stats.connectionsActive -= 1
      }
    }
  }

  func connectionEnded(_ stream: ForwardedStream, failed: Bool) {
    if failed { state.withLock { $0.stats.connectionsFailed += 1 } }
  }

  func countSent(_ n: Int) { state.withLock { $0.stats.bytesSent += n } }
  func countReceived(_ n: Int) { state.withLock { $0.stats.bytesReceived += n } }

  var statistics: SessionStatistics { state.withLock { $0.stats } }

  /// Every distinct pair, for the timer sweep and for shutdown.
  var all: [ForwardedStream] {
    state.withLock { s in
      var seen = Set<SPDYStreamID>()
      return s.byID.values.filter { seen.insert($0.dataStreamID).inserted }
    }
  }

  /// The session ended: later `add`s fail, and every open pair fails with `error`. Pairs leave the
  /// table when their consumer closes them, as usual.
  func endAll(_ error: ForwardedStreamError) {
    let streams = state.withLock { s -> [ForwardedStream] in
      if s.ended == nil { s.ended = error }
      var seen = Set<SPDYStreamID>()
      return s.byID.values.filter { seen.insert($0.dataStreamID).inserted }
    }
    for stream in streams { stream.fail(error) }
  }
}
