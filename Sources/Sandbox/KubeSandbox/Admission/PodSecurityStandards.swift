/// The Pod Security Standards as the `pod-security-admission` library evaluates them (policy version
/// "latest", v1.32): each check yields at most one violation, a short reason plus a detail naming the
/// pod fields or containers at fault, in the library's wording, so a rejection reads exactly as a real
/// cluster's.
///
/// Not evaluated (no pod of this project or its tests can set them meaningfully here): AppArmor profiles,
/// SELinux options and Windows host-process containers. Say so rather than pretend.
public enum PodSecurityLevel: String, Sendable, Comparable {
  case privileged, baseline, restricted

  public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
  private var rank: Int {
    switch self {
    case .privileged: 0
    case .baseline: 1
    case .restricted: 2
    }
  }
}

/// One failed check: `reason (detail)` in the admission message.
public struct PodSecurityViolation: Sendable, Equatable, CustomStringConvertible {
  public var reason: String
  public var detail: String?

  public var description: String { detail.map { "\(reason) (\($0))" } ?? reason }
}

public enum PodSecurityStandards {
  /// Violations of `level` by `pod` (a v1 Pod as JSON), baseline checks first, then the restricted ones,
  /// each group in the library's check-ID order, as `policy.checkRegistry` evaluates them.
  public static func violations(of pod: JSONValue, level: PodSecurityLevel) -> [PodSecurityViolation] {
    guard level != .privileged else { return [] }
    let spec = PodView(pod)
    var baseline: [PodSecurityViolation?] = []
    // capabilities_baseline and seccompProfile_baseline are overridden by their restricted versions.
    if level == .baseline { baseline.append(nonDefaultCapabilities(spec)) }
    baseline += [hostNamespaces(spec), hostPathVolumes(spec), hostPorts(spec), privileged(spec), procMount(spec)]
    if level == .baseline { baseline.append(seccompBaseline(spec)) }
    baseline.append(sysctls(spec))
    guard level == .restricted else { return baseline.compactMap { $0 } }
    let restricted = [
      allowPrivilegeEscalation(spec), unrestrictedCapabilities(spec), restrictedVolumes(spec), runAsNonRoot(spec),
      runAsUser(spec), seccompRestricted(spec),
    ]
    return (baseline + restricted).compactMap { $0 }
  }

  // MARK: Baseline

  static let baselineCapabilities: Set<String> = [
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP",
    "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
  ]

  static func nonDefaultCapabilities(_ pod: PodView) -> PodSecurityViolation? {
    var names: [String] = []
    var capabilities: [String] = []
    for container in pod.containers {
      let bad = container.addedCapabilities.filter { !baselineCapabilities.contains($0) }
      guard !bad.isEmpty else { continue }
      names.append(container.name)
      for capability in bad where !capabilities.contains(capability) { capabilities.append(capability) }
    }
    guard !names.isEmpty else { return nil }
    return PodSecurityViolation(
      reason: "non-default capabilities",
      detail: "\(containers(names)) must not include \(quoted(capabilities)) in securityContext.capabilities.add")
  }

  static func hostNamespaces(_ pod: PodView) -> PodSecurityViolation? {
    let set = ["hostNetwork", "hostPID", "hostIPC"].filter { pod.spec[$0]?.boolValue == true }
    guard !set.isEmpty else { return nil }
    return PodSecurityViolation(reason: "host namespaces", detail: set.map { "\($0)=true" }.joined(separator: ", "))
  }

  static func hostPathVolumes(_ pod: PodView) -> PodSecurityViolation? {
    let names = pod.volumes.filter { $0.type == "hostPath" }.map(\.name)
    guard !names.isEmpty else { return nil }
    return PodSecurityViolation(
      reason: "hostPath volumes", detail: "\(plural("volume", "volumes", names.count)) \(quoted(names))")
  }

  static func hostPorts(_ pod: PodView) -> PodSecurityViolation? {
    var names: [String] = []
    var ports: [String] = []
    for container in pod.containers {
      let used = (container.object["ports"]?.arrayValue ?? []).compactMap { $0["hostPort"]?.intValue }.filter { $0 != 0 }
      guard !used.isEmpty else { continue }
      names.append(container.name)
      for port in used.map(String.init) where !ports.contains(port) { ports.append(port) }
    }
    guard !names.isEmpty else { return nil }
    let verb = names.count == 1 ? "uses" : "use"
    return PodSecurityViolation(
      reason: "hostPort",
      detail: "\(containers(names)) \(verb) \(plural("hostPort", "hostPorts", ports.count)) \(ports.joined(separator: ", "))")
  }

