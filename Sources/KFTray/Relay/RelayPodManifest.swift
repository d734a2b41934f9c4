import Foundation
import KFTrayRelay

/// Labels and annotations that mark what this plugin created, for `cleanup` and for audits.
public enum RelayLabels {
  public static let name = "app.kubernetes.io/name"
  public static let managedBy = "app.kubernetes.io/managed-by"
  public static let component = "app.kubernetes.io/component"
  public static let session = "kubectl-kftray/session"
  public static let relayName = "kftray-relay"
  public static let manager = "kubectl-kftray"
  /// Every relay pod of this plugin.
  public static let selector = "\(name)=\(relayName),\(managedBy)=\(manager)"

  public static let target = "kubectl-kftray/target"
  public static let ownerUser = "kubectl-kftray/owner-user"
  public static let ownerHost = "kubectl-kftray/owner-host"
  public static let ownerPID = "kubectl-kftray/owner-pid"
  public static let startedAt = "kubectl-kftray/started-at"
  public static let version = "kubectl-kftray/version"
  /// Renewed by the running proxy (RFC 3339); `cleanup` calls a pod whose heartbeat is stale orphaned.
  public static let heartbeat = "kubectl-kftray/heartbeat"
}

/// Who runs the proxy: written on every pod as its audit trail (and for `cleanup`'s verdict).
public struct RelayOwner: Sendable, Equatable {
  public var user: String
  public var host: String
  public var pid: Int32
  /// RFC 3339, UTC, whole seconds.
  public var startedAt: String

  public init(user: String, host: String, pid: Int32, startedAt: String) {
    self.user = user
    self.host = host
    self.pid = pid
    self.startedAt = startedAt
  }

  /// This process.
  public static func current(now: Date = Date()) -> RelayOwner {
    let environment = ProcessInfo.processInfo.environment
    let user = environment["USER"] ?? environment["LOGNAME"] ?? NSUserName()
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return RelayOwner(
      user: user, host: ProcessInfo.processInfo.hostName, pid: ProcessInfo.processInfo.processIdentifier,
      startedAt: formatter.string(from: now))
  }
}

/// Settings of a relay pod the user may change (flags and defaults).
public struct RelayPodSettings: Sendable, Equatable {
  /// The published kftray-server image, pinned to a release tag (never `latest`: it follows beta tags).
  public static let defaultImage = "ghcr.io/hcavarsan/kftray-server:v0.27.30"
  /// The port the relay listens on in the pod: unprivileged, and independent of the remote port.
  public static let listenPort: UInt16 = 8080

  public var image = RelayPodSettings.defaultImage
  /// The image of our own relay (`kftray-relay`), which `proxy --socks` needs for its dynamic mode:
  /// the kftray-server image has none. Built from `Sources/kftray-relay/Containerfile`.
  public static let defaultDynamicImage = "ghcr.io/kubectl-kftray/kftray-relay:v\(PluginVersion.current)"
  public var dynamicImage = RelayPodSettings.defaultDynamicImage
  public var imagePullSecrets: [String] = []
  public var nodeSelector: [String: String] = [:]
  public var tolerations: [RelayToleration] = []
  public var requests: [String: String] = ["cpu": "10m", "memory": "16Mi"]
  public var limits: [String: String] = ["cpu": "500m", "memory": "64Mi"]
  public var labels: [String: String] = [:]
  public var annotations: [String: String] = [:]
  /// The backstop: the kubelet ends the pod after this long even if nobody deletes it. `proxy`
  /// replaces a pod that ends so, like any other lost pod.
  public var activeDeadlineSeconds = 12 * 3600
  /// A JSON merge patch (RFC 7386) applied to the finished manifest.
  public var patch: Data?

  public init() {}
}

/// A toleration as `--toleration KEY[=VALUE][:EFFECT]` writes it.
public struct RelayToleration: Sendable, Equatable, Encodable {
  public var key: String?
  public var `operator`: String
  public var value: String?
  public var effect: String?

  public init(parsing text: String) throws(RelayManifestError) {
    var rest = Substring(text)
    var effect: String?
    if let colon = rest.lastIndex(of: ":") {
      effect = String(rest[rest.index(after: colon)...])
      rest = rest[..<colon]
      guard ["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(effect!) else {
        throw .toleration(text, "the effect must be NoSchedule, PreferNoSchedule or NoExecute")
      }
    }
    if let equals = rest.firstIndex(of: "=") {
      key = String(rest[..<equals])
      value = String(rest[rest.index(after: equals)...])
      `operator` = "Equal"
      guard !key!.isEmpty else { throw .toleration(text, "a value needs a key") }
    } else {
      key = rest.isEmpty ? nil : String(rest)
      `operator` = "Exists"
    }
    self.effect = effect
  }
}

