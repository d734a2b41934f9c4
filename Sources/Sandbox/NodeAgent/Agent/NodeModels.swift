import Foundation
import KubeClient

// What a node agent reads and writes: its Node, and the Binding that puts a pod on it.

public struct Node: Codable, Sendable, Equatable {
  public var apiVersion: String? = "v1"
  public var kind: String? = "Node"
  public var metadata: ObjectMeta
  public var spec: NodeSpec?
  public var status: NodeStatus?

  public init(metadata: ObjectMeta, spec: NodeSpec? = NodeSpec(), status: NodeStatus? = nil) {
    self.metadata = metadata
    self.spec = spec
    self.status = status
  }
}

public struct NodeSpec: Codable, Sendable, Equatable {
  public var podCIDR: String?
  public var unschedulable: Bool?
  public var taints: [Taint]?
  public init() {}
}

public struct Taint: Codable, Sendable, Equatable {
  public var key: String
  public var value: String?
  public var effect: String

  /// `Taint.ToString`-like form the scheduler's messages use: `{key: value}`.
  var schedulerDescription: String { "{\(key): \(value ?? "")}" }

  /// `v1helper.TolerationsTolerateTaint` for one toleration.
  func isTolerated(by toleration: Toleration) -> Bool {
    if let effect = toleration.effect, !effect.isEmpty, effect != self.effect { return false }
    let op = toleration.operator ?? "Equal"
    let tolerationKey = toleration.key ?? ""
    if op == "Exists" { return tolerationKey.isEmpty || tolerationKey == key }
    return tolerationKey == key && (toleration.value ?? "") == (value ?? "")
  }
}

public struct NodeStatus: Codable, Sendable, Equatable {
  public var capacity: [String: String]?
  public var allocatable: [String: String]?
  public var conditions: [NodeCondition]?
  public var addresses: [NodeAddress]?
  public var daemonEndpoints: NodeDaemonEndpoints?
  public var nodeInfo: NodeSystemInfo?

  public init() {}
}

public struct NodeCondition: Codable, Sendable, Equatable {
  public var type: String
  public var status: String
  public var reason: String?
  public var message: String?
  public var lastHeartbeatTime: String?
  public var lastTransitionTime: String?

  public init(
    type: String, status: String, reason: String? = nil, message: String? = nil, lastHeartbeatTime: String? = nil,
    lastTransitionTime: String? = nil
  ) {
    self.type = type
    self.status = status
    self.reason = reason
    self.message = message
    self.lastHeartbeatTime = lastHeartbeatTime
    self.lastTransitionTime = lastTransitionTime
  }
}

public struct NodeAddress: Codable, Sendable, Equatable {
  public var type: String
  public var address: String
  public init(type: String, address: String) {
    self.type = type
    self.address = address
  }
}

public struct NodeDaemonEndpoints: Codable, Sendable, Equatable {
  public var kubeletEndpoint: DaemonEndpoint?
  public init(kubeletEndpoint: DaemonEndpoint?) { self.kubeletEndpoint = kubeletEndpoint }
}

public struct DaemonEndpoint: Codable, Sendable, Equatable {
  public var Port: Int
  public init(port: Int) { Port = port }
}

public struct NodeSystemInfo: Codable, Sendable, Equatable {
  public var machineID: String = ""
  public var systemUUID: String = ""
  public var bootID: String = ""
  public var kernelVersion: String = ""
  public var osImage: String = ""
  public var containerRuntimeVersion: String = ""
  public var kubeletVersion: String = ""
  public var kubeProxyVersion: String = ""
  public var operatingSystem: String = "linux"
  public var architecture: String = ""
  public init() {}
}

/// `pods/binding`: assigns a pod to a node, as a scheduler does.
public struct Binding: Codable, Sendable, Equatable {
  public var apiVersion = "v1"
  public var kind = "Binding"
  public var metadata: ObjectMeta
  public var target: ObjectReference

  public init(metadata: ObjectMeta, target: ObjectReference) {
    self.metadata = metadata
    self.target = target
  }
}

public struct ObjectReference: Codable, Sendable, Equatable {
  public var apiVersion: String?
  public var kind: String?
  public var name: String?
  public var namespace: String?
  public var uid: String?

  public init(apiVersion: String? = nil, kind: String? = nil, name: String? = nil, namespace: String? = nil) {
    self.apiVersion = apiVersion
    self.kind = kind
    self.name = name
    self.namespace = namespace
  }
}