  static func privileged(_ pod: PodView) -> PodSecurityViolation? {
    let names = pod.containers.filter { $0.securityContext["privileged"]?.boolValue == true }.map(\.name)
    guard !names.isEmpty else { return nil }
    return PodSecurityViolation(
      reason: "privileged", detail: "\(containers(names)) must not set securityContext.privileged=true")
  }

  static func procMount(_ pod: PodView) -> PodSecurityViolation? {
    var names: [String] = []
    var mounts: [String] = []
    for container in pod.containers {
      guard let mount = container.securityContext["procMount"]?.stringValue, mount != "Default" else { continue }
      names.append(container.name)
      if !mounts.contains(mount) { mounts.append(mount) }
    }
    guard !names.isEmpty else { return nil }
    return PodSecurityViolation(
      reason: "procMount", detail: "\(containers(names)) must not set securityContext.procMount to \(quoted(mounts))")
  }

  static func seccompBaseline(_ pod: PodView) -> PodSecurityViolation? {
    var details: [String] = []
    if pod.securityContext["seccompProfile"]?["type"]?.stringValue == "Unconfined" {
      details.append("pod must not set securityContext.seccompProfile.type to \"Unconfined\"")
    }
    let names = pod.containers.filter { $0.securityContext["seccompProfile"]?["type"]?.stringValue == "Unconfined" }
      .map(\.name)
    if !names.isEmpty {
      details.append("\(containers(names)) must not set securityContext.seccompProfile.type to \"Unconfined\"")
    }
    guard !details.isEmpty else { return nil }
    return PodSecurityViolation(reason: "seccompProfile", detail: details.joined(separator: "; "))
  }

  static let allowedSysctls: Set<String> = [
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
  ]

