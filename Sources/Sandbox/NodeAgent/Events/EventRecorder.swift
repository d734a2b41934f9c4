import Foundation
import KubeClient

/// Records Events the way client-go's recorders do, without ever holding up the caller: events queue
/// up and one task writes them in order. An event equal to an earlier one (same object, reason,
/// message, type) is not created again but patched, as the event correlator does: the legacy
/// recorder (`record`, the kubelet's) counts in `count`/`lastTimestamp`; the events.k8s.io recorder
/// (`events`, the scheduler's) in `series`.
public final class EventRecorder: Sendable {
  /// Who reports: `kubelet` on its node, or `default-scheduler` with its instance name.
  public struct Reporter: Sendable {
    var component: String
    var instance: String
    /// The events.k8s.io recorder: `eventTime`, `action` and `series` instead of the legacy fields.
    var seriesStyle: Bool

    public static func kubelet(node: String) -> Reporter {
      Reporter(component: "kubelet", instance: node, seriesStyle: false)
    }

    /// The scheduler's recorder names its instance `<scheduler>-<hostname>` (`tools/events`).
    public static func scheduler(host: String) -> Reporter {
      Reporter(component: "default-scheduler", instance: "default-scheduler-\(host)", seriesStyle: true)
    }
  }

  struct Occurrence: Sendable {
    var regarding: RecordedEvent.Reference
    var type: String
    var reason: String
    var message: String
    var action: String?
  }

  private let inbox: AsyncStream<Occurrence>.Continuation
  private let writer: Task<Void, Never>

  /// client-go's broadcaster: an event that did not reach the server is tried `maxTries` times,
  /// `retrySleep` apart (`maxTriesPerEvent` 12, `defaultSleepDuration` 10 s).
  init(
    api: KubeAPI, reporter: Reporter, maxTries: Int = 12, retrySleep: Duration = .seconds(10),
    log: @escaping @Sendable (String) -> Void
  ) {
    let (stream, inbox) = AsyncStream<Occurrence>.makeStream()
    self.inbox = inbox
    writer = Task {
      var sink = EventSink(api: api, reporter: reporter, maxTries: maxTries, retrySleep: retrySleep, log: log)
      for await occurrence in stream { await sink.write(occurrence) }
    }
  }

  deinit { inbox.finish() }

  func record(_ occurrence: Occurrence) { inbox.yield(occurrence) }

  func record(
    _ pod: Pod, fieldPath: String? = nil, _ type: String, _ reason: String, _ message: String, action: String? = nil
  ) {
    record(
      Occurrence(
        regarding: RecordedEvent.reference(to: pod, fieldPath: fieldPath), type: type, reason: reason,
        message: message, action: action))
  }

  /// Stops taking events and waits until those queued are written.
  func flush() async {
    inbox.finish()
    await writer.value
  }
}

/// The writing side of a recorder: creates new events, patches repeats. Owned by the recorder's task.
private struct EventSink {
  let api: KubeAPI
  let reporter: EventRecorder.Reporter
  let maxTries: Int
  let retrySleep: Duration
  let log: @Sendable (String) -> Void

  struct Seen {
    var name: String
    var namespace: String
    var count: Int
  }

  /// By the correlator's key: source, involved object, type, reason, message.
  var seen: [String: Seen] = [:]

  init(
    api: KubeAPI, reporter: EventRecorder.Reporter, maxTries: Int, retrySleep: Duration,
    log: @escaping @Sendable (String) -> Void
  ) {
    self.api = api
    self.reporter = reporter
    self.maxTries = maxTries
    self.retrySleep = retrySleep
    self.log = log
  }

