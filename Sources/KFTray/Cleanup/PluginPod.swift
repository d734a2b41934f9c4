import Foundation
import KubeClient

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A pod this plugin (or the kftray desktop app) left in the cluster, as `cleanup` reads it.
public struct PluginPod: Sendable, Equatable {
  public enum Kind: String, Sendable, Codable {
    /// `proxy`'s relay pods.
    case relay
    /// `doctor`'s busybox pods.
    case doctor
    /// `kftray-forward-*` and `kftray-expose-*` pods of the kftray desktop app (a `config_id` label).
    case kftray
  }

  public var namespace: String
  public var name: String
  public var uid: String?
  public var kind: Kind
  public var ownerUser: String?
  public var ownerHost: String?
  public var ownerPID: Int32?
  public var target: String?
  public var created: Date?
  public var heartbeat: Date?
  public var phase: String?
  public var terminating: Bool

  public init(_ pod: Pod) {
    let labels = pod.metadata.labels ?? [:]
    let annotations = pod.metadata.annotations ?? [:]
    namespace = pod.metadata.namespace ?? ""
    name = pod.metadata.name ?? ""
    uid = pod.metadata.uid
    if labels[RelayLabels.managedBy] == RelayLabels.manager {
      kind = labels[RelayLabels.component] == "doctor" || labels[RelayLabels.name] == "kftray-doctor" ? .doctor : .relay
    } else {
      kind = .kftray
    }
    ownerUser = annotations[RelayLabels.ownerUser]
    ownerHost = annotations[RelayLabels.ownerHost]
    ownerPID = annotations[RelayLabels.ownerPID].flatMap { Int32($0) }
    target = annotations[RelayLabels.target] ?? Self.kftrayTarget(pod)
    created = pod.metadata.creationTimestamp.flatMap(Timestamps.parse)
    heartbeat = annotations[RelayLabels.heartbeat].flatMap(Timestamps.parse)
    phase = pod.status?.phase
    terminating = pod.metadata.deletionTimestamp != nil
  }

  /// The kftray app's relay pods carry their target only in the container's env.
  private static func kftrayTarget(_ pod: Pod) -> String? {
    let env = pod.spec?.containers.first?.env ?? []
    guard let address = env.first(where: { $0.name == "REMOTE_ADDRESS" })?.value,
      let port = env.first(where: { $0.name == "REMOTE_PORT" })?.value
    else { return nil }
    let proto = env.first { $0.name == "PROXY_TYPE" }?.value ?? "tcp"
    return "\(address):\(port)/\(proto)"
  }

  /// Whether a pod is one of the kftray desktop app's relay pods (kftray-compat §2.6).
  public static func isKFTrayAppPod(_ pod: Pod) -> Bool {
    let name = pod.metadata.name ?? ""
    return (name.hasPrefix("kftray-forward-") || name.hasPrefix("kftray-expose-")) && pod.metadata.labels?["config_id"] != nil
  }
}

/// RFC 3339 timestamps as the API server and `RelayOwner` write them.
public enum Timestamps {
  public static func parse(_ text: String) -> Date? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    if let date = formatter.date(from: text) { return date }
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.date(from: text)
  }

  public static func format(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.string(from: date)
  }

  /// kubectl's AGE column: 45s, 12m, 3h, 5d.
  public static func age(_ seconds: TimeInterval) -> String {
    let s = max(0, Int(seconds))
    if s < 120 { return "\(s)s" }
    if s < 2 * 3600 { return "\(s / 60)m" }
    if s < 2 * 86400 { return "\(s / 3600)h" }
    return "\(s / 86400)d"
  }
}

/// Whether a proxy process still runs here: the pid exists and is this plugin (pids are reused).
public struct OwnerProbe: Sendable {
  public var hostName: String
  public var isRunning: @Sendable (Int32) -> Bool

  public init(hostName: String, isRunning: @escaping @Sendable (Int32) -> Bool) {
    self.hostName = hostName
    self.isRunning = isRunning
  }

  public static let local = OwnerProbe(hostName: ProcessInfo.processInfo.hostName) { pid in
    guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
    #if os(Linux)
      // The pid may belong to another program by now: only a kubectl-kftray process counts.
      guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
      return String(decoding: cmdline, as: UTF8.self).contains("kubectl-kftray")
    #else
      return true
    #endif
  }
}

/// `cleanup`'s judgement of one pod.
public struct CleanupVerdict: Sendable, Equatable {
  public enum Status: String, Sendable, Codable {
    case orphaned, active
    /// A kftray app pod: its owner cannot be asked.
    case kftray
  }
  public var status: Status
  public var reason: String

  public init(status: Status, reason: String) {
    self.status = status
    self.reason = reason
  }
}

extension PluginPod {
  /// orphaned: the owner process is gone on this host, the pod ended, or no heartbeat for longer
  /// than `staleAfter` (pods without one count from their creation).
  public func verdict(now: Date, staleAfter: TimeInterval, probe: OwnerProbe) -> CleanupVerdict {
    if kind == .kftray {
      return CleanupVerdict(status: .kftray, reason: "made by the kftray app (config_id label)")
    }
    if phase == "Succeeded" || phase == "Failed" {
      return CleanupVerdict(status: .orphaned, reason: "the pod ended (\(phase!))")
    }
    if let host = ownerHost, host == probe.hostName, let pid = ownerPID {
      return probe.isRunning(pid)
        ? CleanupVerdict(status: .active, reason: "owner process \(pid) is running on this host")
        : CleanupVerdict(status: .orphaned, reason: "owner process \(pid) is gone on this host")
    }
    let last = heartbeat ?? created ?? now
    let quiet = now.timeIntervalSince(last)
    let what = heartbeat == nil ? "no heartbeat since it was created" : "last heartbeat"
    if quiet > staleAfter {
      return CleanupVerdict(
        status: .orphaned, reason: "\(what) \(Timestamps.age(quiet)) ago (threshold \(Timestamps.age(staleAfter)))")
    }
    return CleanupVerdict(status: .active, reason: "\(what) \(Timestamps.age(quiet)) ago")
  }
}
