import Foundation

// The subset of the Kubernetes API types the plugin reads and writes. Unknown fields are ignored
// on decode; the plugin never round-trips an object it did not build (it patches instead).

public struct ObjectMeta: Codable, Sendable, Equatable {
  public var name: String?
  public var generateName: String?
  public var namespace: String?
  public var uid: String?
  public var resourceVersion: String?
  public var creationTimestamp: String?
  public var deletionTimestamp: String?
  public var deletionGracePeriodSeconds: Int?
  public var labels: [String: String]?
  public var annotations: [String: String]?

  public init(
    name: String? = nil, generateName: String? = nil, namespace: String? = nil,
    labels: [String: String]? = nil, annotations: [String: String]? = nil
  ) {
    self.name = name
    self.generateName = generateName
    self.namespace = namespace
    self.labels = labels
    self.annotations = annotations
  }
}

public struct ListMeta: Codable, Sendable, Equatable {
  public var resourceVersion: String?
  public var `continue`: String?
}

public struct Pod: Codable, Sendable, Equatable {
  public var apiVersion: String? = "v1"
  public var kind: String? = "Pod"
  public var metadata: ObjectMeta
  public var spec: PodSpec?
  public var status: PodStatus?

  public init(metadata: ObjectMeta, spec: PodSpec) {
    self.metadata = metadata
    self.spec = spec
  }
}

public struct PodSpec: Codable, Sendable, Equatable {
  public var containers: [Container]
  public var restartPolicy: String?
  public var activeDeadlineSeconds: Int?
  public var terminationGracePeriodSeconds: Int?
  public var automountServiceAccountToken: Bool?
  public var nodeName: String?
  public var nodeSelector: [String: String]?
  public var securityContext: PodSecurityContext?
  public var imagePullSecrets: [LocalObjectReference]?
  public var tolerations: [Toleration]?
  /// Empty or `default-scheduler` means the default scheduler (here: the node agent) binds the pod.
  public var schedulerName: String?

  public init(containers: [Container]) { self.containers = containers }

  private enum CodingKeys: String, CodingKey {
    case containers, restartPolicy, activeDeadlineSeconds, terminationGracePeriodSeconds, automountServiceAccountToken
    case nodeName, nodeSelector, securityContext, imagePullSecrets, tolerations, schedulerName
  }

  /// `"containers": null` is Go's nil slice (a zero-value PodSpec serialises it so): read as empty.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    containers = try c.decodeIfPresent([Container].self, forKey: .containers) ?? []
    restartPolicy = try c.decodeIfPresent(String.self, forKey: .restartPolicy)
    activeDeadlineSeconds = try c.decodeIfPresent(Int.self, forKey: .activeDeadlineSeconds)
    terminationGracePeriodSeconds = try c.decodeIfPresent(Int.self, forKey: .terminationGracePeriodSeconds)
    automountServiceAccountToken = try c.decodeIfPresent(Bool.self, forKey: .automountServiceAccountToken)
    nodeName = try c.decodeIfPresent(String.self, forKey: .nodeName)
    nodeSelector = try c.decodeIfPresent([String: String].self, forKey: .nodeSelector)
    securityContext = try c.decodeIfPresent(PodSecurityContext.self, forKey: .securityContext)
    imagePullSecrets = try c.decodeIfPresent([LocalObjectReference].self, forKey: .imagePullSecrets)
    tolerations = try c.decodeIfPresent([Toleration].self, forKey: .tolerations)
    schedulerName = try c.decodeIfPresent(String.self, forKey: .schedulerName)
  }
}

public struct LocalObjectReference: Codable, Sendable, Equatable {
  public var name: String
  public init(name: String) { self.name = name }
}

public struct Toleration: Codable, Sendable, Equatable {
  public var key: String?
  public var `operator`: String?
  public var value: String?
  public var effect: String?
  public var tolerationSeconds: Int?
  public init(key: String? = nil, operator op: String? = nil, value: String? = nil, effect: String? = nil) {
    self.key = key
    self.operator = op
    self.value = value
    self.effect = effect
  }
}

public struct PodSecurityContext: Codable, Sendable, Equatable {
  public var runAsNonRoot: Bool?
  public var runAsUser: Int?
  public var runAsGroup: Int?
  public var seccompProfile: SeccompProfile?
  public init(runAsNonRoot: Bool? = nil, runAsUser: Int? = nil, runAsGroup: Int? = nil, seccompProfile: SeccompProfile? = nil) {
    self.runAsNonRoot = runAsNonRoot
    self.runAsUser = runAsUser
    self.runAsGroup = runAsGroup
    self.seccompProfile = seccompProfile
  }
}

public struct SeccompProfile: Codable, Sendable, Equatable {
  public var type: String
  public init(type: String) { self.type = type }
}

