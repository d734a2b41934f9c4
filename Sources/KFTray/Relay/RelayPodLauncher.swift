import Foundation
import KubeClient

/// What a relay pod is doing while `proxy` waits for it (for the progress line).
public struct RelayPodProgress: Sendable, Equatable {
  public var pod: String
  public var namespace: String
  /// `Pending`, `ContainerCreating`, `Running (not ready)`, ...
  public var state: String
}

/// Why a relay pod could not be created or did not become Ready: the cause, quoted from the
/// pod's status and Events, and what to do about it.
public struct RelayPodError: Error, Sendable, Equatable, CustomStringConvertible {
  public enum Kind: Sendable, Equatable {
    case forbidden, podSecurity, invalid, namespaceNotFound, imagePull, crashLoop, unschedulable, failed, deleted,
      timeout, unauthorized, api
    /// The API server never answered (or failed with a 5xx): the pod may or may not exist.
    case noAnswer
  }
  public var kind: Kind
  public var pod: String
  public var namespace: String
  public var cause: String
  public var fix: String
  /// Recent Events of the pod (`reason: message`), oldest first.
  public var events: [String] = []

  public var description: String {
    var text = "relay pod \(namespace)/\(pod): \(cause)"
    if !events.isEmpty { text += "\n  events:\n" + events.map { "    \($0)" }.joined(separator: "\n") }
    return text + "\n  fix: \(fix)"
  }
}

/// Creates relay pods, waits for them, and deletes them. One value per API client.
public struct RelayPodLauncher: Sendable {
  public let api: KubeAPI

  public init(api: KubeAPI) { self.api = api }

  /// Creates the pod; a refusal (RBAC, Pod Security, validation, missing namespace) is explained.
  public func create(_ manifest: RelayPodManifest) async throws(RelayPodError) {
    let body: Data
    do { body = try manifest.json() } catch {
      throw RelayPodError(kind: .invalid, pod: manifest.name, namespace: manifest.namespace, cause: "\(error)", fix: "correct --patch")
    }
    do {
      _ = try await api.createPod(manifest: body, namespace: manifest.namespace)
    } catch {
      throw Self.explainCreate(error, manifest: manifest)
    }
  }

  static func explainCreate(_ error: KubeError, manifest: RelayPodManifest) -> RelayPodError {
    let message = error.status?.message ?? error.description
    let (pod, ns) = (manifest.name, manifest.namespace)
    if error.isForbidden, message.contains("violates PodSecurity") {
      return RelayPodError(
        kind: .podSecurity, pod: pod, namespace: ns, cause: "refused by Pod Security admission: \(message)",
        fix: manifest.settings.patch != nil
          ? "the --patch/--patch-file result breaks the namespace's Pod Security level: remove the fields it names"
          : "the namespace enforces a level the relay does not meet: choose another namespace with -n")
    }
    if error.isForbidden {
      return RelayPodError(
        kind: .forbidden, pod: pod, namespace: ns, cause: "not allowed: \(message)",
        fix: "ask for a Role in \(ns) granting pods create, get, list, watch, delete and pods/portforward create "
          + "(`kubectl kftray doctor -n \(ns)` prints one), or choose a namespace you may use with -n")
    }
    if error.isNotFound {
      return RelayPodError(
        kind: .namespaceNotFound, pod: pod, namespace: ns, cause: "namespace \"\(ns)\" does not exist",
        fix: "choose an existing namespace with -n (kubectl get namespaces)")
    }
    if error.httpStatus == 422 || error.httpStatus == 400 {
      return RelayPodError(
        kind: .invalid, pod: pod, namespace: ns, cause: "the API server rejected the pod: \(message)",
        fix: manifest.settings.patch != nil ? "correct --patch/--patch-file" : "check --image, --node-selector, --toleration, --requests and --limits")
    }
    if error.isUnauthorized {
      return RelayPodError(
        kind: .unauthorized, pod: pod, namespace: ns, cause: "the API server did not accept your credentials: \(message)",
        fix: "log in again, or refresh the token or exec plugin of this kubeconfig user (kubectl kftray version checks it)")
    }
    if let status = error.httpStatus, status < 500 {
      return RelayPodError(
        kind: .api, pod: pod, namespace: ns, cause: "the API server refused it: \(message)",
        fix: "check the relay pod flags, or run kubectl kftray doctor -n \(ns)")
    }
    return RelayPodError(
      kind: .noAnswer, pod: pod, namespace: ns, cause: "could not create it: \(error)",
      fix: "check that the cluster is reachable (kubectl kftray version)")
  }

