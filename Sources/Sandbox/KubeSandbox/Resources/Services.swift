import Foundation
import SandboxNetwork

/// core/v1 Services, read-only: the sandbox has no kube-proxy or endpoints controller, so a Service
/// is only the record of an address the cluster network already serves. They exist so that clients
/// which list Services (the plugin's completion of targets, `kubectl get svc`) see what a cluster shows.
enum Services {
  static let definition: ResourceDefinition = {
    var definition = ResourceDefinition(
      resource: "services", kind: "Service", namespaced: true,
      selectableFields: ["metadata.name", "metadata.namespace", "spec.type", "spec.clusterIP"],
      fieldValues: { service in
        var fields = ResourceDefinition.commonFields(service, namespaced: true)
        fields["spec.type"] = service["spec"]?["type"]?.stringValue ?? ""
        fields["spec.clusterIP"] = service["spec"]?["clusterIP"]?.stringValue ?? ""
        return fields
      },
      // Never reached: read-only resources refuse writes before these run; Seed writes the store directly.
      prepareForCreate: { (_: inout JSONValue) throws(StatusError) in throw .methodNotAllowed },
      validateUpdate: { (_: JSONValue, _: inout JSONValue) throws(StatusError) in throw .methodNotAllowed },
      gracePeriod: { _, _ in nil },
      table: table)
    definition.readOnly = true
    return definition
  }()

  /// kube's `printService` columns.
  static let table = TableDefinition(
    columns: [
      TableDefinition.nameColumn,
      .init(name: "Type", description: "type determines how the Service is exposed."),
      .init(name: "Cluster-IP", description: "clusterIP is the IP address of the service."),
      .init(name: "External-IP", description: "List of IP addresses for which nodes in the cluster will also accept traffic for this service."),
      .init(name: "Port(s)", description: "The list of ports that are exposed by this service."),
      TableDefinition.ageColumn,
      .init(name: "Selector", description: "Route service traffic to pods with label keys and values matching this selector.", priority: 1),
    ],
    cells: { service, now in
      let ports = (service["spec"]?["ports"]?.arrayValue ?? []).map { port in
        "\(port["port"]?.intValue ?? 0)/\(port["protocol"]?.stringValue ?? "TCP")"
      }
      return [
        TableDefinition.name(service), service["spec"]?["type"] ?? "ClusterIP", service["spec"]?["clusterIP"] ?? "None",
        "<none>", .string(ports.isEmpty ? "<none>" : ports.joined(separator: ",")), TableDefinition.age(service, now: now),
        "<none>",
      ]
    })

  /// One Service object.
  static func newObject(name: String, namespace: String, clusterIP: String, port: Int64, protocol: String, portName: String? = nil)
    -> JSONValue
  {
    var servicePort: JSONValue = ["port": .int(port), "protocol": .string(`protocol`), "targetPort": .int(port)]
    if let portName { servicePort["name"] = .string(portName) }
    return [
      "kind": "Service", "apiVersion": "v1",
      "metadata": [
        "name": .string(name), "namespace": .string(namespace), "uid": .string(Metadata.newUID()),
        "creationTimestamp": .string(Metadata.timestamp()),
      ],
      "spec": [
        "type": "ClusterIP", "clusterIP": .string(clusterIP), "clusterIPs": [.string(clusterIP)],
        "ipFamilies": ["IPv4"], "ports": [servicePort], "sessionAffinity": "None",
      ],
      "status": ["loadBalancer": [:]],
    ]
  }

  /// `kubernetes` in `default` (the API server's own Service) and one Service per seeded service that
  /// has a Service name (`NAME.NAMESPACE.svc.cluster.local`); the others (internal-service.cluster.local,
  /// the "external" database) are DNS names only, as they would be in a real cluster.
  static var seeded: [JSONValue] {
    var objects = [
      newObject(name: "kubernetes", namespace: "default", clusterIP: "10.96.0.1", port: 443, protocol: "TCP", portName: "https")
    ]
    for service in ClusterAddressing.seededServices where service.placement == .services {
      let labels = service.hostname.split(separator: ".").map(String.init)
      guard labels.count == 5, labels[2...] == ["svc", "cluster", "local"] else { continue }
      objects.append(
        newObject(
          name: labels[0], namespace: labels[1], clusterIP: service.ipv4, port: Int64(service.port),
          protocol: service.behavior == .udpEcho ? "UDP" : "TCP"))
    }
    return objects
  }
}