public struct Container: Codable, Sendable, Equatable {
  public var name: String
  public var image: String
  public var command: [String]?
  public var args: [String]?
  public var env: [EnvVar]?
  public var ports: [ContainerPort]?
  public var resources: ResourceRequirements?
  public var securityContext: SecurityContext?
  public var imagePullPolicy: String?
  public var workingDir: String?
  public var readinessProbe: Probe?

  public init(name: String, image: String) {
    self.name = name
    self.image = image
  }
}

/// A container probe; only the TCP handler and the timing fields are modelled.
public struct Probe: Codable, Sendable, Equatable {
  public var tcpSocket: TCPSocketAction?
  public var initialDelaySeconds: Int?
  public var periodSeconds: Int?
  public var timeoutSeconds: Int?
  public var successThreshold: Int?
  public var failureThreshold: Int?

  public struct TCPSocketAction: Codable, Sendable, Equatable {
    /// The port number; nil when the probe names a container port instead (`portName`).
    public var port: Int?
    /// The API types the port as IntOrString: `port: http` names a port of the container.
    public var portName: String?

    private enum CodingKeys: String, CodingKey { case port }

    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      if let number = try? c.decode(Int.self, forKey: .port) {
        port = number
      } else {
        portName = try c.decode(String.self, forKey: .port)
      }
    }

    public func encode(to encoder: any Encoder) throws {
      var c = encoder.container(keyedBy: CodingKeys.self)
      if let port { try c.encode(port, forKey: .port) } else { try c.encode(portName, forKey: .port) }
    }
  }
}

public struct EnvVar: Codable, Sendable, Equatable {
  public var name: String
  public var value: String?
  public init(name: String, value: String?) {
    self.name = name
    self.value = value
  }
}

public struct ContainerPort: Codable, Sendable, Equatable {
  public var containerPort: Int
  public var name: String?
  public var `protocol`: String?
  public init(containerPort: Int, name: String? = nil, protocol proto: String? = nil) {
    self.containerPort = containerPort
    self.name = name
    self.protocol = proto
  }
}

public struct ResourceRequirements: Codable, Sendable, Equatable {
  public var requests: [String: String]?
  public var limits: [String: String]?
  public init(requests: [String: String]? = nil, limits: [String: String]? = nil) {
    self.requests = requests
    self.limits = limits
  }
}

public struct SecurityContext: Codable, Sendable, Equatable {
  public var allowPrivilegeEscalation: Bool?
  public var readOnlyRootFilesystem: Bool?
  public var runAsNonRoot: Bool?
  public var runAsUser: Int?
  public var runAsGroup: Int?
  public var capabilities: Capabilities?
  public var seccompProfile: SeccompProfile?
  public init() {}
}

public struct Capabilities: Codable, Sendable, Equatable {
  public var add: [String]?
  public var drop: [String]?
  public init(add: [String]? = nil, drop: [String]? = nil) {
    self.add = add
    self.drop = drop
  }
}

public struct PodStatus: Codable, Sendable, Equatable {
  public var phase: String?
  public var conditions: [PodCondition]?
  public var message: String?
  public var reason: String?
  public var hostIP: String?
  public var hostIPs: [PodIP]?
  public var podIP: String?
  public var podIPs: [PodIP]?
  public var startTime: String?
  public var containerStatuses: [ContainerStatus]?

  public init(phase: String? = nil) { self.phase = phase }
}

public struct PodIP: Codable, Sendable, Equatable {
  public var ip: String
  public init(ip: String) { self.ip = ip }
}

public struct PodCondition: Codable, Sendable, Equatable {
  public var type: String
  public var status: String
  public var reason: String?
  public var message: String?
  public var lastProbeTime: String?
  public var lastTransitionTime: String?

  public init(type: String, status: String, reason: String? = nil, message: String? = nil, lastTransitionTime: String? = nil) {
    self.type = type
    self.status = status
    self.reason = reason
    self.message = message
    self.lastTransitionTime = lastTransitionTime
  }
}

public struct ContainerStatus: Codable, Sendable, Equatable {
  public var name: String
  public var ready: Bool?
  public var started: Bool?
  public var restartCount: Int?
  public var image: String?
  public var imageID: String?
  public var containerID: String?
  public var state: ContainerState?
  public var lastState: ContainerState?

  public init(name: String, image: String, ready: Bool = false, restartCount: Int = 0) {
    self.name = name
    self.image = image
    self.ready = ready
    self.restartCount = restartCount
  }
}

/// Exactly one of the three is set in a container's `state`; `lastState` may be empty.
public struct ContainerState: Codable, Sendable, Equatable {
  public var waiting: Reasoned?
  public var running: Running?
  public var terminated: Terminated?

