import ArgumentParser
import Foundation
import KFTray
import KubeClient

/// The relay pod's flags, shared by `proxy` (which creates it) and `doctor` (which dry-runs exactly
/// that pod and places its own busybox pod alike).
struct RelayPodOptions: ParsableArguments {
  @Option(help: ArgumentHelp("The relay image (a kftray-server image; pin a tag or digest).", valueName: "image"))
  var image: String = RelayPodSettings.defaultImage

  @Option(name: .customLong("image-pull-secret"), help: ArgumentHelp("An image pull secret for the relay pod (repeatable).", valueName: "name"))
  var imagePullSecrets: [String] = []

  @Option(name: .customLong("node-selector"), help: ArgumentHelp("A node selector for the relay pod, KEY=VALUE (repeatable).", valueName: "key=value"))
  var nodeSelectors: [String] = []

  @Option(name: .customLong("toleration"), help: ArgumentHelp("A toleration for the relay pod, KEY[=VALUE][:EFFECT] (repeatable).", valueName: "toleration"))
  var tolerations: [String] = []

  @Option(help: ArgumentHelp("The relay's resource requests, e.g. cpu=10m,memory=16Mi.", valueName: "resources"))
  var requests: String = "cpu=10m,memory=16Mi"

  @Option(help: ArgumentHelp("The relay's resource limits, e.g. cpu=500m,memory=64Mi.", valueName: "resources"))
  var limits: String = "cpu=500m,memory=64Mi"

  @Option(name: .customLong("pod-label"), help: ArgumentHelp("An extra label on the relay pod, KEY=VALUE (repeatable).", valueName: "key=value"))
  var podLabels: [String] = []

  @Option(name: .customLong("pod-annotation"), help: ArgumentHelp("An extra annotation on the relay pod, KEY=VALUE (repeatable).", valueName: "key=value"))
  var podAnnotations: [String] = []

  @Option(help: ArgumentHelp("A JSON merge patch applied to the relay pod manifest.", valueName: "json"))
  var patch: String?

  @Option(name: .customLong("patch-file"), help: ArgumentHelp("A file holding a JSON merge patch for the relay pod.", valueName: "file"))
  var patchFile: String?

  @Option(name: .customLong("pod-running-timeout"), help: ArgumentHelp("How long a pod may take to be Ready (e.g. 60s, 2m).", valueName: "duration"))
  var podRunningTimeout: String = "60s"

  func validate() throws {
    if patch != nil && patchFile != nil { throw ValidationError("give --patch or --patch-file, not both") }
    _ = try runningTimeout()
    _ = try settings()
  }

  func runningTimeout() throws -> Duration {
    let parsed = GoDuration.parse(podRunningTimeout) ?? Int64(podRunningTimeout).map { Duration.seconds($0) }
    guard let parsed, parsed > .zero else {
      throw ValidationError("--pod-running-timeout \"\(podRunningTimeout)\" is not a duration: use e.g. 60s or 2m")
    }
    return parsed
  }

  func settings() throws -> RelayPodSettings {
    var s = RelayPodSettings()
    s.image = image
    s.imagePullSecrets = imagePullSecrets
    do {
      s.nodeSelector = try pairs(nodeSelectors, flag: "--node-selector")
      s.labels = try pairs(podLabels, flag: "--pod-label")
      s.annotations = try pairs(podAnnotations, flag: "--pod-annotation")
      s.tolerations = try tolerations.map { text throws(RelayManifestError) in try RelayToleration(parsing: text) }
      s.requests = try pairs(requests.split(separator: ",").map(String.init), flag: "--requests")
      s.limits = try pairs(limits.split(separator: ",").map(String.init), flag: "--limits")
    } catch {
      throw ValidationError(error.description)
    }
    if let patch { s.patch = Data(patch.utf8) }
    if let patchFile {
      guard let data = FileManager.default.contents(atPath: patchFile) else {
        throw ValidationError("cannot read --patch-file \(patchFile)")
      }
      s.patch = data
    }
    if let patch = s.patch, (try? JSONSerialization.jsonObject(with: patch)) as? [String: Any] == nil {
      throw ValidationError(
        "the relay pod patch is not a JSON object: give a JSON merge patch such as '{\"metadata\":{\"labels\":{\"a\":\"b\"}}}'")
    }
    return s
  }

  private func pairs(_ texts: [String], flag: String) throws(RelayManifestError) -> [String: String] {
    var result: [String: String] = [:]
    for text in texts where !text.isEmpty {
      let (key, value) = try RelayManifestError.keyValue(text, flag: flag)
      result[key] = value
    }
    return result
  }
}
