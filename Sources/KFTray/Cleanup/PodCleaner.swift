import Foundation
import KubeClient

/// What `cleanup` was asked to do.
public struct CleanupRequest: Sendable {
  /// nil: every namespace (`-A`).
  public var namespace: String?
  /// Delete active pods too (`--all`).
  public var includeActive = false
  public var dryRun = false
  /// Only pods older than this (`--older-than`).
  public var olderThan: TimeInterval?
  /// Narrows the pods (`--selector`), in addition to the plugin's own labels.
  public var selector: String?
  /// Also find (and delete) the kftray desktop app's pods (`--include-kftray`).
  public var includeKFTray = false
  /// A heartbeat older than this makes a pod orphaned (`--stale-after`).
  public var staleAfter: TimeInterval = 120

  public init(namespace: String?) { self.namespace = namespace }
}

/// One pod in `cleanup`'s answer.
public struct CleanupRow: Sendable, Codable, Equatable {
  public enum Action: String, Sendable, Codable {
    case deleted, kept
    /// `--dry-run`: what would happen.
    case wouldDelete = "would-delete"
    case failed
  }
  public var namespace: String
  public var name: String
  public var kind: PluginPod.Kind
  public var owner: String?
  public var ageSeconds: Int?
  public var target: String?
  public var heartbeatAgeSeconds: Int?
  public var verdict: CleanupVerdict.Status
  public var reason: String
  public var action: Action
  public var error: String?
}

/// A namespace `cleanup` could not list or delete in, with the server's reason.
public struct CleanupNamespaceError: Sendable, Codable, Equatable {
  public var namespace: String
  public var message: String
}

public struct CleanupReport: Sendable, Codable, Equatable {
  public var rows: [CleanupRow]
  public var errors: [CleanupNamespaceError]
  /// Only listed (`--dry-run`): the summary says what would happen.
  public var dryRun = false

  public init(rows: [CleanupRow], errors: [CleanupNamespaceError]) {
    self.rows = rows
    self.errors = errors
  }

  public var deleted: Int { rows.filter { $0.action == .deleted }.count }
  public var wouldDelete: Int { rows.filter { $0.action == .wouldDelete }.count }
  public var kept: Int { rows.filter { $0.action == .kept }.count }
  public var failed: Int { rows.filter { $0.action == .failed }.count }
  public var succeeded: Bool { errors.isEmpty && failed == 0 }

  /// `deleted 3 pods, kept 1 active`.
  public var summary: String {
    func pods(_ n: Int) -> String { n == 1 ? "1 pod" : "\(n) pods" }
    var parts =
      dryRun
      ? ["would delete \(pods(wouldDelete))", "keep \(kept) active"] : ["deleted \(pods(deleted))", "kept \(kept) active"]
    if failed > 0 { parts.append("failed to delete \(failed)") }
    if !errors.isEmpty { parts.append("\(errors.count) namespace\(errors.count == 1 ? "" : "s") with errors") }
    return parts.joined(separator: ", ")
  }
}

/// Finds this plugin's pods (and on request the kftray app's), judges them and deletes what the
/// request asks for. Errors are kept per namespace: one forbidden namespace does not hide the others.
public struct PodCleaner: Sendable {
  public let api: KubeAPI
  public var probe: OwnerProbe = .local

  public init(api: KubeAPI) { self.api = api }

  public static let pluginSelector = "\(RelayLabels.managedBy)=\(RelayLabels.manager)"