  static func sysctls(_ pod: PodView) -> PodSecurityViolation? {
    let names = (pod.securityContext["sysctls"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
      .filter { !allowedSysctls.contains($0) }
    guard !names.isEmpty else { return nil }
    return PodSecurityViolation(reason: "forbidden sysctls", detail: names.joined(separator: ", "))
  }

  // MARK: Restricted

  static func allowPrivilegeEscalation(_ pod: PodView) -> PodSecurityViolation? {
    let names = pod.containers.filter { $0.securityContext["allowPrivilegeEscalation"]?.boolValue != false }.map(\.name)
    guard !names.isEmpty else { return nil }
    return PodSecurityViolation(
      reason: "allowPrivilegeEscalation != false",
      detail: "\(containers(names)) must set securityContext.allowPrivilegeEscalation=false")
  }

  static func unrestrictedCapabilities(_ pod: PodView) -> PodSecurityViolation? {
    var notDropping: [String] = []
    var adding: [String] = []
    var added: [String] = []
    for container in pod.containers {
      let drop = (container.securityContext["capabilities"]?["drop"]?.arrayValue ?? []).compactMap(\.stringValue)
      if !drop.contains("ALL") { notDropping.append(container.name) }
      let bad = container.addedCapabilities.filter { $0 != "NET_BIND_SERVICE" }
      if !bad.isEmpty {
        adding.append(container.name)
        for capability in bad where !added.contains(capability) { added.append(capability) }
      }
    }
    var details: [String] = []
    if !notDropping.isEmpty { details.append("\(containers(notDropping)) must set securityContext.capabilities.drop=[\"ALL\"]") }
    if !adding.isEmpty {
      details.append("\(containers(adding)) must not include \(quoted(added)) in securityContext.capabilities.add")
    }
    guard !details.isEmpty else { return nil }
    return PodSecurityViolation(reason: "unrestricted capabilities", detail: details.joined(separator: "; "))
  }

  static let allowedVolumeTypes: Set<String> = [
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
  ]

  static func restrictedVolumes(_ pod: PodView) -> PodSecurityViolation? {
    var names: [String] = []
    var types: [String] = []
    for volume in pod.volumes where !allowedVolumeTypes.contains(volume.type) {
      names.append(volume.name)
      if !types.contains(volume.type) { types.append(volume.type) }
    }
    guard !names.isEmpty else { return nil }
    let verb = names.count == 1 ? "uses" : "use"
    return PodSecurityViolation(
      reason: "restricted volume types",
      detail: "\(plural("volume", "volumes", names.count)) \(quoted(names)) \(verb) "
        + "\(plural("restricted volume type", "restricted volume types", types.count)) \(quoted(types))")
  }

  static func runAsNonRoot(_ pod: PodView) -> PodSecurityViolation? {
    let podValue = pod.securityContext["runAsNonRoot"]?.boolValue
    var details: [String] = []
    if podValue == false { details.append("pod must not set securityContext.runAsNonRoot=false") }
    let explicitFalse = pod.containers.filter { $0.securityContext["runAsNonRoot"]?.boolValue == false }.map(\.name)
    if !explicitFalse.isEmpty {
      details.append("\(containers(explicitFalse)) must not set securityContext.runAsNonRoot=false")
    }
    if podValue != true {
      let unset = pod.containers.filter { $0.securityContext["runAsNonRoot"]?.boolValue == nil }.map(\.name)
      if !unset.isEmpty { details.append("pod or \(containers(unset)) must set securityContext.runAsNonRoot=true") }
    }
    guard !details.isEmpty else { return nil }
    return PodSecurityViolation(reason: "runAsNonRoot != true", detail: details.joined(separator: "; "))
  }

  static func runAsUser(_ pod: PodView) -> PodSecurityViolation? {
    var details: [String] = []
    if pod.securityContext["runAsUser"]?.intValue == 0 { details.append("pod must not set runAsUser=0") }
    let names = pod.containers.filter { $0.securityContext["runAsUser"]?.intValue == 0 }.map(\.name)
    if !names.isEmpty { details.append("\(containers(names)) must not set runAsUser=0") }
    guard !details.isEmpty else { return nil }
    return PodSecurityViolation(reason: "runAsUser=0", detail: details.joined(separator: "; "))
  }

  static func seccompRestricted(_ pod: PodView) -> PodSecurityViolation? {
    let allowed: Set<String> = ["RuntimeDefault", "Localhost"]
    var details: [String] = []
    let podType = pod.securityContext["seccompProfile"]?["type"]?.stringValue
    if let podType, !allowed.contains(podType) {
      details.append("pod must not set securityContext.seccompProfile.type to \(quoted([podType]))")
    }
    var badNames: [String] = []
    var badTypes: [String] = []
    var unset: [String] = []
    for container in pod.containers {
      if let type = container.securityContext["seccompProfile"]?["type"]?.stringValue {
        if !allowed.contains(type) {
          badNames.append(container.name)
          if !badTypes.contains(type) { badTypes.append(type) }
        }
      } else if podType == nil {
        unset.append(container.name)
      }
    }
    if !badNames.isEmpty {
      details.append("\(containers(badNames)) must not set securityContext.seccompProfile.type to \(quoted(badTypes))")
    }
    if !unset.isEmpty {
      details.append(
        "pod or \(containers(unset)) must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"")
    }
    guard !details.isEmpty else { return nil }
    return PodSecurityViolation(reason: "seccompProfile", detail: details.joined(separator: "; "))
  }

  // MARK: Wording

  static func plural(_ one: String, _ many: String, _ count: Int) -> String { count == 1 ? one : many }
  static func quoted(_ values: [String]) -> String { values.map { "\"\($0)\"" }.joined(separator: ", ") }
  static func containers(_ names: [String]) -> String {
    "\(plural("container", "containers", names.count)) \(quoted(names))"
  }
}

/// The parts of a pod the checks read, with init and ephemeral containers alongside the app containers
/// (the library checks all three, in that order).
struct PodView {
  struct ContainerView {
    var object: JSONValue
    var name: String { object["name"]?.stringValue ?? "" }
    var securityContext: JSONValue { object["securityContext"] ?? [:] }
    var addedCapabilities: [String] {
      (securityContext["capabilities"]?["add"]?.arrayValue ?? []).compactMap(\.stringValue)
    }
  }

  struct VolumeView {
    var name: String
    /// The volume source's field name (`hostPath`, `emptyDir`, ...).
    var type: String
  }

  let spec: JSONValue
  let containers: [ContainerView]
  let volumes: [VolumeView]
  var securityContext: JSONValue { spec["securityContext"] ?? [:] }

  init(_ pod: JSONValue) {
    let spec = pod["spec"] ?? [:]
    self.spec = spec
    containers = ["initContainers", "containers", "ephemeralContainers"].flatMap {
      (spec[$0]?.arrayValue ?? []).map { ContainerView(object: $0) }
    }
    volumes = (spec["volumes"]?.arrayValue ?? []).map { volume in
      let source = volume.objectValue?.keys.filter { $0 != "name" }.sorted().first ?? ""
      return VolumeView(name: volume["name"]?.stringValue ?? "", type: source)
    }
  }
}