public enum RelayManifestError: Error, Sendable, Equatable, CustomStringConvertible {
  case toleration(String, String)
  case keyValue(flag: String, String)
  case patch(String)

  public var description: String {
    switch self {
    case .toleration(let text, let why): return "invalid --toleration \"\(text)\": \(why) (use KEY[=VALUE][:EFFECT])"
    case .keyValue(let flag, let text): return "invalid \(flag) \"\(text)\": use KEY=VALUE"
    case .patch(let why): return "invalid --patch: \(why) (give a JSON merge patch object, e.g. '{\"metadata\":{\"labels\":{\"a\":\"b\"}}}')"
    }
  }

  /// Parses `KEY=VALUE` (flags such as `--node-selector`, `--pod-label`).
  public static func keyValue(_ text: String, flag: String) throws(RelayManifestError) -> (String, String) {
    guard let equals = text.firstIndex(of: "="), equals != text.startIndex else { throw .keyValue(flag: flag, text) }
    return (String(text[..<equals]), String(text[text.index(after: equals)...]))
  }
}

/// The relay pod for one target: kftray-server's env contract under Pod Security `restricted`.
///
/// Built as plain JSON (not the client's `Pod` model) because the probe and a user's merge patch
/// must reach the server whole; keys are sorted, so the golden file can pin every byte.
public struct RelayPodManifest: Sendable {
  public var name: String
  public var namespace: String
  public var sessionID: String
  public var target: ProxyTarget
  public var owner: RelayOwner
  public var settings: RelayPodSettings
  public var pluginVersion: String
  /// The first heartbeat (RFC 3339); nil: the run's start.
  public var heartbeat: String?
  /// Set: the dynamic relay of `proxy --socks`, where each connection names its destination and
  /// this allow-list (in the relay's `ALLOW`) limits them; `target` is not used.
  public var dynamic: AllowList?

  public init(
    name: String, namespace: String, sessionID: String, target: ProxyTarget, owner: RelayOwner,
    settings: RelayPodSettings, pluginVersion: String
  ) {
    self.name = name
    self.namespace = namespace
    self.sessionID = sessionID
    self.target = target
    self.owner = owner
    self.settings = settings
    self.pluginVersion = pluginVersion
  }

  /// A pod name like the API server's generateName gives: `kftray-relay-` and five characters
  /// from its alphabet (no vowels, no look-alikes).
  public static func podName<G: RandomNumberGenerator>(using generator: inout G) -> String {
    let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
    return "kftray-relay-" + String((0..<5).map { _ in alphabet.randomElement(using: &generator)! })
  }

  public static func podName() -> String {
    var generator = SystemRandomNumberGenerator()
    return podName(using: &generator)
  }

  public var labels: [String: String] {
    var labels = settings.labels
    labels[RelayLabels.name] = RelayLabels.relayName
    labels[RelayLabels.managedBy] = RelayLabels.manager
    labels[RelayLabels.component] = "relay"
    labels[RelayLabels.session] = sessionID
    return labels
  }

  public var annotations: [String: String] {
    var annotations = settings.annotations
    annotations[RelayLabels.target] =
      dynamic.map { "dynamic (allow: \($0))" } ?? (target.remote + "/" + target.transport.rawValue)
    annotations[RelayLabels.ownerUser] = owner.user
    annotations[RelayLabels.ownerHost] = owner.host
    annotations[RelayLabels.ownerPID] = String(owner.pid)
    annotations[RelayLabels.startedAt] = owner.startedAt
    annotations[RelayLabels.heartbeat] = heartbeat ?? owner.startedAt
    annotations[RelayLabels.version] = pluginVersion
    // A relay carries live connections: the autoscaler should not move it, but may if it must.
    annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"] = "true"
    return annotations
  }

