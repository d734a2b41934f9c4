import Foundation
import KubeClient
import Synchronization
import Testing
import TestSupport

@testable import NodeAgent

/// A fresh sandbox of its own (the agent binds every unscheduled pod, so it must not share the test
/// process's common sandbox) with a node agent running in this process under the sandbox's node
/// identity (`node.kubeconfig`).
actor AgentFixture {
  static let shared = AgentFixture()

  struct Running: Sendable {
    var sandbox: OwnSandbox
    var agent: NodeAgent
    var nodeName: String
    var kubeletPort: Int
    var logRoot: String
    var network: BareNamespaceNetwork
    /// The agent's diagnostics (failed writes and their retries among them).
    var agentLog: String

    /// The agent's log lines that mention `text`, for failure messages.
    func agentLogLines(mentioning text: String) -> String {
      let log = (try? String(contentsOfFile: agentLog, encoding: .utf8)) ?? ""
      return log.split(separator: "\n").filter { $0.contains(text) }.joined(separator: "\n")
    }
  }

  private var running: Running?

  func start() async throws -> Running {
    if let running { return running }
    var sandbox = try OwnSandbox.start()
    let suffix = String(UUID().uuidString.prefix(6)).lowercased()
    let nodeName = "agent-\(suffix)"
    let network = BareNamespaceNetwork(id: "t\(suffix.prefix(4))")
    Leftovers.register(networkPrefix: network.prefix)
    let scratch = try Teardown.temporaryDirectory("kftray-node-test")
    let port = try freeLoopbackPort()
    var configuration = NodeAgentConfiguration(
      nodeName: nodeName, api: try sandbox.client(kubeconfig: sandbox.nodeKubeconfig), network: network,
      binDirectory: Binaries.directory, logRoot: scratch + "/logs", stateDirectory: scratch + "/state")
    configuration.heartbeatInterval = .seconds(2)
    // Diagnostics to a file: at exit the sandbox goes before the agent, whose watches then complain.
    let agentLog = scratch + "/agent.log"
    sandbox.agentLog = agentLog
    configuration.log = { line in
      guard let handle = FileHandle(forWritingAtPath: agentLog) ?? {
        FileManager.default.createFile(atPath: agentLog, contents: nil)
        return FileHandle(forWritingAtPath: agentLog)
      }() else { return }
      handle.seekToEndOfFile()
      handle.write(Data((line + "\n").utf8))
      try? handle.close()
    }
    let agent = NodeAgent(configuration: configuration)
    Task {
      // Every test of the suite then fails waiting for the node: say why once.
      do { try await agent.run(kubeletPort: port) } catch {
        FileHandle.standardError.write(Data("the node agent of \(nodeName) ended: \(error)\n".utf8))
      }
    }
    let r = Running(
      sandbox: sandbox, agent: agent, nodeName: nodeName, kubeletPort: port, logRoot: scratch + "/logs", network: network,
      agentLog: agentLog)
    running = r
    return r
  }
}

/// A sandbox started for these tests only (`kftray-sandbox up`), stopped when the process exits.
struct OwnSandbox: Sendable {
  var directory: String
  /// The log of the agent serving this sandbox, if any: its last lines go into a wait's failure
  /// (pods have sat unstarted for 60 s under the full suite, cause not yet known).
  var agentLog: String?
  var kubeconfig: String { directory + "/kubeconfig" }
  var nodeKubeconfig: String { directory + "/node.kubeconfig" }

  static func start() throws -> OwnSandbox {
    let dir = try Teardown.temporaryDirectory("kftray-node-sandbox")
    let result = try Binaries.run(Binaries.path("kftray-sandbox"), ["up", "--api-only", "--dir", dir, "--owner-pid", String(getpid())])
    guard result.status == 0 else {
      throw SandboxError("kftray-sandbox up failed (\(result.status)): \(result.stderr)\(result.stdout)")
    }
    Teardown.register(dir)
    return OwnSandbox(directory: dir)
  }

  func client(kubeconfig: String? = nil, context: String? = nil) throws -> KubeAPI {
    var overrides = ConfigOverrides()
    overrides.kubeconfig = kubeconfig ?? self.kubeconfig
    overrides.context = context
    let config = try KubeconfigLoader(environment: ["HOME": directory]).load(overrides)
    return KubeAPI(config: config, credentials: KubeCredentials(config: config))
  }

  /// Real kubectl as the sandbox admin.
  @discardableResult
  func kubectl(_ arguments: [String]) async throws -> Binaries.Result {
    try await Binaries.runOffPool("/usr/bin/kubectl", ["--kubeconfig", kubeconfig] + arguments)
  }

