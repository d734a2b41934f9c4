import Foundation
import KubeClient

/// Reachability, TLS and version of the API server, from one `GET /version`.
struct APIServerCheck {
  let api: KubeAPI

  func checks() async -> [DoctorCheck] {
    let server = api.config.server.description
    let version: ServerVersion
    do {
      version = try await api.version()
    } catch {
      return [Self.explain(error, server: server)]
    }
    var checks: [DoctorCheck] = [.pass("api.reachable", .api, "\(server) answered")]
    let tls = api.config.tls
    if api.config.server.scheme == .http {
      checks.append(
        .warn(
          "api.tls", .api, "plain HTTP: requests and credentials are not encrypted",
          hint: "use the server's https:// address in the kubeconfig"))
    } else if tls.insecureSkipVerify {
      checks.append(
        .warn(
          "api.tls", .api, "the server's certificate is not verified (insecure-skip-tls-verify)",
          hint: "set certificate-authority (or -data) for the cluster in your kubeconfig and remove insecure-skip-tls-verify"))
    } else {
      let anchor = tls.certificateAuthorityPEM != nil ? "the kubeconfig's certificate authority" : "the system's trusted CAs"
      checks.append(.pass("api.tls", .api, "certificate verified against \(anchor)"))
    }
    checks.append(.pass("api.version", .api, "Kubernetes \(version.gitVersion)\(version.platform.map { " (\($0))" } ?? "")"))
    return checks
  }

  static func explain(_ error: KubeError, server: String) -> DoctorCheck {
    if case .transport(.curl(let curl, _), _) = error, curl.isCertificateFailure {
      return .fail(
        "api.tls", .api, "the server's TLS certificate cannot be verified: \(curl.message)",
        hint: "check certificate-authority and tls-server-name of the cluster in your kubeconfig")
    }
    if error.isUnauthorized {
      return .fail(
        "api.reachable", .api, "\(server) rejected the credentials (401 Unauthorized)",
        hint: "log in again, or refresh the token or exec plugin of this kubeconfig user")
    }
    return .fail(
      "api.reachable", .api, "\(error)",
      hint: "check that the cluster runs and that --context/--server point at it; a VPN or HTTPS_PROXY may be needed")
  }
}

/// A SelfSubjectAccessReview per permission the plugin needs, and a Role that grants what is missing.
struct RBACCheck {
  let api: KubeAPI
  let namespace: String

  func checks() async -> [DoctorCheck] {
    let required = PluginPermission.required
    let answers = await withTaskGroup(of: (Int, Result<AccessReviewResult, KubeError>).self) { group in
      for (index, permission) in required.enumerated() {
        group.addTask { [api, namespace] in
          do throws(KubeError) {
            return (index, .success(try await api.accessReview(permission.attributes(namespace: namespace))))
          } catch {
            return (index, .failure(error))
          }
        }
      }
      var answers: [Int: Result<AccessReviewResult, KubeError>] = [:]
      for await (index, answer) in group { answers[index] = answer }
      return answers
    }
    var checks: [DoctorCheck] = []
    var missing: [PluginPermission] = []
    var unknown = 0
    for (index, permission) in required.enumerated() {
      let id = "rbac.\(permission.resourceName).\(permission.verb)"
      switch answers[index]! {
      case .success(let review) where review.allowed:
        checks.append(.pass(id, .rbac, "allowed: \(permission.description) in \(namespace)"))
      case .success(let review):
        missing.append(permission)
        let why = [review.reason, review.evaluationError].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: "; ")
        checks.append(
          .fail(
            id, .rbac, "denied: \(permission.description) in \(namespace) (needed \(permission.use))\(why.isEmpty ? "" : ": \(why)")",
            hint: "missing: \(permission.description) in namespace \(namespace); the Role under rbac.role grants it"))
      case .failure(let error):
        unknown += 1
        checks.append(
          .warn(
            id, .rbac, "could not ask about \(permission.description): \(error)",
            hint: "the cluster refused the access review (selfsubjectaccessreviews create); check with kubectl auth can-i"))
      }
    }
    if missing.isEmpty {
      if unknown == 0 { checks.append(.pass("rbac.role", .rbac, "all \(required.count) permissions granted in \(namespace)")) }
    } else {
      let role = GrantingRole(namespace: namespace, permissions: missing)
      checks.append(
        .fail(
          "rbac.role", .rbac,
          "missing \(missing.count) of \(required.count) permissions in \(namespace): \(missing.map(\.description).joined(separator: ", "))",
          hint: "ask a cluster administrator to apply this Role and bind it to you (\(role.bindCommand)), or use -n with a namespace where you have them",
          detail: role.yaml))
    }
    return checks
  }
}