  /// The manifest as JSON, with the user's merge patch applied.
  public func json() throws(RelayManifestError) -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    // The document holds only strings, numbers, booleans and containers of them: encoding cannot fail.
    let base = try! encoder.encode(document)
    guard let patch = settings.patch else { return base }
    return try Self.apply(patch: patch, to: base)
  }

  /// RFC 7386: objects merge key by key, `null` removes, anything else replaces.
  static func apply(patch: Data, to document: Data) throws(RelayManifestError) -> Data {
    guard let patchValue = try? JSONSerialization.jsonObject(with: patch, options: [.fragmentsAllowed]) else {
      throw .patch("it is not valid JSON")
    }
    guard patchValue is [String: Any] else { throw .patch("it must be a JSON object") }
    let base = try! JSONSerialization.jsonObject(with: document)
    let merged = mergePatch(base, patchValue)
    guard let object = merged as? [String: Any], object["spec"] is [String: Any] else {
      throw .patch("the result has no pod spec")
    }
    return try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
  }

  static func mergePatch(_ target: Any, _ patch: Any) -> Any {
    guard let patch = patch as? [String: Any] else { return patch }
    var result = (target as? [String: Any]) ?? [:]
    for (key, value) in patch {
      if value is NSNull {
        result[key] = nil
      } else {
        result[key] = mergePatch(result[key] ?? NSNull(), value)
      }
    }
    return result
  }

  // MARK: The document

  private var document: Document {
    let remote = target.remoteAddress
    let probe: Probe? = target.transport == .tcp || dynamic != nil
      ? Probe(tcpSocket: .init(port: Int(RelayPodSettings.listenPort)), periodSeconds: 1, timeoutSeconds: 1) : nil
    let env: [Env]
    if let dynamic {
      env =
        [
          .init(name: "LOCAL_PORT", value: String(RelayPodSettings.listenPort)), .init(name: "PROXY_TYPE", value: "dynamic"),
        ] + (dynamic.allowsEverything ? [] : [.init(name: "ALLOW", value: dynamic.rules.map(\.text).joined(separator: ","))])
    } else {
      env = [
        .init(name: "REMOTE_ADDRESS", value: remote),
        .init(name: "REMOTE_PORT", value: String(target.remotePort)),
        .init(name: "LOCAL_PORT", value: String(RelayPodSettings.listenPort)),
        .init(name: "PROXY_TYPE", value: target.transport.rawValue),
        .init(name: "RUST_LOG", value: "info"),
      ]
    }
    let container = ContainerDoc(
      name: "relay", image: dynamic == nil ? settings.image : settings.dynamicImage,
      env: env,
      ports: [.init(containerPort: Int(RelayPodSettings.listenPort), name: "relay", protocol: "TCP")],
      readinessProbe: probe,
      resources: .init(requests: settings.requests, limits: settings.limits),
      securityContext: .init(
        allowPrivilegeEscalation: false, capabilities: .init(drop: ["ALL"]), readOnlyRootFilesystem: true,
        runAsGroup: 65532, runAsNonRoot: true, runAsUser: 65532, seccompProfile: .init(type: "RuntimeDefault")))
    return Document(
      metadata: .init(name: name, namespace: namespace, labels: labels, annotations: annotations),
      spec: .init(
        activeDeadlineSeconds: settings.activeDeadlineSeconds, automountServiceAccountToken: false,
        containers: [container], enableServiceLinks: false,
        imagePullSecrets: settings.imagePullSecrets.isEmpty ? nil : settings.imagePullSecrets.map { .init(name: $0) },
        nodeSelector: settings.nodeSelector.isEmpty ? nil : settings.nodeSelector, restartPolicy: "Never",
        securityContext: .init(runAsNonRoot: true, runAsUser: 65532, seccompProfile: .init(type: "RuntimeDefault")),
        terminationGracePeriodSeconds: 5, tolerations: settings.tolerations.isEmpty ? nil : settings.tolerations))
  }

  private struct Document: Encodable {
    var apiVersion = "v1"
    var kind = "Pod"
    var metadata: Metadata
    var spec: Spec
  }
  private struct Metadata: Encodable {
    var name: String
    var namespace: String
    var labels: [String: String]
    var annotations: [String: String]
  }
  private struct Spec: Encodable {
    var activeDeadlineSeconds: Int
    var automountServiceAccountToken: Bool
    var containers: [ContainerDoc]
    var enableServiceLinks: Bool
    var imagePullSecrets: [NameRef]?
    var nodeSelector: [String: String]?
    var restartPolicy: String
    var securityContext: PodSecurity
    var terminationGracePeriodSeconds: Int
    var tolerations: [RelayToleration]?
  }
  private struct NameRef: Encodable { var name: String }
  private struct PodSecurity: Encodable {
    var runAsNonRoot: Bool
    var runAsUser: Int
    var seccompProfile: Seccomp
  }
  private struct Seccomp: Encodable { var type: String }
  private struct ContainerDoc: Encodable {
    var name: String
    var image: String
    var env: [Env]
    var ports: [Port]
    var readinessProbe: Probe?
    var resources: Resources
    var securityContext: Security
  }
  private struct Env: Encodable {
    var name: String
    var value: String
  }
  private struct Port: Encodable {
    var containerPort: Int
    var name: String
    var `protocol`: String
  }
  private struct Probe: Encodable {
    var tcpSocket: TCPSocket
    var periodSeconds: Int
    var timeoutSeconds: Int
    struct TCPSocket: Encodable { var port: Int }
  }
  private struct Resources: Encodable {
    var requests: [String: String]
    var limits: [String: String]
  }
  private struct Security: Encodable {
    var allowPrivilegeEscalation: Bool
    var capabilities: Caps
    var readOnlyRootFilesystem: Bool
    var runAsGroup: Int
    var runAsNonRoot: Bool
    var runAsUser: Int
    var seccompProfile: Seccomp
  }
  private struct Caps: Encodable { var drop: [String] }
}