  /// Polls the pod until `condition` holds; returns it. Fails with the last pod seen.
  func waitForPod(
    _ name: String, namespace: String = "default", seconds: Double = 60, _ condition: (Pod) -> Bool
  ) async throws -> Pod {
    let api = try client()
    let deadline = ContinuousClock.now + .seconds(seconds)
    var last: Pod?
    while ContinuousClock.now < deadline {
      if let pod = try? await api.pod(name, namespace: namespace) {
        last = pod
        if condition(pod) { return pod }
      }
      try await Task.sleep(for: .milliseconds(200))
    }
    let agentTail = agentLog.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }
      .map { "\nthe agent's last log lines:\n" + $0.split(separator: "\n").suffix(30).joined(separator: "\n") } ?? ""
    throw SandboxError(
      "pod \(namespace)/\(name) did not reach the expected state; last seen: \(String(describing: last?.status))\(agentTail)")
  }

  /// Waits until the pod is gone from the API.
  func waitForPodGone(_ name: String, namespace: String = "default", seconds: Double = 60) async throws {
    let api = try client()
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
      do {
        _ = try await api.pod(name, namespace: namespace)
      } catch {
        if case .api(_, let code) = error, code == 404 { return }
      }
      try await Task.sleep(for: .milliseconds(200))
    }
    throw SandboxError("pod \(namespace)/\(name) still exists")
  }
}

/// An API server that is away until `answer()`: a copy of `kubeconfig` whose server is a loopback
/// port where nothing listens yet. `answer()` starts a plain TCP relay there to the real server, whose
/// certificate names 127.0.0.1, so TLS verifies as before.
struct AwayAPIServer {
  /// The copy to hand to the client under test.
  let kubeconfig: String
  private let relayPort: Int
  private let apiPort: String
  private let scratch: String

  init(copying original: String, into scratch: String) throws {
    let server = try SplitSandbox.serverURL(kubeconfig: original)
    apiPort = try #require(server.split(separator: ":").last.map(String.init))
    relayPort = try freeLoopbackPort()
    self.scratch = scratch
    kubeconfig = scratch + "/away.kubeconfig"
    try String(contentsOfFile: original, encoding: .utf8)
      .replacingOccurrences(of: server, with: "https://127.0.0.1:\(relayPort)")
      .write(toFile: kubeconfig, atomically: true, encoding: .utf8)
  }

  /// The server answers from now on, until the returned relay is stopped.
  func answer() throws -> BackgroundProcess {
    try BackgroundProcess(
      Binaries.path("kftray-bench"),
      ["delay-proxy", "--listen", "127.0.0.1:\(relayPort)", "--to", "127.0.0.1:\(apiPort)", "--rtt", "0ms"],
      logPath: scratch + "/relay.log")
  }
}

/// Kills what a failed test run left in this process's pod namespaces and removes them, at exit.
enum Leftovers {
  private static let prefixes = Mutex<[String]>([])
  private static let installed: Void = {
    atexit {
      for prefix in Leftovers.prefixes.withLock({ $0 }) { Leftovers.removeNamespaces(prefix: prefix) }
    }
  }()

  static func register(networkPrefix: String) {
    _ = installed
    prefixes.withLock { $0.append(networkPrefix) }
  }

  static func removeNamespaces(prefix: String) {
    for netns in BareNamespaceNetwork.namespaces() where netns.hasPrefix(prefix) {
      for pid in pids(inNamespace: netns) { kill(pid, SIGKILL) }
      _ = try? Binaries.run("/usr/sbin/ip", ["netns", "del", netns])
      try? FileManager.default.removeItem(atPath: "/etc/netns/\(netns)")
    }
  }

  static func pids(inNamespace netns: String) -> [pid_t] {
    let output = (try? Binaries.run("/usr/sbin/ip", ["netns", "pids", netns]).stdout) ?? ""
    return output.split(separator: "\n").compactMap { pid_t(String($0)) }
  }
}

func processExists(_ pid: pid_t) -> Bool {
  FileManager.default.fileExists(atPath: "/proc/\(pid)")
}

func uniqueName(_ prefix: String) -> String {
  "\(prefix)-\(UUID().uuidString.prefix(6).lowercased())"
}

func readLog(root: String, pod: Pod, container: String, restart: Int = 0) -> String {
  let path = "\(root)/\(pod.metadata.namespace ?? "")_\(pod.metadata.name ?? "")_\(pod.metadata.uid ?? "")/\(container)/\(restart).log"
  return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
}
