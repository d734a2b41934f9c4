/// The ServiceAccount admission plugin's mutation of new pods (`plugin/pkg/admission/serviceaccount`):
/// `serviceAccountName` defaults to `default`, and unless the pod opts out with
/// `automountServiceAccountToken: false`, every container (and init container) mounts a projected
/// `kube-api-access-<5 random>` volume read-only at the token path.
///
/// The sandbox keeps no ServiceAccount objects: every pod's service account behaves as kube's `default`
/// one does, which leaves `automountServiceAccountToken` unset, so only the pod's own field decides
/// (kube: the pod's field wins, then the service account's, then true). Mirror pods are left alone, as kube does.
enum ServiceAccountAdmission {
  static let defaultServiceAccount = "default"
  static let volumePrefix = "kube-api-access-"
  static let tokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
  static let mirrorPodAnnotation = "kubernetes.io/config.mirror"
  /// kube's `WarnOnlyBoundTokenExpirationSeconds`: an hour plus 7 s, so the API server can tell the
  /// admission-made projection from others and only warn about expired tokens.
  static let tokenExpirationSeconds: Int64 = 3607

  /// Mutates a pod on create (never on update, as kube).
  static func admit(_ pod: inout JSONValue) {
    if pod["metadata"]?["annotations"]?[mirrorPodAnnotation] != nil { return }
    var spec = pod["spec"] ?? [:]
    if (spec["serviceAccountName"]?.stringValue ?? "").isEmpty {
      spec["serviceAccountName"] = .string(defaultServiceAccount)
    }
    if spec["automountServiceAccountToken"]?.boolValue ?? true {
      mountToken(&spec)
    }
    pod["spec"] = spec
  }

  /// `mountServiceAccountToken`: reuse a volume already named `kube-api-access-*`, else name a new one;
  /// mount it in every container that mounts nothing at the token path; add the volume only when a
  /// container got the mount.
  static func mountToken(_ spec: inout JSONValue) {
    let volumes = spec["volumes"]?.arrayValue ?? []
    let existing = volumes.first { ($0["name"]?.stringValue ?? "").hasPrefix(volumePrefix) }?["name"]?.stringValue
    let volumeName = existing ?? NameGenerator.generate(prefix: volumePrefix)
    let mount: JSONValue = ["name": .string(volumeName), "readOnly": true, "mountPath": .string(tokenMountPath)]
    var mounted = false
    for key in ["initContainers", "containers"] {
      guard let containers = spec[key]?.arrayValue else { continue }
      spec[key] = .array(
        containers.map { container in
          var container = container
          let mounts = container["volumeMounts"]?.arrayValue ?? []
          guard !mounts.contains(where: { $0["mountPath"]?.stringValue == tokenMountPath }) else { return container }
          container["volumeMounts"] = .array(mounts + [mount])
          mounted = true
          return container
        })
    }
    if existing == nil && mounted {
      spec["volumes"] = .array(volumes + [["name": .string(volumeName), "projected": tokenVolumeSource]])
    }
  }

  /// `TokenVolumeSource()`: the token, the cluster's root CA and the pod's namespace, mode 0644 set
  /// explicitly (kube #104464).
  static let tokenVolumeSource: JSONValue = [
    "defaultMode": 420,
    "sources": [
      ["serviceAccountToken": ["expirationSeconds": .int(tokenExpirationSeconds), "path": "token"]],
      ["configMap": ["name": "kube-root-ca.crt", "items": [["key": "ca.crt", "path": "ca.crt"]]]],
      [
        "downwardAPI": [
          "items": [["path": "namespace", "fieldRef": ["apiVersion": "v1", "fieldPath": "metadata.namespace"]]]
        ]
      ],
    ],
  ]
}
