import Foundation

/// A core/v1 Service, as far as the plugin reads one: its name, namespace and ports (to suggest
/// `NAME.NAMESPACE.svc.cluster.local:PORT` targets).
public struct Service: Codable, Sendable, Equatable {
  public var metadata: ObjectMeta
  public var spec: ServiceSpec?

  /// The in-cluster DNS name of the Service (`NAME.NAMESPACE.svc.cluster.local`), given the cluster
  /// domain; nil for an object without a name or namespace.
  public func dnsName(clusterDomain: String = "cluster.local") -> String? {
    guard let name = metadata.name, let namespace = metadata.namespace else { return nil }
    return "\(name).\(namespace).svc.\(clusterDomain)"
  }
}

public struct ServiceSpec: Codable, Sendable, Equatable {
  public var type: String?
  public var clusterIP: String?
  public var ports: [ServicePort]?
}

public struct ServicePort: Codable, Sendable, Equatable {
  public var name: String?
  public var port: Int
  /// TCP (the default when absent), UDP or SCTP.
  public var `protocol`: String?
}

public struct ServiceList: Codable, Sendable, Equatable {
  public var metadata: ListMeta?
  public var items: [Service]
}

extension KubeAPI {
  /// Lists Services in one namespace, or in all when `namespace` is nil (`kubectl get services`).
  public func listServices(namespace: String?) async throws(KubeError) -> ServiceList {
    let path = namespace.map { APIPath("/api/v1/namespaces/\(APIPath.segment($0))/services") } ?? APIPath("/api/v1/services")
    return try await call("GET", path, as: ServiceList.self, what: "service list")
  }
}
