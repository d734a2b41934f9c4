import Foundation
import KFTray
import KubeClient

/// Context, cluster and user names from the kubeconfig as kubectl merges it (`--kubeconfig`, else
/// `KUBECONFIG`, else ~/.kube/config). No credentials, no network.
struct KubeconfigNames: Sendable {
  let line: CommandLineWords

  func contexts() -> [String] { (try? KubeconfigLoader().contextNames(line.connection.overrides)) ?? [] }
  func clusters() -> [String] { (try? KubeconfigLoader().clusterNames(line.connection.overrides)) ?? [] }
  func users() -> [String] { (try? KubeconfigLoader().userNames(line.connection.overrides)) ?? [] }
}

/// What only the API server knows. A TAB must not hang: every call gets `deadline` at most and
/// any failure (no cluster, no rights, slow exec plugin) means no suggestions.
struct ClusterNames: Sendable {
  let line: CommandLineWords
  var deadline: Duration = .seconds(2)

  func namespaces() async -> [String] {
    await withClient { api in try await api.namespaceNames().sorted() } ?? []
  }

  /// Services in every namespace, else (without the right to list them cluster-wide) in the namespace
  /// the command would use.
  func services() async -> [Service] {
    await withClient { api in
      do {
        return try await api.listServices(namespace: nil).items
      } catch {
        return try await api.listServices(namespace: api.config.namespace).items
      }
    } ?? []
  }

  private func withClient<T: Sendable>(_ body: @escaping @Sendable (KubeAPI) async throws -> T) async -> T? {
    var options = line.connection
    if options.requestTimeout == nil { options.requestTimeout = "\(deadline.components.seconds)s" }
    guard let api = try? options.makeClient() else { return nil }
    defer { api.shutdown() }
    let deadline = self.deadline
    return await withTaskGroup(of: T?.self) { group in
      group.addTask { try? await body(api) }
      group.addTask {
        try? await Task.sleep(for: deadline)
        return nil
      }
      let first = await group.next() ?? nil
      group.cancelAll()
      return first
    }
  }
}

/// The proxy entries of the kftray file given with -f, for `--alias` and target suggestions.
struct KFTrayFileSuggestions: Sendable {
  let line: CommandLineWords

  func entries() -> [KFTrayProxyEntry] {
    guard let path = line.kftrayFile, let file = try? KFTrayConfigFile.load(path: path) else { return [] }
    return file.proxies
  }
}

/// `host:port` targets for proxy and doctor: the kftray file's entries, then the cluster's Services as
/// `NAME.NAMESPACE.svc.cluster.local:PORT` (`/udp` for UDP ports). A typed `LOCAL_PORT:` is kept.
struct TargetSuggestions: Sendable {
  let line: CommandLineWords

  func candidates(matching current: String) async -> [Candidate] {
    var localPrefix = ""
    if let colon = current.firstIndex(of: ":"), !current[..<colon].isEmpty, current[..<colon].allSatisfy(\.isNumber) {
      localPrefix = String(current[...colon])
    }
    var result: [Candidate] = []
    for entry in KFTrayFileSuggestions(line: line).entries() {
      let remote = entry.target.remote + (entry.target.transport == .udp ? "/udp" : "")
      result.append(Candidate(value: remote, description: entry.alias.map { "kftray file: \($0)" } ?? "kftray file"))
    }
    for service in await ClusterNames(line: line).services() {
      guard let host = service.dnsName() else { continue }
      for port in service.spec?.ports ?? [] where ["TCP", "UDP", nil].contains(port.protocol) {
        let udp = port.protocol == "UDP"
        result.append(
          Candidate(
            value: "\(host):\(port.port)" + (udp ? "/udp" : ""),
            description: "Service \(service.metadata.namespace ?? "")/\(service.metadata.name ?? "")"))
      }
    }
    var seen = Set<String>()
    return result.filter { seen.insert($0.value).inserted }
      .map { Candidate(value: localPrefix + $0.value, description: $0.description) }
      .filter { $0.value.hasPrefix(current) }
  }
}
