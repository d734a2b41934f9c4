import Foundation
import KubeClient
import PortForward

/// What `doctor` is asked to look at.
public struct DoctorOptions: Sendable {
  public var targets: [ProxyTarget] = []
  /// The relay pod as `proxy` would create it (image, pull secrets, placement): the dry run and
  /// the image check use exactly these settings.
  public var relay = RelayPodSettings()
  public var probeImage = DoctorPodManifest.defaultImage
  /// Seconds one connect, lookup or UDP reply may take inside the cluster.
  public var timeoutSeconds = 3
  /// How long a pod may take to start (pull, schedule) before that is a finding.
  public var podRunningTimeout: Duration = .seconds(60)
  public var skipImageCheck = false

  public init() {}
}

/// One `kubectl kftray doctor` run: the checks in order, from the laptop to the cluster's network.
/// Never throws: whatever goes wrong is a check in the report. Pods it creates are deleted before
/// `run()` returns, and by `deleteCreatedPods()` when the run is interrupted.
public final class DoctorRun: Sendable {
  let overrides: ConfigOverrides
  let options: DoctorOptions
  let progress: @Sendable (String) -> Void
  let ledger = PodLedger()
  let owner = RelayOwner.current()

  public init(overrides: ConfigOverrides, options: DoctorOptions, progress: @escaping @Sendable (String) -> Void = { _ in }) {
    self.overrides = overrides
    self.options = options
    self.progress = progress
  }

  /// The distinct addresses to probe, in the order given.
  var probeTargets: [ProbeTarget] {
    var seen = Set<ProbeTarget>()
    return options.targets.map(ProbeTarget.init).filter { seen.insert($0).inserted }
  }

  public func run() async -> DoctorReport {
    let targets = options.targets.map(\.description)
    var checks: [DoctorCheck] = []
    let config: ClientConfig
    do {
      config = try KubeconfigLoader().load(overrides)
    } catch {
      checks.append(
        .fail(
          "local.kubeconfig", .local, "\(error)",
          hint: "check --kubeconfig, KUBECONFIG and --context (kubectl config get-contexts)"))
      checks += LocalPortCheck.checks(options.targets)
      return DoctorReport(context: overrides.context, namespace: overrides.namespace ?? "default", targets: targets, checks: checks)
    }
    let namespace = config.namespace
    var report = DoctorReport(context: config.origin.contextName, namespace: namespace, targets: targets, checks: [])
    checks.append(.pass("local.kubeconfig", .local, Self.describe(config.origin)))

    let credentials = KubeCredentials(config: config)
    progress("Getting credentials")
    do {
      _ = try await credentials.credentials()
      checks.append(.pass("local.credentials", .local, Self.describe(config.auth, tls: config.tls)))
    } catch {
      checks.append(
        .fail(
          "local.credentials", .local, "no credentials: \(error)",
          hint: config.auth.exec != nil
            ? "the exec plugin failed: run it by hand, log in again (e.g. aws sso login, gcloud auth login) and check its PATH"
            : "check the user's token, token file or client certificate in the kubeconfig"))
      checks += LocalPortCheck.checks(options.targets)
      report.checks = checks + [Self.clusterSkipped("no credentials")]
      return report
    }
    checks += LocalPortCheck.checks(options.targets)

    let api = KubeAPI(config: config, credentials: credentials, identity: ClientIdentity(userAgent: PluginVersion.userAgent))
    progress("Contacting the API server at \(config.server)")
    let apiChecks = await APIServerCheck(api: api).checks()
    checks += apiChecks
    if apiChecks.contains(where: { $0.status == .fail }) {
      report.checks = checks + [Self.clusterSkipped("the API server cannot be used")]
      return report
    }

    progress("Asking the API server what you may do in \(namespace)")
    checks += await RBACCheck(api: api, namespace: namespace).checks()
    progress("Checking admission in \(namespace)")
    checks += await AdmissionCheck(api: api, namespace: namespace, manifest: relayManifest(namespace: namespace)).checks()
    checks += await LeftoverCheck(api: api, namespace: namespace).checks()

    // One after the other, not side by side: the probes should measure the network while no
    // other pod of ours starts or stops next to them (in the sandbox, a relay pod torn down
    // during the probes was seen to cut the doctor pod's traffic), and a node pulling an image
    // is a slower, noisier place to time connects from.
    checks += await networkChecks(api: api, namespace: namespace)
    checks += await imageChecks(api: api, namespace: namespace)
    report.checks = checks
    return report
  }

  /// Deletes whatever pods the run created and has not deleted yet (after an interruption).
  public func deleteCreatedPods() async -> [String] {
    await ledger.deleteAll().map { "could not delete pod \($0.namespace)/\($0.pod): \($0.error)" }
  }

  func relayManifest(namespace: String) -> RelayPodManifest {
    // The relay's target only fills its env; admission and the image do not depend on it.
    let target = options.targets.first ?? ProxyTarget(remoteAddress: "kubernetes.default.svc.cluster.local", remotePort: 443)
    return RelayPodManifest(
      name: RelayPodManifest.podName(), namespace: namespace, sessionID: "doctor-\(owner.pid)", target: target, owner: owner,
      settings: options.relay, pluginVersion: PluginVersion.current)
  }

  // MARK: The busybox pod

