/// Namespaces: cluster-scoped; deletion is two-phase as in kube (`Terminating` until the pods in it are
/// gone, which `ResourceAPI` finishes).
enum Namespaces {
  /// kube-apiserver refuses to delete these (`NamespaceLifecycle` admission).
  static let immortal: Set<String> = ["default", "kube-system", "kube-public"]

  static func newObject(name: String, labels: JSONValue) -> JSONValue {
    [
      "kind": "Namespace", "apiVersion": "v1",
      "metadata": [
        "name": .string(name), "uid": .string(Metadata.newUID()),
        "creationTimestamp": .string(Metadata.timestamp()), "labels": labels,
      ],
      "spec": ["finalizers": ["kubernetes"]],
      "status": ["phase": "Active"],
    ]
  }

  static let definition = ResourceDefinition(
    resource: "namespaces", kind: "Namespace", namespaced: false,
    selectableFields: ["metadata.name", "status.phase"],
    fieldValues: { namespace in
      var fields = ResourceDefinition.commonFields(namespace, namespaced: false)
      fields["status.phase"] = namespace["status"]?["phase"]?.stringValue ?? ""
      return fields
    },
    prepareForCreate: { (namespace: inout JSONValue) throws(StatusError) in
      let name = namespace["metadata"]?["name"]?.stringValue ?? ""
      var errors: [FieldError] = []
      if name.isEmpty {
        errors.append(.required("metadata.name", "name or generateName is required"))
      } else {
        errors += Validation.labelErrors(name, field: "metadata.name")
      }
      errors += Validation.labelsErrors(namespace["metadata"]?["labels"], field: "metadata.labels")
      if !errors.isEmpty { throw .invalid(kind: "Namespace", name: name, errors: errors) }
      // The NamespaceDefaultLabelName feature: the name is always a label.
      namespace.set("metadata", "labels", "kubernetes.io/metadata.name", to: .string(name))
      if namespace["spec"]?["finalizers"] == nil { namespace["spec"] = ["finalizers": ["kubernetes"]] }
      namespace["status"] = ["phase": "Active"]
    },
    validateUpdate: { (_: JSONValue, new: inout JSONValue) throws(StatusError) in
      let name = new["metadata"]?["name"]?.stringValue ?? ""
      new.set("metadata", "labels", "kubernetes.io/metadata.name", to: .string(name))
      let errors = Validation.labelsErrors(new["metadata"]?["labels"], field: "metadata.labels")
      if !errors.isEmpty { throw .invalid(kind: "Namespace", name: name, errors: errors) }
    },
    gracePeriod: { _, _ in nil },
    table: TableDefinition(
      columns: [
        TableDefinition.nameColumn,
        .init(name: "Status", description: "The status of the namespace"),
        TableDefinition.ageColumn,
      ],
      cells: { namespace, now in
        [
          TableDefinition.name(namespace), namespace["status"]?["phase"] ?? "Active",
          TableDefinition.age(namespace, now: now),
        ]
      }))
}

/// Nodes: what a node agent registers and updates (cluster-scoped; `nodes/status` for conditions).
enum Nodes {
  static let definition = ResourceDefinition(
    resource: "nodes", kind: "Node", namespaced: false,
    selectableFields: ["metadata.name", "spec.unschedulable"],
    fieldValues: { node in
      var fields = ResourceDefinition.commonFields(node, namespaced: false)
      fields["spec.unschedulable"] = (node["spec"]?["unschedulable"]?.boolValue ?? false) ? "true" : "false"
      return fields
    },
    prepareForCreate: { (node: inout JSONValue) throws(StatusError) in
      let name = node["metadata"]?["name"]?.stringValue ?? ""
      var errors: [FieldError] = []
      if name.isEmpty {
        errors.append(.required("metadata.name", "name or generateName is required"))
      } else {
        errors += Validation.subdomainErrors(name, field: "metadata.name")
      }
      errors += Validation.labelsErrors(node["metadata"]?["labels"], field: "metadata.labels")
      if !errors.isEmpty { throw .invalid(kind: "Node", name: name, errors: errors) }
      if node["spec"] == nil { node["spec"] = [:] }
      if node["status"] == nil { node["status"] = [:] }
      // TaintNodesByCondition admission: a new Node is not ready until the node lifecycle controller
      // sees its Ready condition (`NodeLifecycleController`).
      var taints = node["spec"]?["taints"]?.arrayValue ?? []
      if !taints.contains(where: { $0["key"]?.stringValue == NodeLifecycleController.notReady && $0["effect"] == "NoSchedule" }) {
        taints.append(["key": .string(NodeLifecycleController.notReady), "effect": "NoSchedule"])
        node.set("spec", "taints", to: .array(taints))
      }
    },
    validateUpdate: { (_: JSONValue, new: inout JSONValue) throws(StatusError) in
      let name = new["metadata"]?["name"]?.stringValue ?? ""
      let errors = Validation.labelsErrors(new["metadata"]?["labels"], field: "metadata.labels")
      if !errors.isEmpty { throw .invalid(kind: "Node", name: name, errors: errors) }
    },
    gracePeriod: { _, _ in nil },
    table: TableDefinition(
      columns: [
        TableDefinition.nameColumn,
        .init(name: "Status", description: "The status of the node"),
        .init(name: "Roles", description: "The roles of the node"),
        TableDefinition.ageColumn,
        .init(name: "Version", description: "Kubelet Version reported by the node."),
        .init(name: "Internal-IP", description: "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses", priority: 1),
        .init(name: "External-IP", description: "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses", priority: 1),
        .init(name: "OS-Image", description: "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", priority: 1),
        .init(name: "Kernel-Version", description: "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", priority: 1),
        .init(name: "Container-Runtime", description: "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).", priority: 1),
      ],
      cells: { node, now in
        let conditions = node["status"]?["conditions"]?.arrayValue ?? []
        let readyCondition = conditions.first { $0["type"] == "Ready" }
        var status = readyCondition.map { $0["status"] == "True" ? "Ready" : "NotReady" } ?? "Unknown"
        if node["spec"]?["unschedulable"]?.boolValue == true { status += ",SchedulingDisabled" }
        let labels = node["metadata"]?["labels"]?.objectValue ?? [:]
        let roles = labels.keys.compactMap { key -> String? in
          key.hasPrefix("node-role.kubernetes.io/") ? String(key.dropFirst("node-role.kubernetes.io/".count)) : nil
        }.sorted()
        let addresses = node["status"]?["addresses"]?.arrayValue ?? []
        func address(_ type: String) -> String {
          addresses.first { $0["type"]?.stringValue == type }?["address"]?.stringValue ?? "<none>"
        }
        let info = node["status"]?["nodeInfo"] ?? [:]
        func infoField(_ key: String) -> String {
          let value = info[key]?.stringValue ?? ""
          return value.isEmpty ? "<unknown>" : value
        }
        return [
          TableDefinition.name(node), .string(status), .string(roles.isEmpty ? "<none>" : roles.joined(separator: ",")),
          TableDefinition.age(node, now: now), .string(info["kubeletVersion"]?.stringValue ?? ""),
          .string(address("InternalIP")), .string(address("ExternalIP")), .string(infoField("osImage")),
          .string(infoField("kernelVersion")), .string(infoField("containerRuntimeVersion")),
        ]
      }))
}
