import Foundation
import KFTray

/// `proxy -o json`: every event as one JSON object on its own line, for tools that watch a proxy.
/// Each has `time` (RFC 3339 with milliseconds), `event` and the event's fields.
enum EventRecords {
  static func line(_ fields: [String: Any]) -> String {
    var fields = fields
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    fields["time"] = formatter.string(from: Date())
    let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    return String(decoding: data, as: UTF8.self)
  }

  static func record(_ event: ProxyEvent) -> [String: Any] {
    func ms(_ d: Duration) -> Int { Int(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000) }
    switch event {
    case .creatingPod(let label, let namespace, let pod):
      return ["event": "pod-creating", "target": label, "namespace": namespace, "pod": pod]
    case .podProgress(let label, let p):
      return ["event": "pod-waiting", "target": label, "namespace": p.namespace, "pod": p.pod, "state": p.state]
    case .podReady(let label, let namespace, let pod):
      return ["event": "pod-ready", "target": label, "namespace": namespace, "pod": pod]
    case .forwarding(let label, let local, let target, let namespace, let pod):
      // The dynamic relay's forward has no remote of its own: every connection names one.
      let remote = label == ProxyPrinter.dynamicLabel ? "any" : target.remote
      return [
        "event": "forwarding", "target": label, "local": local, "remote": remote, "protocol": target.transport.rawValue,
        "namespace": namespace, "pod": pod,
      ]
    case .connectionOpened(let label, let id, let local):
      return ["event": "connection-opened", "target": label, "connection": id, "local": local]
    case .connectionClosed(let label, let id, let up, let down, let duration):
      return [
        "event": "connection-closed", "target": label, "connection": id, "bytesSent": up, "bytesReceived": down,
        "durationMs": ms(duration),
      ]
    case .connectionFailed(let label, let id, let reason):
      return ["event": "connection-failed", "target": label, "connection": id, "reason": reason]
    case .udp(let label, let udp):
      switch udp {
      case .peerOpened(let peer): return ["event": "udp-peer-opened", "target": label, "peer": peer]
      case .peerClosed(let peer, let out, let `in`, let why):
        return ["event": "udp-peer-closed", "target": label, "peer": peer, "datagramsSent": out, "datagramsReceived": `in`, "reason": why]
      case .dropped(let peer, let bytes, let why):
        return ["event": "udp-dropped", "target": label, "peer": peer, "bytes": bytes, "reason": why]
      case .sessionLost(let why): return ["event": "session-lost", "target": label, "reason": why]
      case .sessionOpened(let pod): return ["event": "session-opened", "target": label, "pod": pod]
      }
    case .podLost(let label, let pod, let why):
      return ["event": "pod-lost", "target": label, "pod": pod, "reason": why]
    case .recovered(let label, let old, let new, let after):
      return ["event": "recovered", "target": label, "oldPod": old, "pod": new, "afterMs": ms(after)]
    case .recoveryFailed(let label, let error, let retry):
      return ["event": "recovery-failed", "target": label, "error": error, "retryInMs": ms(retry)]
    case .sessionLost(let label, let why):
      return ["event": "session-lost", "target": label, "reason": why]
    case .reconnected(let label):
      return ["event": "reconnected", "target": label]
    case .deletedPod(let namespace, let pod):
      return ["event": "pod-deleted", "namespace": namespace, "pod": pod]
    case .deleteFailed(let namespace, let pod, let error):
      return ["event": "pod-delete-failed", "namespace": namespace, "pod": pod, "error": error]
    case .deleteUncertain(let namespace, let pod, let error):
      return ["event": "pod-delete-uncertain", "namespace": namespace, "pod": pod, "error": error]
    }
  }

  static func record(_ event: DynamicEvent) -> [String: Any] {
    switch event {
    case .opened(let frontend, let client, let destination):
      return ["event": "dynamic-opened", "frontend": frontend, "client": client, "destination": destination]
    case .refused(let frontend, let client, let destination, let reason):
      return ["event": "dynamic-refused", "frontend": frontend, "client": client, "destination": destination, "reason": reason]
    case .closed(let frontend, let client, let destination, let out, let `in`):
      return [
        "event": "dynamic-closed", "frontend": frontend, "client": client, "destination": destination, "bytesSent": out,
        "bytesReceived": `in`,
      ]
    }
  }
}
