import NIOConcurrencyHelpers
import NIOCore

/// The bytes of a BOOKMARK event as kube-apiserver writes them.
///
/// A bookmark's object is the resource's Go zero value with only `metadata.resourceVersion` set (and the
/// `k8s.io/initial-events-end` annotation after a watch list's initial events). Go's JSON encoder writes
/// struct fields in declaration order and keeps fields without `omitempty` (and structs, which
/// `omitempty` never drops) even when empty, so each kind has its own fixed tail. The sandbox's stored
/// objects are serialised with sorted keys; bookmarks are written here, field by field, so that their
/// bytes are exactly the real server's.
struct WatchBookmark: Sendable {
  var kind: String
  var apiVersion: String

  /// `{"type":"BOOKMARK","object":{...}}` plus the newline that ends every watch event.
  func line(resourceVersion: UInt64, initialEventsEnd: Bool) -> [UInt8] {
    var metadata = "{\"resourceVersion\":\"\(resourceVersion)\""
    // ObjectMeta declares resourceVersion before annotations.
    if initialEventsEnd { metadata += ",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}" }
    metadata += "}"
    let object = "{\"kind\":\(Self.quoted(kind)),\"apiVersion\":\(Self.quoted(apiVersion)),\"metadata\":\(metadata)"
      + Self.zeroValueTail(kind: kind, apiVersion: apiVersion) + "}"
    return Array("{\"type\":\"BOOKMARK\",\"object\":\(object)}\n".utf8)
  }

  /// What follows `metadata` in the zero value of each kind the sandbox serves (`k8s.io/api` types).
  static func zeroValueTail(kind: String, apiVersion: String) -> String {
    switch (kind, apiVersion) {
    case ("Pod", "v1"):
      // PodSpec.Containers has no omitempty; PodStatus has only omitempty fields.
      return ",\"spec\":{\"containers\":null},\"status\":{}"
    case ("Namespace", "v1"):
      return ",\"spec\":{},\"status\":{}"
    case ("Node", "v1"):
      // NodeStatus.DaemonEndpoints and NodeInfo are structs (never omitted); DaemonEndpoint.Port and every
      // NodeSystemInfo string lack omitempty.
      return ",\"spec\":{},\"status\":{\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":0}},\"nodeInfo\":{"
        + ["machineID", "systemUUID", "bootID", "kernelVersion", "osImage", "containerRuntimeVersion",
          "kubeletVersion", "kubeProxyVersion", "operatingSystem", "architecture"].map { "\"\($0)\":\"\"" }
        .joined(separator: ",") + "}}"
    case ("Event", "v1"):
      // core/v1 Event: involvedObject and source are structs; the timestamps are metav1.Time/MicroTime,
      // whose zero value marshals as null; reportingComponent/reportingInstance lack omitempty.
      return ",\"involvedObject\":{},\"source\":{},\"firstTimestamp\":null,\"lastTimestamp\":null,"
        + "\"eventTime\":null,\"reportingComponent\":\"\",\"reportingInstance\":\"\""
    case ("Event", "events.k8s.io/v1"):
      return ",\"eventTime\":null,\"regarding\":{},\"deprecatedSource\":{},\"deprecatedFirstTimestamp\":null,"
        + "\"deprecatedLastTimestamp\":null"
    default:
      return ""
    }
  }

  private static func quoted(_ text: String) -> String { JSONValue.string(text).serializedString() }
}

/// When a watch's next periodic bookmark is due, as the cacher's `nextBookmarkTime` decides: every
/// `interval` (a minute by default), but no later than two seconds before the watch's deadline, and
/// none once that moment has passed.
struct BookmarkSchedule: Sendable {
  /// kube's `defaultBookmarkFrequency`.
  static let defaultInterval: Double = 60
  /// The cacher sends its last bookmark this long before a watch's timeout.
  static let beforeDeadline: Double = 2

  var interval: Double
  /// Seconds from the watch's start until it ends (timeoutSeconds, or the server's own limit).
  var deadline: Double

  /// When (seconds after the start) the bookmark after `now` is due, or nil for none. `now` is the
  /// start or the moment the previous bookmark went out; a time not after it means none (the cacher's
  /// "before now", with the pre-timeout bookmark counted as sent).
  func next(after now: Double) -> Double? {
    var heartbeat = now + interval
    let preTimeout = deadline - Self.beforeDeadline
    if preTimeout < heartbeat { heartbeat = preTimeout }
    return heartbeat <= now ? nil : heartbeat
  }
}

/// Sends one watch's periodic bookmarks on its event loop, each scheduled when the previous one went
/// out (the cacher re-queues a watcher by `nextBookmarkTime` after every bookmark it dispatches).
final class PeriodicBookmarks: Sendable {
  private struct State {
    var pending: Scheduled<Void>?
    var cancelled = false
  }

  private let schedule: BookmarkSchedule
  private let eventLoop: any EventLoop
  private let send: @Sendable () -> Void
  private let started = NIODeadline.now()
  private let state = NIOLockedValueBox(State())

  init(schedule: BookmarkSchedule, eventLoop: any EventLoop, send: @escaping @Sendable () -> Void) {
    self.schedule = schedule
    self.eventLoop = eventLoop
    self.send = send
    arm(after: 0)
  }

  func cancel() {
    state.withLockedValue { state in
      state.cancelled = true
      state.pending?.cancel()
      state.pending = nil
    }
  }

  private func arm(after now: Double) {
    guard let due = schedule.next(after: now) else { return }
    let at = started + .nanoseconds(Int64(due * 1e9))
    state.withLockedValue { current in
      guard !current.cancelled else { return }
      current.pending = eventLoop.scheduleTask(deadline: at) { [self] in
        guard !state.withLockedValue({ $0.cancelled }) else { return }
        send()
        arm(after: due)
      }
    }
  }
}
