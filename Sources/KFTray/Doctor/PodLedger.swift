import KubeClient
import Synchronization

/// The pods one doctor run created, so that every exit path (the end, a failure, Ctrl-C) deletes
/// them. A pod is written down before its create request is sent: a request that lands after an
/// interruption is still deleted.
final class PodLedger: Sendable {
  struct Entry: Sendable {
    var name: String
    var namespace: String
    var api: KubeAPI
  }

  private let entries = Mutex<[Entry]>([])

  func record(_ name: String, namespace: String, api: KubeAPI) {
    entries.withLock { $0.append(Entry(name: name, namespace: namespace, api: api)) }
  }

  /// Forgets a pod whose create the server refused: there is nothing to delete.
  func forget(_ name: String) {
    entries.withLock { $0.removeAll { $0.name == name } }
  }

  /// Deletes one pod (grace 0) and forgets it once it is gone.
  func delete(_ name: String) async -> KubeError? {
    guard let entry = entries.withLock({ $0.first { $0.name == name } }) else { return nil }
    let error = await RelayPodLauncher(api: entry.api).delete(pod: entry.name, namespace: entry.namespace)
    if error == nil { entries.withLock { $0.removeAll { $0.name == name } } }
    return error
  }

  /// Deletes every pod still recorded; returns those that could not be deleted, with why.
  func deleteAll() async -> [(pod: String, namespace: String, error: KubeError)] {
    let pending = entries.withLock { $0 }
    var failures: [(pod: String, namespace: String, error: KubeError)] = []
    for entry in pending {
      if let error = await delete(entry.name) { failures.append((entry.name, entry.namespace, error)) }
    }
    return failures
  }
}
