import Foundation
import KubeClient

/// Runs the doctor pod to its end and brings back its log. A pod that cannot be created or does
/// not start is an outcome with its cause and fix, not an error: it is a finding of the run.
struct ProbePodRunner: Sendable {
  enum Outcome: Sendable, Equatable {
    /// The pod ended (`Succeeded` or `Failed`) and this is its log.
    case finished(phase: String, log: String)
    case failed(cause: String, fix: String)
  }

  let api: KubeAPI
  let ledger: PodLedger
  let progress: @Sendable (String) -> Void

  func run(_ manifest: DoctorPodManifest, startTimeout: Duration) async -> Outcome {
    let (name, namespace) = (manifest.name, manifest.namespace)
    progress("Creating doctor pod \(namespace)/\(name)")
    ledger.record(name, namespace: namespace, api: api)
    // Shielded from cancellation: a create that is cut off may still land, and must then be deleted.
    let api = self.api
    let created = await Task { () -> KubeError? in
      do throws(KubeError) { _ = try await api.createPod(manifest.pod, namespace: namespace) } catch { return error }
      return nil
    }.value
    if let created {
      // An HTTP answer means the pod was not stored; without one it may have been, so try to delete it.
      if created.httpStatus != nil { ledger.forget(name) } else { _ = await ledger.delete(name) }
      return Self.explainCreate(created, namespace: namespace, image: manifest.image)
    }
    let outcome: Outcome
    switch await waitForEnd(name: name, namespace: namespace, startTimeout: startTimeout, runTimeout: .seconds(manifest.script.budgetSeconds + 30)) {
    case .failure(let failed):
      var fix = failed.fix
      let events = await RelayPodLauncher(api: api).recentEvents(pod: name, namespace: namespace)
      if !events.isEmpty { fix += " (events: \(events.joined(separator: "; ")))" }
      outcome = .failed(cause: failed.cause, fix: fix)
    case .success(let phase):
      progress("Reading the doctor pod's log")
      do {
        var log = Data()
        for try await chunk in try await api.podLogs(name, namespace: namespace) { log.append(chunk) }
        outcome = .finished(phase: phase, log: String(decoding: log, as: UTF8.self))
      } catch {
        outcome = .failed(
          cause: "its log cannot be read: \(error)",
          fix: "doctor reads its results from the pod's log: ask for pods/log get in \(namespace)")
      }
    }
    if let error = await ledger.delete(name) {
      return .failed(cause: "could not delete it: \(error)", fix: "run kubectl kftray cleanup -n \(namespace)")
    }
    return outcome
  }

  struct Failure: Error {
    var cause: String
    var fix: String
  }

  /// Watches the pod until it has ended. Gives up on what will not heal (image pull, unschedulable),
  /// when it has not started within `startTimeout`, and when it runs longer than `runTimeout`.
  func waitForEnd(name: String, namespace: String, startTimeout: Duration, runTimeout: Duration) async -> Result<String, Failure> {
    let api = self.api
    let progress = self.progress
    let result: Result<String, Failure>? = await withTaskGroup(of: Result<String, Failure>?.self) { group in
      group.addTask {
        var last: String?
        var runningSince: ContinuousClock.Instant?
        let created = ContinuousClock.now
        do {
          for try await event in api.observePods(namespace: namespace, fieldSelector: "metadata.name=\(name)") {
            if event.type == .deleted {
              return .failure(Failure(cause: "it was deleted while running", fix: "run doctor again; if something deletes pods in \(namespace), choose another namespace with -n"))
            }
            let pod = event.object
            let phase = pod.status?.phase ?? "Pending"
            if phase == "Succeeded" || phase == "Failed" { return .success(phase) }
            if case .failed(_, let cause, let fix) = RelayPodLauncher.verdict(pod) {
              return .failure(Failure(cause: cause.replacingOccurrences(of: "the relay does not start", with: "the probe does not start"), fix: Self.probeFix(fix)))
            }
            if phase == "Running", runningSince == nil { runningSince = .now }
            let state = phase == "Running" ? "running the probes" : Self.state(pod)
            if state != last {
              last = state
              progress("Doctor pod \(namespace)/\(name): \(state)")
            }
            if runningSince == nil, ContinuousClock.now - created > startTimeout {
              return .failure(Failure(cause: "not started after \(startTimeout) (\(state))", fix: "check the node and events: kubectl describe pod -n \(namespace) \(name)"))
            }
          }
        } catch {
          return .failure(Failure(cause: "watching it failed: \(error)", fix: "check your access to pods in \(namespace) (get, list, watch)"))
        }
        return nil
      }
      group.addTask {
        try? await Task.sleep(for: startTimeout + runTimeout)
        return nil
      }
      let first = await group.next() ?? nil
      group.cancelAll()
      return first
    }
    if let result { return result }
    if Task.isCancelled { return .failure(Failure(cause: "interrupted", fix: "run doctor again")) }
    // Not ended in time: where it stands now says why.
    let state = (try? await api.pod(name, namespace: namespace)).map(Self.state) ?? "unknown"
    return .failure(
      Failure(
        cause: "did not finish within \(startTimeout + runTimeout) (\(state))",
        fix: "give it longer with --pod-running-timeout, or check the node: kubectl describe pod -n \(namespace) \(name)"))
  }

  static func state(_ pod: Pod) -> String {
    if let reason = pod.status?.containerStatuses?.first?.state?.waiting?.reason { return reason }
    if pod.spec?.nodeName == nil { return "Pending (not scheduled yet)" }
    return pod.status?.phase ?? "Pending"
  }

  /// The relay's fixes name relay flags; the probe pod's image is --probe-image.
  static func probeFix(_ fix: String) -> String {
    fix.replacingOccurrences(of: "check --image (mirrors and air-gapped registries: --image REGISTRY/kftray-server:TAG)", with: "check --probe-image (mirrors: --probe-image REGISTRY/busybox:1.36.1)")
  }

  static func explainCreate(_ error: KubeError, namespace: String, image: String) -> Outcome {
    let message = error.status?.message ?? error.description
    if error.isForbidden, message.contains("violates PodSecurity") {
      return .failed(cause: "refused by Pod Security admission: \(message)", fix: "the doctor pod meets Pod Security restricted, so the namespace asks for more than that: choose another namespace with -n")
    }
    if error.isForbidden {
      return .failed(
        cause: "not allowed to create pods: \(message)",
        fix: "doctor runs its network probes in a pod: ask for pods create (see the Role under rbac.role) or use -n with a namespace you may use")
    }
    if error.isNotFound {
      return .failed(cause: "namespace \(namespace) does not exist", fix: "choose an existing namespace with -n (kubectl get namespaces)")
    }
    return .failed(cause: "the API server refused it: \(message)", fix: "check --probe-image \(image), quotas and admission webhooks in \(namespace)")
  }
}