  /// Lists and judges; nothing is deleted.
  public func plan(_ request: CleanupRequest, now: Date = Date()) async -> CleanupReport {
    var errors: [CleanupNamespaceError] = []
    var pods: [Pod] = []
    let ownSelector = [Self.pluginSelector, request.selector].compactMap { $0 }.joined(separator: ",")
    for (namespace, result) in await list(request.namespace, selector: ownSelector) {
      switch result {
      case .success(let found): pods += found
      case .failure(let error): errors.append(CleanupNamespaceError(namespace: namespace, message: Self.explain(error, verb: "list")))
      }
    }
    if request.includeKFTray {
      let selector = ["config_id", request.selector].compactMap { $0 }.joined(separator: ",")
      for (_, result) in await list(request.namespace, selector: selector) {
        if case .success(let found) = result { pods += found.filter(PluginPod.isKFTrayAppPod) }
      }
    }
    var rows: [CleanupRow] = []
    for pod in pods {
      let p = PluginPod(pod)
      if p.terminating { continue }
      let age = p.created.map { now.timeIntervalSince($0) }
      if let olderThan = request.olderThan, (age ?? 0) < olderThan { continue }
      let verdict = p.verdict(now: now, staleAfter: request.staleAfter, probe: probe)
      let delete: Bool
      switch verdict.status {
      case .orphaned: delete = true
      case .active: delete = request.includeActive
      case .kftray: delete = request.includeKFTray
      }
      rows.append(
        CleanupRow(
          namespace: p.namespace, name: p.name, kind: p.kind,
          owner: p.ownerUser.map { user in "\(user)@\(p.ownerHost ?? "?")" + (p.ownerPID.map { " pid \($0)" } ?? "") },
          ageSeconds: age.map { Int($0) }, target: p.target,
          heartbeatAgeSeconds: p.heartbeat.map { Int(now.timeIntervalSince($0)) }, verdict: verdict.status,
          reason: verdict.reason, action: delete ? .wouldDelete : .kept))
    }
    rows.sort { ($0.namespace, $0.kind.rawValue, $0.name) < ($1.namespace, $1.kind.rawValue, $1.name) }
    return CleanupReport(rows: rows, errors: errors)
  }

  /// Deletes the planned pods (grace 0), each only in the incarnation that was judged.
  public func execute(_ plan: CleanupReport, uids: [String: String] = [:]) async -> CleanupReport {
    var report = plan
    var denied: Set<String> = []
    for i in report.rows.indices where report.rows[i].action == .wouldDelete {
      let row = report.rows[i]
      if denied.contains(row.namespace) {
        report.rows[i].action = .failed
        continue
      }
      do {
        try await api.deletePod(row.name, namespace: row.namespace, gracePeriodSeconds: 0)
        report.rows[i].action = .deleted
      } catch where error.isNotFound {
        report.rows[i].action = .deleted
      } catch {
        report.rows[i].action = .failed
        report.rows[i].error = error.status?.message ?? error.description
        if error.isForbidden {
          denied.insert(row.namespace)
          report.errors.append(CleanupNamespaceError(namespace: row.namespace, message: Self.explain(error, verb: "delete")))
        }
      }
    }
    return report
  }

  /// One namespace, or all: cluster-wide when allowed, else namespace by namespace.
  private func list(_ namespace: String?, selector: String) async -> [(String, Result<[Pod], KubeError>)] {
    if let namespace {
      do { return [(namespace, .success(try await api.listPods(namespace: namespace, labelSelector: selector).items))] } catch {
        return [(namespace, .failure(error))]
      }
    }
    do {
      return [("*", .success(try await api.listPods(namespace: nil, labelSelector: selector).items))]
    } catch where error.isForbidden {
      // No cluster-wide list: ask each namespace, so the ones allowed still answer.
      let names: [String]
      do { names = try await api.namespaceNames() } catch {
        return [("*", .failure(error))]
      }
      var results: [(String, Result<[Pod], KubeError>)] = []
      for name in names {
        do { results.append((name, .success(try await api.listPods(namespace: name, labelSelector: selector).items))) } catch {
          results.append((name, .failure(error)))
        }
      }
      return results
    } catch {
      return [("*", .failure(error))]
    }
  }

  static func explain(_ error: KubeError, verb: String) -> String {
    let message = error.status?.message ?? error.description
    if error.isForbidden {
      return "not allowed to \(verb) pods: \(message) (ask for pods \(verb) in this namespace, or leave it out with -n)"
    }
    return message
  }
}