  /// Waits until the pod is Ready (watching it), reporting its state as it changes. Fails at once
  /// on what will not heal by itself (image pull failures, crash loops, unschedulable, the pod
  /// ending or being deleted), and after `timeout`.
  public func waitReady(
    pod: String, namespace: String, timeout: Duration, progress: @escaping @Sendable (RelayPodProgress) -> Void = { _ in }
  ) async throws(RelayPodError) -> Pod {
    let api = self.api
    let outcome: Result<Pod, RelayPodError> = await withTaskGroup(of: Result<Pod, RelayPodError>?.self) { group in
      group.addTask {
        var last: String?
        do {
          for try await event in api.observePods(namespace: namespace, fieldSelector: "metadata.name=\(pod)") {
            if event.type == .deleted {
              return .failure(
                RelayPodError(
                  kind: .deleted, pod: pod, namespace: namespace, cause: "it was deleted while starting",
                  fix: "run the command again; if something deletes pods in \(namespace), choose another namespace with -n"))
            }
            let current = event.object
            switch Self.verdict(current) {
            case .ready: return .success(current)
            case .failed(let kind, let cause, let fix):
              return .failure(RelayPodError(kind: kind, pod: pod, namespace: namespace, cause: cause, fix: fix))
            case .waiting(let state):
              if state != last {
                last = state
                progress(RelayPodProgress(pod: pod, namespace: namespace, state: state))
              }
            }
          }
        } catch {
          return .failure(
            RelayPodError(
              kind: .api, pod: pod, namespace: namespace, cause: "watching it failed: \(error)",
              fix: "check your access to pods in \(namespace) (get, list, watch)"))
        }
        return nil
      }
      group.addTask {
        try? await Task.sleep(for: timeout)
        return nil
      }
      let first = await group.next() ?? nil
      group.cancelAll()
      if let first { return first }
      return .failure(
        RelayPodError(
          kind: .timeout, pod: pod, namespace: namespace, cause: "not Ready after \(Self.seconds(timeout))",
          fix: "see the events above; give it longer with --pod-running-timeout, or check the node with kubectl describe pod"))
    }
    switch outcome {
    case .success(let ready): return ready
    case .failure(var error):
      if error.kind == .timeout, let current = try? await api.pod(pod, namespace: namespace) {
        if case .waiting(let state) = Self.verdict(current) { error.cause += " (still \(state))" }
      }
      error.events = await recentEvents(pod: pod, namespace: namespace)
      throw error
    }
  }

  /// The pod's Events as `Reason: message`; none when the cluster keeps no Events or they cannot be read.
  public func recentEvents(pod: String, namespace: String) async -> [String] {
    guard let events = try? await api.events(namespace: namespace, involvedObjectName: pod) else { return [] }
    return events.suffix(8).map { "\($0.reason ?? "Event"): \($0.message ?? "")" }
  }

  /// Deletes the pod at once (grace 0); a pod already gone is success.
  public func delete(pod: String, namespace: String) async -> KubeError? {
    do {
      try await api.deletePod(pod, namespace: namespace, gracePeriodSeconds: 0)
      return nil
    } catch {
      return error.isNotFound ? nil : error
    }
  }

  enum Verdict: Equatable {
    case ready
    case waiting(String)
    case failed(RelayPodError.Kind, cause: String, fix: String)
  }

  /// Reads a pod's status the way `kubectl get pod` summarises it.
  static func verdict(_ pod: Pod) -> Verdict {
    let status = pod.status
    let phase = status?.phase ?? "Pending"
    let image = pod.spec?.containers.first?.image ?? "the image"
    if phase == "Failed" || phase == "Succeeded" {
      let terminated = status?.containerStatuses?.first?.state?.terminated
      var cause = "it ended (phase \(phase)"
      if let terminated {
        cause += ", exit code \(terminated.exitCode)" + (terminated.reason.map { ", \($0)" } ?? "")
        if let message = terminated.message, !message.isEmpty { cause += ": \(message)" }
      } else if let reason = status?.reason {
        cause += ", \(reason)" + (status?.message.map { ": \($0)" } ?? "")
      }
      cause += ")"
      return .failed(
        .failed, cause: cause,
        fix: "check the relay's log (kubectl logs -n \(pod.metadata.namespace ?? "") \(pod.metadata.name ?? "")) and --image")
    }
    for condition in status?.conditions ?? [] where condition.type == "PodScheduled" && condition.status == "False" {
      if condition.reason == "Unschedulable" {
        return .failed(
          .unschedulable, cause: "no node can run it: \(condition.message ?? "Unschedulable")",
          fix: "pick nodes with --node-selector and allow their taints with --toleration, or lower --requests")
      }
    }
    if let waiting = status?.containerStatuses?.first?.state?.waiting, let reason = waiting.reason {
      let detail = waiting.message.map { ": \($0)" } ?? ""
      switch reason {
      case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
        return .failed(
          .imagePull, cause: "the image \(image) cannot be pulled (\(reason)\(detail))",
          fix: "check --image (mirrors and air-gapped registries: --image REGISTRY/kftray-server:TAG) "
            + "and give registry credentials with --image-pull-secret")
      case "CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
        return .failed(
          .crashLoop, cause: "the relay does not start (\(reason)\(detail))",
          fix: "check the relay's log (kubectl logs -n \(pod.metadata.namespace ?? "") \(pod.metadata.name ?? "")) and that --image is a kftray-server image")
      default:
        return .waiting(reason)
      }
    }
    let ready = status?.conditions?.first { $0.type == "Ready" }?.status == "True"
    if ready && pod.metadata.deletionTimestamp == nil { return .ready }
    if phase == "Running" { return .waiting("Running, not Ready yet") }
    if pod.spec?.nodeName == nil { return .waiting("Pending (not scheduled yet)") }
    return .waiting(phase)
  }

  static func seconds(_ d: Duration) -> String {
    let s = d.components.seconds
    return s % 60 == 0 && s >= 60 ? "\(s / 60)m" : "\(s)s"
  }
}
