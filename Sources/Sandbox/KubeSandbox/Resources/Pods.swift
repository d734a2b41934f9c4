import Foundation

/// Pods: defaulting (`pkg/apis/core/v1/defaults.go` plus the default admission plugins that touch every
/// pod: DefaultTolerationSeconds, Priority, ServiceAccount), validation (the `ValidatePodCreate` checks the plugin and
/// the node agent can hit), field selectors, printing, and delete grace.
enum Pods {
  static let definition = ResourceDefinition(
    resource: "pods", kind: "Pod", namespaced: true,
    selectableFields: [
      "metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
      "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName",
    ],
    fieldValues: fieldValues,
    prepareForCreate: { (pod: inout JSONValue) throws(StatusError) in
      applyDefaults(&pod)
      try validateCreate(pod)
    },
    validateUpdate: { (old: JSONValue, new: inout JSONValue) throws(StatusError) in
      applySchemeDefaults(&new)
      // Priority admission on update: keep what it set at creation when the update leaves it out.
      for key in ["priority", "preemptionPolicy"] where new["spec"]?[key] == nil {
        new.set("spec", key, to: old["spec"]?[key])
      }
      try validateUpdate(old: old, new: new)
    },
    gracePeriod: gracePeriod,
    table: table)

  static func fieldValues(_ pod: JSONValue) -> [String: String] {
    var fields = ResourceDefinition.commonFields(pod, namespaced: true)
    let spec = pod["spec"]
    let status = pod["status"]
    fields["spec.nodeName"] = spec?["nodeName"]?.stringValue ?? ""
    fields["spec.restartPolicy"] = spec?["restartPolicy"]?.stringValue ?? ""
    fields["spec.schedulerName"] = spec?["schedulerName"]?.stringValue ?? ""
    fields["spec.serviceAccountName"] = spec?["serviceAccountName"]?.stringValue ?? ""
    fields["spec.hostNetwork"] = (spec?["hostNetwork"]?.boolValue ?? false) ? "true" : "false"
    fields["status.phase"] = status?["phase"]?.stringValue ?? ""
    fields["status.podIP"] = status?["podIP"]?.stringValue ?? ""
    fields["status.nominatedNodeName"] = status?["nominatedNodeName"]?.stringValue ?? ""
    return fields
  }

  // MARK: - Defaulting

  /// The scheme defaults, which kube applies whenever it decodes a pod (create and update).
  static func applySchemeDefaults(_ pod: inout JSONValue) {
    var spec = pod["spec"] ?? [:]
    func setDefault(_ key: String, _ value: JSONValue) { if spec[key] == nil { spec[key] = value } }
    setDefault("restartPolicy", "Always")
    setDefault("dnsPolicy", "ClusterFirst")
    setDefault("terminationGracePeriodSeconds", 30)
    setDefault("schedulerName", "default-scheduler")
    setDefault("enableServiceLinks", true)
    setDefault("securityContext", [:])
    if spec["serviceAccountName"] == nil, let legacy = spec["serviceAccount"] { spec["serviceAccountName"] = legacy }
    for key in ["containers", "initContainers"] {
      guard let containers = spec[key]?.arrayValue else { continue }
      spec[key] = .array(containers.map(defaultedContainer))
    }
    pod["spec"] = spec
  }