/// The namespace's Pod Security labels, and a server-side dry run of the exact relay pod `proxy`
/// would create: Pod Security, quota, LimitRanges and admission webhooks all answer it.
struct AdmissionCheck {
  let api: KubeAPI
  let namespace: String
  let manifest: RelayPodManifest

  static let levels = ["enforce", "warn", "audit"]

  func checks() async -> [DoctorCheck] {
    [await podSecurityLabels(), await dryRun()]
  }

  func podSecurityLabels() async -> DoctorCheck {
    let id = "admission.pod-security"
    do {
      let labels = try await api.namespace(namespace).metadata.labels ?? [:]
      let found = Self.levels.compactMap { level -> String? in
        guard let value = labels["pod-security.kubernetes.io/\(level)"] else { return nil }
        let version = labels["pod-security.kubernetes.io/\(level)-version"].map { " (\($0))" } ?? ""
        return "\(level)=\(value)\(version)"
      }
      if found.isEmpty {
        return .pass(id, .admission, "namespace \(namespace) has no Pod Security labels (the cluster's default level applies)")
      }
      return .pass(id, .admission, "namespace \(namespace): \(found.joined(separator: ", "))")
    } catch {
      if error.isNotFound {
        return .fail(
          id, .admission, "namespace \(namespace) does not exist",
          hint: "choose an existing namespace with -n (kubectl get namespaces)")
      }
      if error.isForbidden {
        return .skip(id, .admission, "cannot read namespace \(namespace) (forbidden); the dry run below still tells")
      }
      return .warn(id, .admission, "cannot read namespace \(namespace): \(error)", hint: "check your connection and retry")
    }
  }

  func dryRun() async -> DoctorCheck {
    let id = "admission.dry-run"
    let body: Data
    do { body = try manifest.json() } catch {
      return .fail(id, .admission, "the relay pod manifest is invalid: \(error)", hint: "correct the relay pod flags")
    }
    do {
      _ = try await api.createPod(manifest: body, namespace: namespace, dryRun: true)
      return .pass(
        id, .admission, "the relay pod proxy would create is admitted in \(namespace) (server-side dry run)")
    } catch {
      let explained = RelayPodLauncher.explainCreate(error, manifest: manifest)
      switch explained.kind {
      case .forbidden:
        return .skip(
          id, .admission, "not tried: you may not create pods in \(namespace)",
          hint: "see the RBAC checks; with pods create granted, run doctor again")
      case .podSecurity:
        return .fail(id, .admission, "the relay pod is \(explained.cause)", hint: explained.fix)
      default:
        return .fail(id, .admission, "the relay pod was not admitted: \(explained.cause)", hint: explained.fix)
      }
    }
  }
}

/// Pods of this plugin left in the namespace: judged as `cleanup` judges them, so the pods of proxies
/// that still run are not counted.
struct LeftoverCheck {
  let api: KubeAPI
  let namespace: String

  func checks() async -> [DoctorCheck] {
    let id = "cleanup.leftovers"
    let plan = await PodCleaner(api: api).plan(CleanupRequest(namespace: namespace))
    if let error = plan.errors.first {
      return [.skip(id, .cleanup, "cannot list pods in \(namespace): \(error.message)")]
    }
    let orphans = plan.rows.filter { $0.verdict == .orphaned }.map(\.name).sorted()
    let active = plan.rows.filter { $0.verdict == .active }.count
    if orphans.isEmpty {
      return [
        .pass(
          id, .cleanup,
          active == 0 ? "no pods of this plugin in \(namespace)" : "no leftovers in \(namespace) (\(active) in use)")
      ]
    }
    let shown = orphans.prefix(5).joined(separator: ", ") + (orphans.count > 5 ? ", ..." : "")
    return [
      .warn(
        id, .cleanup, "\(orphans.count) orphaned pod\(orphans.count == 1 ? "" : "s") of this plugin in \(namespace): \(shown)",
        hint: "remove them: kubectl kftray cleanup -n \(namespace)")
    ]
  }
}