  public init(waiting: Reasoned? = nil, running: Running? = nil, terminated: Terminated? = nil) {
    self.waiting = waiting
    self.running = running
    self.terminated = terminated
  }

  public struct Reasoned: Codable, Sendable, Equatable {
    public var reason: String?
    public var message: String?
    public init(reason: String?, message: String? = nil) {
      self.reason = reason
      self.message = message
    }
  }
  public struct Running: Codable, Sendable, Equatable {
    public var startedAt: String?
    public init(startedAt: String?) { self.startedAt = startedAt }
  }
  public struct Terminated: Codable, Sendable, Equatable {
    public var exitCode: Int
    public var signal: Int?
    public var reason: String?
    public var message: String?
    public var startedAt: String?
    public var finishedAt: String?
    public var containerID: String?
    public init(
      exitCode: Int, signal: Int? = nil, reason: String?, message: String? = nil, startedAt: String? = nil,
      finishedAt: String? = nil, containerID: String? = nil
    ) {
      self.exitCode = exitCode
      self.signal = signal
      self.reason = reason
      self.message = message
      self.startedAt = startedAt
      self.finishedAt = finishedAt
      self.containerID = containerID
    }
  }
}

public struct PodList: Codable, Sendable, Equatable {
  public var metadata: ListMeta
  public var items: [Pod]
}

public struct Namespace: Codable, Sendable, Equatable {
  public var metadata: ObjectMeta
  public var status: NamespaceStatus?

  public struct NamespaceStatus: Codable, Sendable, Equatable {
    public var phase: String?
  }
}

/// `GET /version`. Hosted providers put a `+` in `minor`, so `gitVersion` is the one to show.
public struct ServerVersion: Codable, Sendable, Equatable {
  public var major: String
  public var minor: String
  public var gitVersion: String
  public var gitCommit: String?
  public var platform: String?
  public var goVersion: String?
}

/// `metav1.Status`: every API error comes as one.
public struct APIStatus: Codable, Sendable, Equatable {
  public var status: String?
  public var message: String?
  public var reason: String?
  public var code: Int?
  public var details: Details?

  public struct Details: Codable, Sendable, Equatable {
    public var name: String?
    public var kind: String?
    public var causes: [Cause]?
  }
  public struct Cause: Codable, Sendable, Equatable {
    public var reason: String?
    public var message: String?
    public var field: String?
  }

  public init(status: String? = "Failure", message: String?, reason: String?, code: Int?) {
    self.status = status
    self.message = message
    self.reason = reason
    self.code = code
  }
}

/// What a SelfSubjectAccessReview asks about.
public struct ResourceAttributes: Codable, Sendable, Equatable {
  public var namespace: String?
  public var verb: String
  public var group: String
  public var resource: String
  public var subresource: String?
  public var name: String?

  public init(
    namespace: String?, verb: String, group: String = "", resource: String, subresource: String? = nil,
    name: String? = nil
  ) {
    self.namespace = namespace
    self.verb = verb
    self.group = group
    self.resource = resource
    self.subresource = subresource
    self.name = name
  }
}

public struct AccessReviewResult: Codable, Sendable, Equatable {
  public var allowed: Bool
  public var denied: Bool?
  public var reason: String?
  public var evaluationError: String?
}

public enum WatchEventType: String, Codable, Sendable {
  case added = "ADDED"
  case modified = "MODIFIED"
  case deleted = "DELETED"
  case bookmark = "BOOKMARK"
  case error = "ERROR"
}

/// An object a watch can carry. A BOOKMARK's object is the resource's zero value with only metadata
/// set (`resourceVersion`, and for the end of the initial events the `k8s.io/initial-events-end`
/// annotation): watch decoding reads that metadata alone and builds the event's object from it, never
/// decoding a bookmark as a full object.
public protocol WatchableObject: Decodable, Sendable {
  init(bookmark metadata: ObjectMeta)
}

extension Pod: WatchableObject {
  public init(bookmark metadata: ObjectMeta) {
    self.metadata = metadata
    self.spec = nil
  }
}

public struct WatchEvent<Object: Sendable>: Sendable {
  public var type: WatchEventType
  public var object: Object
  public init(type: WatchEventType, object: Object) {
    self.type = type
    self.object = object
  }
}
extension WatchEvent: Equatable where Object: Equatable {}

/// A core/v1 Event: what the scheduler and the kubelet say about an object.
public struct Event: Codable, Sendable, Equatable {
  public var metadata: ObjectMeta
  public var type: String?
  public var reason: String?
  public var message: String?
  public var count: Int?
  public var firstTimestamp: String?
  public var lastTimestamp: String?
  public var eventTime: String?
}

public struct EventList: Codable, Sendable {
  public var items: [Event]
}
