import Foundation
import Testing

/// The ServiceAccount admission plugin's token volume, as stored and as real kubectl reads it back.
@Suite("ServiceAccount admission")
struct ServiceAccountAdmissionTests {
  static let tokenPath = "/var/run/secrets/kubernetes.io/serviceaccount"

  /// A pod that passes Pod Security `restricted`; `automount` nil leaves the field out.
  static func pod(_ name: String, automount: Bool?) -> String {
    var spec: [String: Any] = [
      "containers": [
        [
          "name": "main", "image": "busybox:1.36.1", "command": ["sleep", "1"],
          "securityContext": [
            "allowPrivilegeEscalation": false, "runAsNonRoot": true, "runAsUser": 1000,
            "capabilities": ["drop": ["ALL"]], "seccompProfile": ["type": "RuntimeDefault"],
          ],
        ]
      ],
      "initContainers": [["name": "init", "image": "busybox:1.36.1", "command": ["true"]]],
    ]
    if let automount { spec["automountServiceAccountToken"] = automount }
    if automount == nil { spec["initContainers"] = nil }
    let object: [String: Any] = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": name], "spec": spec]
    return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
  }

  /// JSON with sorted keys, to compare objects whatever their key order.
  static func canonical(_ value: Any) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
  }

  static func storedSpec(_ fixture: SandboxFixture, _ name: String, namespace: String) throws -> [String: Any] {
    let result = try fixture.kubectl("get", "pod", name, "-n", namespace, "-o", "json", context: "sandbox-admin")
    #expect(result.status == 0, "\(result.stderr)")
    let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
    return object?["spec"] as? [String: Any] ?? [:]
  }

  @Test("a pod without the field gets serviceAccountName default, the projected kube-api-access volume and its mount; restricted accepts it")
  func mountsTheToken() async throws {
    try await SandboxFixture.with { fixture in
      let created = try fixture.kubectl("create", "-n", "restricted", "-f", "-", context: "sandbox-admin", input: Self.pod("sa", automount: nil))
      #expect(created.status == 0, "\(created.stderr)")
      let spec = try Self.storedSpec(fixture, "sa", namespace: "restricted")
      #expect(spec["serviceAccountName"] as? String == "default")
      let volumes = spec["volumes"] as? [[String: Any]] ?? []
      #expect(volumes.count == 1)
      let volume = try #require(volumes.first)
      let name = try #require(volume["name"] as? String)
      #expect(name.hasPrefix("kube-api-access-") && name.count == "kube-api-access-".count + 5)
      let expected: [String: Any] = [
        "defaultMode": 420,
        "sources": [
          ["serviceAccountToken": ["expirationSeconds": 3607, "path": "token"]],
          ["configMap": ["name": "kube-root-ca.crt", "items": [["key": "ca.crt", "path": "ca.crt"]]]],
          ["downwardAPI": ["items": [["path": "namespace", "fieldRef": ["apiVersion": "v1", "fieldPath": "metadata.namespace"]]]]],
        ],
      ]
      let projectedMatches = try Self.canonical(volume["projected"] ?? [:]) == Self.canonical(expected)
      #expect(projectedMatches, "\(volume)")
      let mounts = (spec["containers"] as? [[String: Any]])?.first?["volumeMounts"] as? [[String: Any]] ?? []
      #expect(mounts.count == 1)
      let mountMatches =
        try Self.canonical(mounts.first ?? [:]) == Self.canonical(["name": name, "readOnly": true, "mountPath": Self.tokenPath])
      #expect(mountMatches, "\(mounts)")

      // The same through the API itself.
      let raw = try fixture.curl("/api/v1/namespaces/restricted/pods/sa")
      #expect(raw.status == 200)
      let stored = try JSONSerialization.jsonObject(with: Data(raw.body.utf8)) as? [String: Any]
      let storedSpec = stored?["spec"] as? [String: Any] ?? [:]
      #expect((storedSpec["volumes"] as? [[String: Any]])?.first?["name"] as? String == name)
    }
  }

  @Test("automountServiceAccountToken: false keeps the pod free of token volumes and mounts, in init containers too")
  func optOut() async throws {
    try await SandboxFixture.with { fixture in
      let created = try fixture.kubectl("create", "-n", "default", "-f", "-", context: "sandbox-admin", input: Self.pod("no-sa", automount: false))
      #expect(created.status == 0, "\(created.stderr)")
      let spec = try Self.storedSpec(fixture, "no-sa", namespace: "default")
      #expect(spec["serviceAccountName"] as? String == "default")
      #expect(spec["volumes"] == nil)
      for key in ["containers", "initContainers"] {
        for container in spec[key] as? [[String: Any]] ?? [] { #expect(container["volumeMounts"] == nil) }
      }
    }
  }
}