  /// Scheme defaults plus what the default admission plugins add to a new pod.
  static func applyDefaults(_ pod: inout JSONValue) {
    applySchemeDefaults(&pod)
    var spec = pod["spec"] ?? [:]
    func setDefault(_ key: String, _ value: JSONValue) { if spec[key] == nil { spec[key] = value } }
    // Priority admission: no priorityClassName → priority 0 and the default preemption policy.
    setDefault("priority", 0)
    setDefault("preemptionPolicy", "PreemptLowerPriority")
    // DefaultTolerationSeconds admission: tolerate not-ready/unreachable nodes for 300 s unless the pod
    // already tolerates them.
    var tolerations = spec["tolerations"]?.arrayValue ?? []
    for taint in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
      let tolerated = tolerations.contains { toleration in
        let key = toleration["key"]?.stringValue
        let effect = toleration["effect"]?.stringValue ?? ""
        return (key == taint || (key == nil && toleration["operator"]?.stringValue == "Exists"))
          && (effect.isEmpty || effect == "NoExecute")
      }
      if !tolerated {
        tolerations.append(
          ["key": .string(taint), "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300])
      }
    }
    spec["tolerations"] = .array(tolerations)
    pod["spec"] = spec
    ServiceAccountAdmission.admit(&pod)

    // `podStrategy.PrepareForCreate`: whatever status a client sends, a new pod is Pending.
    pod["status"] = ["phase": "Pending", "qosClass": .string(qosClass(spec))]
  }

  static func defaultedContainer(_ container: JSONValue) -> JSONValue {
    var container = container
    if container["terminationMessagePath"] == nil { container["terminationMessagePath"] = "/dev/termination-log" }
    if container["terminationMessagePolicy"] == nil { container["terminationMessagePolicy"] = "File" }
    if container["imagePullPolicy"] == nil, let image = container["image"]?.stringValue {
      container["imagePullPolicy"] = .string(defaultPullPolicy(image: image))
    }
    var resources = container["resources"] ?? [:]
    // Requests default to limits where only limits are given.
    if let limits = resources["limits"]?.objectValue {
      var requests = resources["requests"]?.objectValue ?? [:]
      for (name, value) in limits where requests[name] == nil { requests[name] = value }
      resources["requests"] = .object(requests)
    }
    container["resources"] = resources
    if let ports = container["ports"]?.arrayValue {
      container["ports"] = .array(
        ports.map { port in
          var port = port
          if port["protocol"] == nil { port["protocol"] = "TCP" }
          return port
        })
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
      guard var value = container[probe], value.objectValue != nil else { continue }
      if value["timeoutSeconds"] == nil { value["timeoutSeconds"] = 1 }
      if value["periodSeconds"] == nil { value["periodSeconds"] = 10 }
      if value["successThreshold"] == nil { value["successThreshold"] = 1 }
      if value["failureThreshold"] == nil { value["failureThreshold"] = 3 }
      container[probe] = value
    }
    return container
  }

  /// `Always` for `:latest` or an untagged image (a digest counts as a tag), else `IfNotPresent`.
  static func defaultPullPolicy(image: String) -> String {
    if image.contains("@") { return "IfNotPresent" }
    let lastComponent = image.split(separator: "/").last.map(String.init) ?? image
    guard let colon = lastComponent.lastIndex(of: ":") else { return "Always" }
    return lastComponent[lastComponent.index(after: colon)...] == "latest" ? "Always" : "IfNotPresent"
  }

  /// `qos.GetPodQOS`: BestEffort without any request or limit; Guaranteed when every container limits
  /// cpu and memory with requests equal to limits; Burstable otherwise.
  static func qosClass(_ spec: JSONValue) -> String {
    let containers = (spec["containers"]?.arrayValue ?? []) + (spec["initContainers"]?.arrayValue ?? [])
    var anySet = false
    var guaranteed = !containers.isEmpty
    for container in containers {
      let requests = container["resources"]?["requests"]?.objectValue ?? [:]
      let limits = container["resources"]?["limits"]?.objectValue ?? [:]
      if !requests.isEmpty || !limits.isEmpty { anySet = true }
      for resource in ["cpu", "memory"] {
        guard let limit = limits[resource], requests[resource] == nil || requests[resource] == limit else {
          guaranteed = false
          continue
        }
      }
    }
    if !anySet { return "BestEffort" }
    return guaranteed ? "Guaranteed" : "Burstable"
  }

  // MARK: - Validation

  static func validateCreate(_ pod: JSONValue) throws(StatusError) {
    let name = pod["metadata"]?["name"]?.stringValue ?? ""
    var errors: [FieldError] = []
    if name.isEmpty {
      errors.append(.required("metadata.name", "name or generateName is required"))
    } else {
      errors += Validation.subdomainErrors(name, field: "metadata.name")
    }
    errors += Validation.labelsErrors(pod["metadata"]?["labels"], field: "metadata.labels")
    errors += specErrors(pod["spec"] ?? [:])
    if !errors.isEmpty { throw .invalid(kind: "Pod", name: name, errors: errors) }
  }

  static func specErrors(_ spec: JSONValue) -> [FieldError] {
    var errors: [FieldError] = []
    var names = Set<String>()
    let containers = spec["containers"]?.arrayValue ?? []
    if containers.isEmpty { errors.append(.required("spec.containers")) }
    for (list, key) in [(containers, "containers"), (spec["initContainers"]?.arrayValue ?? [], "initContainers")] {
      for (index, container) in list.enumerated() {
        let path = "spec.\(key)[\(index)]"
        let containerName = container["name"]?.stringValue ?? ""
        if containerName.isEmpty {
          errors.append(.required("\(path).name"))
        } else {
          errors += Validation.labelErrors(containerName, field: "\(path).name")
          if !names.insert(containerName).inserted {
            errors.append(.duplicate("\(path).name", value: .string(containerName)))
          }
        }
        if (container["image"]?.stringValue ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
          errors.append(.required("\(path).image"))
        }
        if let policy = container["imagePullPolicy"]?.stringValue,
          !["Always", "IfNotPresent", "Never"].contains(policy)
        {
          errors.append(
            .notSupported("\(path).imagePullPolicy", value: .string(policy), supported: ["Always", "IfNotPresent", "Never"]))
        }
        for (portIndex, port) in (container["ports"]?.arrayValue ?? []).enumerated() {
          let portPath = "\(path).ports[\(portIndex)]"
          if let number = port["containerPort"]?.intValue {
            if !(1...65535).contains(number) {
              errors.append(.invalid("\(portPath).containerPort", value: .int(number), "must be between 1 and 65535, inclusive"))
            }
          } else {
            errors.append(.required("\(portPath).containerPort"))
          }
          if let proto = port["protocol"]?.stringValue, !["TCP", "UDP", "SCTP"].contains(proto) {
            errors.append(.notSupported("\(portPath).protocol", value: .string(proto), supported: ["SCTP", "TCP", "UDP"]))
          }
        }
      }
    }
    if let policy = spec["restartPolicy"]?.stringValue, !["Always", "OnFailure", "Never"].contains(policy) {
      errors.append(.notSupported("spec.restartPolicy", value: .string(policy), supported: ["Always", "OnFailure", "Never"]))
    }
    if let policy = spec["dnsPolicy"]?.stringValue,
      !["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"].contains(policy)
    {
      errors.append(
        .notSupported(
          "spec.dnsPolicy", value: .string(policy), supported: ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"]))
    }
    if let grace = spec["terminationGracePeriodSeconds"]?.intValue, grace < 0 {
      errors.append(.invalid("spec.terminationGracePeriodSeconds", value: .int(grace), "must be greater than or equal to 0"))
    }
    if let deadline = spec["activeDeadlineSeconds"]?.intValue, deadline < 1 {
      errors.append(.invalid("spec.activeDeadlineSeconds", value: .int(deadline), "must be between 1 and 2147483647, inclusive"))
    }
    return errors
  }

  /// Pod specs are immutable but for images, the active deadline, added tolerations and the grace period
  /// (`ValidatePodUpdate`).
  static func validateUpdate(old: JSONValue, new: JSONValue) throws(StatusError) {
    let name = new["metadata"]?["name"]?.stringValue ?? ""
    var errors = Validation.labelsErrors(new["metadata"]?["labels"], field: "metadata.labels")
    errors += specErrors(new["spec"] ?? [:])
    func mutableFieldsCleared(_ spec: JSONValue?) -> JSONValue {
      var spec = spec ?? [:]
      for key in ["containers", "initContainers"] {
        guard let containers = spec[key]?.arrayValue else { continue }
        spec[key] = .array(containers.map { var container = $0; container["image"] = nil; return container })
      }
      spec["activeDeadlineSeconds"] = nil
      spec["tolerations"] = nil
      spec["terminationGracePeriodSeconds"] = nil
      return spec
    }
    if mutableFieldsCleared(old["spec"]) != mutableFieldsCleared(new["spec"]) {
      errors.append(
        .forbidden(
          "spec",
          "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
        ))
    }
    let oldTolerations = old["spec"]?["tolerations"]?.arrayValue ?? []
    let newTolerations = new["spec"]?["tolerations"]?.arrayValue ?? []
    if !oldTolerations.allSatisfy(newTolerations.contains) {
      errors.append(.forbidden("spec.tolerations", "existing toleration can not be modified except its tolerationSeconds"))
    }
    if !errors.isEmpty { throw .invalid(kind: "Pod", name: name, errors: errors) }
  }

  // MARK: - Delete

  /// kube's `podStrategy.CheckGracefulDelete`: an unscheduled pod or one that already finished goes at
  /// once; otherwise the requested grace, else the pod's `terminationGracePeriodSeconds` (30).
  static func gracePeriod(_ pod: JSONValue, requested: Int64?) -> Int64? {
    let node = pod["spec"]?["nodeName"]?.stringValue ?? ""
    let phase = pod["status"]?["phase"]?.stringValue ?? ""
    if node.isEmpty || phase == "Succeeded" || phase == "Failed" { return nil }
    let grace = requested ?? pod["spec"]?["terminationGracePeriodSeconds"]?.intValue ?? 30
    return grace <= 0 ? nil : grace
  }

  // MARK: - Printing

  static let table = TableDefinition(
    columns: [
      TableDefinition.nameColumn,
      .init(name: "Ready", description: "The aggregate readiness state of this pod for accepting traffic."),
      .init(name: "Status", description: "The aggregate status of the containers in this pod."),
      .init(name: "Restarts", description: "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
      TableDefinition.ageColumn,
      .init(name: "IP", description: "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", priority: 1),
      .init(name: "Node", description: "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the node is considered assigned to the pod. This field cannot be set by the scheduler; it is set by the binding subresource.", priority: 1),
      .init(name: "Nominated Node", description: "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.", priority: 1),
      .init(name: "Readiness Gates", description: "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates", priority: 1),
    ],
    cells: { pod, now in
      let spec = pod["spec"] ?? [:]
      let status = pod["status"] ?? [:]
      let containers = spec["containers"]?.arrayValue ?? []
      let statuses = status["containerStatuses"]?.arrayValue ?? []
      var reason = status["phase"]?.stringValue ?? "Pending"
      if let statusReason = status["reason"]?.stringValue, !statusReason.isEmpty { reason = statusReason }
      var ready = 0
      var restarts: Int64 = 0
      var hasRunning = false
      for containerStatus in statuses.reversed() {
        restarts += containerStatus["restartCount"]?.intValue ?? 0
        let state = containerStatus["state"] ?? [:]
        if let waiting = state["waiting"]?["reason"]?.stringValue, !waiting.isEmpty {
          reason = waiting
        } else if let terminated = state["terminated"] {
          if let terminatedReason = terminated["reason"]?.stringValue, !terminatedReason.isEmpty {
            reason = terminatedReason
          } else if let signal = terminated["signal"]?.intValue, signal != 0 {
            reason = "Signal:\(signal)"
          } else {
            reason = "ExitCode:\(terminated["exitCode"]?.intValue ?? 0)"
          }
        } else if state["running"] != nil, containerStatus["ready"]?.boolValue == true {
          hasRunning = true
          ready += 1
        }
      }
      if reason == "Completed" && hasRunning { reason = "Running" }
      if pod["metadata"]?["deletionTimestamp"] != nil {
        reason = status["reason"]?.stringValue == "NodeLost" ? "Unknown" : "Terminating"
      }
      let podIP = status["podIP"]?.stringValue ?? ""
      let node = spec["nodeName"]?.stringValue ?? ""
      let nominated = status["nominatedNodeName"]?.stringValue ?? ""
      let gates = spec["readinessGates"]?.arrayValue ?? []
      return [
        TableDefinition.name(pod), .string("\(ready)/\(containers.count)"), .string(reason),
        .string(String(restarts)), TableDefinition.age(pod, now: now),
        .string(podIP.isEmpty ? "<none>" : podIP), .string(node.isEmpty ? "<none>" : node),
        .string(nominated.isEmpty ? "<none>" : nominated),
        .string(gates.isEmpty ? "<none>" : "0/\(gates.count)"),
      ]
    })

  // MARK: - Subresources without a node

  /// Resolves the container of a log request like `validateContainer` (`pkg/registry/core/pod/strategy.go`).
  static func logContainer(_ pod: JSONValue, requested: String?) throws(StatusError) -> String {
    let name = pod["metadata"]?["name"]?.stringValue ?? ""
    let containers = (pod["spec"]?["containers"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
    let initContainers = (pod["spec"]?["initContainers"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
    if let requested, !requested.isEmpty {
      guard containers.contains(requested) || initContainers.contains(requested) else {
        throw .badRequest("container \(requested) is not valid for pod \(name)")
      }
      return requested
    }
    if containers.count == 1 { return containers[0] }
    var message = "a container name must be specified for pod \(name), choose one of: [\(containers.joined(separator: " "))]"
    if !initContainers.isEmpty {
      message += " or one of the init containers: [\(initContainers.joined(separator: " "))]"
    }
    throw .badRequest(message)
  }
}