  /// Sends one request as client-go's `recordToSink` does: an answer from the server, whatever its
  /// status, ends it (the server rejected the event: trying again would not help); a request that
  /// got no answer is tried again, the first wait randomized so that recorders do not stay in step.
  /// Returns the error that ended it, nil on success. Writes stay in order: later events wait.
  private func send(_ what: String, _ request: () async throws(KubeError) -> Void) async -> KubeError? {
    var tries = 0
    while true {
      do throws(KubeError) {
        try await request()
        return nil
      } catch {
        switch error {
        case .api, .credentials, .upgrade: return error
        case .transport, .decoding: break
        }
        tries += 1
        if tries >= maxTries {
          log("\(what): retry limit exceeded: \(error)")
          return error
        }
        log("\(what): \(error) (trying again)")
        let wait = tries == 1 ? retrySleep * Double.random(in: 0..<1) : retrySleep
        let failure = error
        do { try await Task.sleep(for: wait) } catch { return failure }
      }
    }
  }

  mutating func write(_ occurrence: EventRecorder.Occurrence) async {
    let ref = occurrence.regarding
    let key = [
      reporter.component, reporter.instance, ref.kind, ref.namespace ?? "", ref.name, ref.uid ?? "",
      ref.apiVersion, ref.fieldPath ?? "", occurrence.type, occurrence.reason, occurrence.message,
    ].joined(separator: "\u{0}")
    let now = Date()
    if var earlier = seen[key] {
      earlier.count += 1
      let patch: [String: Any] =
        reporter.seriesStyle
        ? ["series": ["count": earlier.count, "lastObservedTime": Self.microTime(now)]]
        : ["count": earlier.count, "lastTimestamp": Timestamps.rfc3339(now), "message": occurrence.message]
      let body = (try? JSONSerialization.data(withJSONObject: patch, options: [.sortedKeys])) ?? Data()
      let api = self.api
      let failure = await send("event \(earlier.namespace)/\(earlier.name): patch") { () async throws(KubeError) in
        try await api.patchEvent(earlier.name, namespace: earlier.namespace, patch: body)
      }
      guard let failure else {
        seen[key] = earlier
        return
      }
      // Gone (deleted, or expired by the server's event TTL): record it anew, as the correlator does
      // when its patch fails with NotFound.
      guard case .api(_, let code) = failure, code == 404 else {
        log("event \(earlier.namespace)/\(earlier.name): patch failed: \(failure)")
        return
      }
    }
    let namespace = ref.namespace ?? "default"
    // `makeEvent`: the object's name and the time in hexadecimal nanoseconds.
    let nanos = UInt64(now.timeIntervalSince1970 * 1e9)
    let name = "\(ref.name).\(String(nanos, radix: 16))"
    var event = RecordedEvent(
      metadata: ObjectMeta(name: name, namespace: namespace), involvedObject: ref, reason: occurrence.reason,
      message: occurrence.message, source: RecordedEvent.Source(), type: occurrence.type,
      reportingComponent: reporter.component, reportingInstance: reporter.instance)
    if reporter.seriesStyle {
      // events.k8s.io Events as core/v1 stores them: no legacy source, timestamps or count.
      event.eventTime = Self.microTime(now)
      event.action = occurrence.action
    } else {
      event.source = RecordedEvent.Source(component: reporter.component, host: reporter.instance)
      event.firstTimestamp = Timestamps.rfc3339(now)
      event.lastTimestamp = event.firstTimestamp
      event.count = 1
    }
    let api = self.api
    let created = event
    if let failure = await send("event \(namespace)/\(name) (\(occurrence.reason)): create", { () async throws(KubeError) in
      try await api.createEvent(created)
    }) {
      log("event \(namespace)/\(name) (\(occurrence.reason)): create failed: \(failure)")
    } else {
      seen[key] = Seen(name: name, namespace: namespace, count: 1)
    }
  }

  /// metav1.MicroTime: RFC 3339 with six fractional digits.
  static func microTime(_ date: Date) -> String {
    let seconds = Int(date.timeIntervalSince1970.rounded(.down))
    let micros = Int((date.timeIntervalSince1970 - Double(seconds)) * 1e6)
    let whole = Timestamps.rfc3339(seconds: seconds, nanoseconds: nil)
    return String(whole.dropLast()) + String(format: ".%06dZ", micros)
  }
}
