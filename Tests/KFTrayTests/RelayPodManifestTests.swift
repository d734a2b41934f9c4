import Foundation
import KFTray
import KubeClient
import Testing

@Suite struct RelayPodManifestTests {
  static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

  static func manifest(_ target: ProxyTarget, settings: RelayPodSettings = RelayPodSettings()) -> RelayPodManifest {
    RelayPodManifest(
      name: "kftray-relay-x7k2p", namespace: "dev", sessionID: "0badcafe", target: target,
      owner: RelayOwner(user: "ada", host: "laptop", pid: 4242, startedAt: "2026-12-04T17:00:00Z"), settings: settings,
      pluginVersion: "v0.1.0")
  }

  /// Set KFTRAY_UPDATE_GOLDEN=1 to rewrite the files after a deliberate change.
  static func check(_ data: Data, against name: String) throws {
    let url = golden.appendingPathComponent(name)
    if ProcessInfo.processInfo.environment["KFTRAY_UPDATE_GOLDEN"] == "1" { try data.write(to: url) }
    let expected = try Data(contentsOf: url)
    #expect(String(decoding: data, as: UTF8.self) == String(decoding: expected, as: UTF8.self), "\(name) differs")
  }

  @Test func tcpRelayMatchesTheGoldenFile() throws {
    let target = try ProxyTarget(parsing: "8080:internal-service.cluster.local:80")
    try Self.check(try Self.manifest(target).json(), against: "relay-pod-tcp.json")
  }

  @Test func udpRelayHasNoProbeAndMatchesTheGoldenFile() throws {
    let target = try ProxyTarget(parsing: "5353:udp-echo.default.svc.cluster.local:5353/udp")
    let json = try Self.manifest(target).json()
    #expect(!String(decoding: json, as: UTF8.self).contains("readinessProbe"))
    try Self.check(json, against: "relay-pod-udp.json")
  }

  @Test func restrictedByConstruction() throws {
    let pod = try JSONDecoder().decode(Pod.self, from: Self.manifest(ProxyTarget(remoteAddress: "web", remotePort: 80)).json())
    let spec = try #require(pod.spec)
    let container = try #require(spec.containers.first)
    #expect(spec.automountServiceAccountToken == false)
    #expect(spec.restartPolicy == "Never")
    #expect(spec.activeDeadlineSeconds != nil)
    #expect(spec.securityContext?.runAsNonRoot == true && spec.securityContext?.seccompProfile?.type == "RuntimeDefault")
    #expect(container.securityContext?.allowPrivilegeEscalation == false)
    #expect(container.securityContext?.capabilities?.drop == ["ALL"])
    #expect(container.securityContext?.readOnlyRootFilesystem == true)
    #expect(container.securityContext?.runAsUser == 65532)
    #expect(container.env?.first { $0.name == "LOCAL_PORT" }?.value == "8080")
    #expect(pod.metadata.labels?["app.kubernetes.io/managed-by"] == "kubectl-kftray")
    #expect(pod.metadata.annotations?["kubectl-kftray/owner-pid"] == "4242")
  }

  @Test func flagsReachTheManifest() throws {
    var settings = RelayPodSettings()
    settings.image = "registry.example/kftray-server:v1"
    settings.imagePullSecrets = ["regcred"]
    settings.nodeSelector = ["pool": "infra"]
    settings.tolerations = [try RelayToleration(parsing: "dedicated=infra:NoSchedule"), try RelayToleration(parsing: "spot")]
    settings.labels = ["team": "a"]
    settings.patch = Data(#"{"metadata":{"annotations":{"sidecar.istio.io/inject":"true"}},"spec":{"priorityClassName":"low"}}"#.utf8)
    let json = try Self.manifest(ProxyTarget(remoteAddress: "web", remotePort: 80), settings: settings).json()
    let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
    let spec = try #require(object["spec"] as? [String: Any])
    let metadata = try #require(object["metadata"] as? [String: Any])
    #expect(spec["priorityClassName"] as? String == "low")
    #expect((metadata["annotations"] as? [String: String])?["sidecar.istio.io/inject"] == "true")
    #expect((metadata["annotations"] as? [String: String])?["kubectl-kftray/owner-user"] == "ada", "a patch merges, it does not replace")
    #expect((metadata["labels"] as? [String: String])?["team"] == "a")
    #expect((spec["nodeSelector"] as? [String: String]) == ["pool": "infra"])
    let tolerations = try #require(spec["tolerations"] as? [[String: String]])
    #expect(tolerations[0] == ["key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"])
    #expect(tolerations[1] == ["key": "spot", "operator": "Exists"])
  }

  @Test func mergePatchNullRemovesAndBadPatchesAreRefused() throws {
    var settings = RelayPodSettings()
    settings.patch = Data(#"{"spec":{"activeDeadlineSeconds":null}}"#.utf8)
    let json = try Self.manifest(ProxyTarget(remoteAddress: "web", remotePort: 80), settings: settings).json()
    #expect(!String(decoding: json, as: UTF8.self).contains("activeDeadlineSeconds"))
    for bad in ["[1]", "not json", #"{"spec":null}"#] {
      settings.patch = Data(bad.utf8)
      #expect(throws: RelayManifestError.self) { try Self.manifest(ProxyTarget(remoteAddress: "w", remotePort: 1), settings: settings).json() }
    }
  }

  @Test func podNamesLookGenerated() {
    let name = RelayPodManifest.podName()
    #expect(name.hasPrefix("kftray-relay-") && name.count == 18)
    #expect(RelayPodManifest.sessionID().count == 8)
  }

  @Test func tolerationSyntax() throws {
    #expect(throws: RelayManifestError.self) { try RelayToleration(parsing: "key:Sometimes") }
    #expect(throws: RelayManifestError.self) { try RelayToleration(parsing: "=v:NoSchedule") }
    let all = try RelayToleration(parsing: ":NoExecute")
    #expect(all.key == nil && all.operator == "Exists" && all.effect == "NoExecute")
  }
}