  func networkChecks(api: KubeAPI, namespace: String) async -> [DoctorCheck] {
    let script = ProbeScript(targets: probeTargets, timeoutSeconds: options.timeoutSeconds)
    let manifest = DoctorPodManifest(
      name: DoctorPodManifest.podName(), namespace: namespace, image: options.probeImage, script: script, owner: owner,
      relay: options.relay)
    let notRun = { (why: String) in
      ProbeVerdicts(script: script, log: ProbeLog(parsing: ""), namespace: namespace, notMeasured: why).checks
    }
    let runner = ProbePodRunner(api: api, ledger: ledger, progress: progress)
    let started = ContinuousClock.now
    let outcome = await runner.run(manifest, startTimeout: options.podRunningTimeout)
    let podName = "\(namespace)/\(manifest.name)"
    switch outcome {
    case .failed(let cause, let fix):
      return [.fail("network.pod", .network, "the doctor pod \(podName) did not run: \(cause)", hint: fix)]
        + notRun("not measured: the doctor pod did not run")
    case .finished(let phase, let log):
      let parsed = ProbeLog(parsing: log)
      let elapsed = ContinuousClock.now - started
      var podCheck: DoctorCheck
      if parsed.began {
        podCheck = .pass(
          "network.pod", .network,
          "\(manifest.image) ran the probes in \(podName) (\(Self.seconds(elapsed)), deleted)")
      } else {
        podCheck = .fail(
          "network.pod", .network, "the doctor pod \(podName) ended (\(phase)) without running the probes",
          hint: "the image must be a busybox with sh, nslookup and nc: check --probe-image",
          detail: parsed.stray.isEmpty ? nil : parsed.stray.joined(separator: "\n"))
      }
      if !parsed.began { return [podCheck] + notRun("not measured: the probe script did not run") }
      return [podCheck] + ProbeVerdicts(script: script, log: parsed, namespace: namespace).checks
    }
  }

  // MARK: The relay image

  func imageChecks(api: KubeAPI, namespace: String) async -> [DoctorCheck] {
    let id = "image.relay"
    let image = options.relay.image
    if options.skipImageCheck { return [.skip(id, .image, "\(image): not checked (--skip-image-check)")] }
    let manifest = relayManifest(namespace: namespace)
    let launcher = RelayPodLauncher(api: api)
    progress("Starting a relay pod \(namespace)/\(manifest.name) to check its image")
    ledger.record(manifest.name, namespace: namespace, api: api)
    // Shielded from cancellation: a create that is cut off may still land, and must then be deleted.
    let created = await Task { () -> RelayPodError? in
      do throws(RelayPodError) { try await launcher.create(manifest) } catch { return error }
      return nil
    }.value
    if let created {
      // A refusal by the server stored nothing; anything else may have, so try to delete it.
      if created.kind == .api { _ = await ledger.delete(manifest.name) } else { ledger.forget(manifest.name) }
      return [.fail(id, .image, "\(image): the relay pod could not be created: \(created.cause)", hint: created.fix)]
    }
    var check: DoctorCheck
    do throws(RelayPodError) {
      _ = try await launcher.waitReady(pod: manifest.name, namespace: namespace, timeout: options.podRunningTimeout) {
        [progress] in progress("Relay pod \($0.namespace)/\($0.pod): \($0.state)")
      }
      check = .pass(id, .image, "\(image) pulled and started (relay pod \(namespace)/\(manifest.name), deleted)")
    } catch {
      var hint = error.fix
      // The kubelet's own word (ImagePullBackOff, ErrImagePull) is what users search for: lead with it.
      if error.kind == .imagePull,
        let reason = ["ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"].first(where: error.cause.contains)
      {
        hint = "the node reports \(reason) for \(image): " + hint
      }
      if !error.events.isEmpty { hint += " (events: \(error.events.joined(separator: "; ")))" }
      check = .fail(id, .image, "\(image): \(error.cause)", hint: hint)
    }
    if let failed = await ledger.delete(manifest.name) {
      check.hint = (check.hint.map { $0 + "; " } ?? "") + "could not delete relay pod \(manifest.name): \(failed); run kubectl kftray cleanup -n \(namespace)"
    }
    return [check]
  }

  // MARK: Wording

  static func clusterSkipped(_ why: String) -> DoctorCheck {
    .skip("cluster", .api, "cluster checks (RBAC, admission, network, image) not run: \(why)")
  }

  static func describe(_ origin: ConfigOrigin) -> String {
    var text = origin.contextName.map { "context \($0)" } ?? "no context"
    var parts: [String] = []
    if let cluster = origin.clusterName { parts.append("cluster \(cluster)") }
    if let user = origin.userName { parts.append("user \(user)") }
    if !parts.isEmpty { text += " (\(parts.joined(separator: ", ")))" }
    if origin.inCluster {
      text += ", in-cluster configuration"
    } else if !origin.files.isEmpty {
      text += " from \(origin.files.joined(separator: ":"))"
    } else {
      text += " from flags"
    }
    return text
  }

  static func describe(_ auth: AuthOptions, tls: TLSOptions) -> String {
    if let exec = auth.exec { return "the exec plugin \(exec.command) gave credentials" }
    if auth.bearerTokenFile != nil { return "bearer token from a file" }
    if auth.bearerToken != nil { return "bearer token" }
    if tls.clientCertificatePEM != nil { return "client certificate" }
    if auth.username != nil { return "basic authentication" }
    return "no credentials configured: requests are anonymous"
  }

  static func seconds(_ d: Duration) -> String {
    String(format: "%.1fs", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
  }
}
