import KubeClient

/// The one busybox pod that runs the in-cluster probes. Pod Security `restricted` like the relay,
/// so it is admitted wherever the relay is; placed like the relay (node selector, tolerations), so
/// it probes from where the relay would dial; a deadline, so that it never outlives a lost run.
public struct DoctorPodManifest: Sendable {
  /// Pinned: busybox's `nslookup` and `nc` change behaviour between releases (1.29 broke short names).
  public static let defaultImage = "busybox:1.36.1"
  public static let componentName = "kftray-doctor"
  /// Every doctor pod of this plugin.
  public static let selector = "\(RelayLabels.name)=\(componentName),\(RelayLabels.managedBy)=\(RelayLabels.manager)"

  public var name: String
  public var namespace: String
  public var image: String
  public var script: ProbeScript
  public var owner: RelayOwner
  public var relay: RelayPodSettings
  public var pluginVersion: String

  public init(
    name: String, namespace: String, image: String = DoctorPodManifest.defaultImage, script: ProbeScript, owner: RelayOwner,
    relay: RelayPodSettings = RelayPodSettings(), pluginVersion: String = PluginVersion.current
  ) {
    self.name = name
    self.namespace = namespace
    self.image = image
    self.script = script
    self.owner = owner
    self.relay = relay
    self.pluginVersion = pluginVersion
  }

  public static func podName() -> String {
    var generator = SystemRandomNumberGenerator()
    return "kftray-doctor-" + RelayPodManifest.podName(using: &generator).dropFirst("kftray-relay-".count)
  }

  /// Long enough to start and run every probe, short enough that a forgotten pod goes soon.
  public var activeDeadlineSeconds: Int { 120 + script.budgetSeconds }

  public var pod: Pod {
    var container = Container(name: "doctor", image: image)
    container.command = ["sh", "-c", script.text]
    container.resources = ResourceRequirements(
      requests: ["cpu": "10m", "memory": "8Mi"], limits: ["cpu": "200m", "memory": "32Mi"])
    var security = SecurityContext()
    security.allowPrivilegeEscalation = false
    security.readOnlyRootFilesystem = true
    security.runAsNonRoot = true
    security.runAsUser = 65534
    security.runAsGroup = 65534
    security.capabilities = Capabilities(drop: ["ALL"])
    security.seccompProfile = SeccompProfile(type: "RuntimeDefault")
    container.securityContext = security
    var spec = PodSpec(containers: [container])
    spec.restartPolicy = "Never"
    spec.activeDeadlineSeconds = activeDeadlineSeconds
    spec.terminationGracePeriodSeconds = 0
    spec.automountServiceAccountToken = false
    spec.securityContext = PodSecurityContext(
      runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: SeccompProfile(type: "RuntimeDefault"))
    if !relay.nodeSelector.isEmpty { spec.nodeSelector = relay.nodeSelector }
    if !relay.tolerations.isEmpty {
      spec.tolerations = relay.tolerations.map { Toleration(key: $0.key, operator: $0.operator, value: $0.value, effect: $0.effect) }
    }
    if !relay.imagePullSecrets.isEmpty { spec.imagePullSecrets = relay.imagePullSecrets.map(LocalObjectReference.init(name:)) }
    let labels = [
      RelayLabels.managedBy: RelayLabels.manager, RelayLabels.name: Self.componentName, RelayLabels.component: "doctor",
    ]
    let annotations = [
      RelayLabels.ownerUser: owner.user, RelayLabels.ownerHost: owner.host, RelayLabels.ownerPID: String(owner.pid),
      RelayLabels.startedAt: owner.startedAt, RelayLabels.version: pluginVersion,
    ]
    return Pod(metadata: ObjectMeta(name: name, namespace: namespace, labels: labels, annotations: annotations), spec: spec)
  }
}
