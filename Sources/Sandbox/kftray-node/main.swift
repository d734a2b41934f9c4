import ArgumentParser
import Foundation
import KubeClient
import KubeletAPI
import NIOPosix
import NodeAgent

/// The node agent on its own: points at any API server (the sandbox, or a real kube-apiserver) with a
/// kubeconfig, runs pods as local processes in bare network namespaces (loopback only), and, given a
/// serving certificate and the CA of the API server's kubelet client certificate (as a kubelet's
/// `--tls-cert-file`, `--tls-private-key-file` and `--client-ca-file`), serves their logs and
/// port-forwards on the kubelet port.
@main
struct KFTrayNode: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kftray-node",
    abstract: "A kubelet for local processes: registers a Node and runs the pods bound to it.")

  @Option(help: "The kubeconfig with the node's credentials.") var kubeconfig: String
  @Option(help: "The kubeconfig context to use (default: its current context).") var context: String?
  @Option(help: "The Node name to register.") var nodeName: String
  @Option(help: "The kubelet port: served when the TLS files are given, and written into the Node (daemonEndpoints.kubeletEndpoint.Port).")
  var kubeletPort: Int
  @Option(help: "The kubelet API's serving certificate (PEM); without it the kubelet API is not served.")
  var tlsCertFile: String?
  @Option(help: "The kubelet API's serving key (PEM).") var tlsPrivateKeyFile: String?
  @Option(help: "The CA that signs the API server's kubelet client certificate (PEM).") var clientCaFile: String?
  @Option(help: "Client certificate CommonNames the kubelet API serves (repeatable).")
  var authorizedUser: [String] = [KubeletServer.apiServerUser]
  @Option(help: "Where the agent keeps what must survive a crash.") var stateDir: String
  @Option(help: "Where container logs go (<ns>_<pod>_<uid>/<container>/<n>.log).") var logRoot: String
  @Option(help: "Where kftray-relay and kftray-testserver are (default: next to this program).") var binDir: String?

  func run() async throws {
    var overrides = ConfigOverrides()
    overrides.kubeconfig = kubeconfig
    overrides.context = context
    let config = try KubeconfigLoader().load(overrides)
    var api = KubeAPI(config: config, credentials: KubeCredentials(config: config))
    api.fieldManager = "kftray-node"
    let network = BareNamespaceNetwork(id: BareNamespaceNetwork.id(forNode: nodeName))
    network.removeLeftovers()
    let binDirectory = binDir ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
      .deletingLastPathComponent().path
    let agent = NodeAgent(
      configuration: NodeAgentConfiguration(
        nodeName: nodeName, api: api, network: network, binDirectory: binDirectory, logRoot: logRoot,
        stateDirectory: stateDir))
    let kubelet = try await startKubelet(agent: agent)
    let (stops, sources) = StopSignals.stream()
    defer { withExtendedLifetime(sources) {} }
    let runner = Task { try await agent.run(kubeletPort: kubeletPort) }
    let stopper = Task {
      for await _ in stops { break }
      await agent.stop()
    }
    do {
      try await runner.value
    } catch {
      await agent.stop()
      throw error
    }
    await stopper.value
    await kubelet?.close()
    network.removeLeftovers()
  }

  func validate() throws {
    let tls = [tlsCertFile, tlsPrivateKeyFile, clientCaFile].compactMap { $0 }
    guard tls.isEmpty || tls.count == 3 else {
      throw ValidationError("--tls-cert-file, --tls-private-key-file and --client-ca-file go together")
    }
  }

  /// The kubelet API on 127.0.0.1:kubeletPort (the Node's InternalIP), when its TLS files are given.
  func startKubelet(agent: NodeAgent) async throws -> KubeletServer? {
    guard let tlsCertFile, let tlsPrivateKeyFile, let clientCaFile else {
      FileHandle.standardError.write(
        Data("kftray-node: no --tls-cert-file: the kubelet API (logs, port-forward) is not served\n".utf8))
      return nil
    }
    let configuration = KubeletConfiguration(
      nodeName: nodeName, host: "127.0.0.1", port: kubeletPort,
      servingCertificatePEM: try String(contentsOfFile: tlsCertFile, encoding: .utf8),
      servingKeyPEM: try String(contentsOfFile: tlsPrivateKeyFile, encoding: .utf8),
      clientCAPEM: try String(contentsOfFile: clientCaFile, encoding: .utf8), authorizedUsers: Set(authorizedUser))
    return try await KubeletServer.start(
      configuration: configuration, pods: agent, dialer: NetnsPodPortDialer(), group: MultiThreadedEventLoopGroup.singleton)
  }
}

/// SIGTERM and SIGINT as a stream, delivered through Dispatch sources rather than handlers (a handler
/// may do almost nothing). The sources must be kept alive for as long as the stream is used.
enum StopSignals {
  static func stream() -> (AsyncStream<Void>, [any DispatchSourceSignal]) {
    let (stream, continuation) = AsyncStream<Void>.makeStream()
    var sources: [any DispatchSourceSignal] = []
    for number in [SIGTERM, SIGINT] {
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler { continuation.yield() }
      source.resume()
      sources.append(source)
    }
    return (stream, sources)
  }
}
