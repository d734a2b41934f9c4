import ArgumentParser
import Dispatch
import Foundation
import KubeSandbox

#if canImport(Glibc)
  import Glibc
#endif

@main
struct KFTraySandbox: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kftray-sandbox",
    abstract: "A local Kubernetes API server for kubectl-kftray's tests, benchmarks and demo.",
    subcommands: [Up.self, Down.self, Restart.self, Serve.self])
}

struct ServerOptions: ParsableArguments {
  @Option(name: .long, help: "The sandbox directory (PKI, tokens, kubeconfig, log).")
  var dir: String

  @Option(name: .long, help: "The port on 127.0.0.1 (0 picks a free one).")
  var port: Int = 0

  @Option(name: .long, help: "How many past events resumable watches can reach back (older: 410 Expired).")
  var watchHistory: Int = 1000

  @Option(name: .long, help: "Seconds between the BOOKMARK events of watches that allow them (a real API server: 60).")
  var watchBookmarkInterval: Double = 60

  @Option(name: .long, help: "Stop the sandbox and remove its files when this process ends (for test runs).")
  var ownerPid: Int32?

  /// What `up` read of the owner (see `OwnerProcess`), for the server it starts.
  @Option(name: .long, help: .hidden)
  var ownerStartTime: String?

  @Flag(name: .long, help: "Only the API server: no cluster network and no node agent, so pods never run (no root needed).")
  var apiOnly = false

  @OptionGroup(title: "Joining an API server the sandbox did not start") var join: JoinArguments

  var files: SandboxFiles { SandboxFiles(directory: URL(fileURLWithPath: dir)) }
  var sandboxOptions: SandboxOptions {
    var options = SandboxOptions(port: port, watchHistory: watchHistory)
    options.owner = ownerPid.map { pid in
      ownerStartTime.map { OwnerProcess(pid: pid, startTime: $0) } ?? OwnerProcess(current: pid)
    }
    options.cluster = !apiOnly
    options.watchBookmarkInterval = watchBookmarkInterval
    options.join = join.options
    return options
  }

  func validate() throws {
    if apiOnly && join.kubeconfig != nil { throw ValidationError("--api-only and --join exclude each other") }
  }
}

/// `--join KUBECONFIG`: everything of the sandbox but its API server, as a node of another one.
struct JoinArguments: ParsableArguments {
  @Option(name: .customLong("join"), help: "Run only the node (network, DNS, seeded services, node agent, kubelet API) and register it with the API server of this kubeconfig, which holds the node's identity.")
  var kubeconfig: String?
  @Option(name: .customLong("join-context"), help: "The context of the --join kubeconfig (default: its current context).")
  var context: String?
  @Option(help: "The Node name to register (with --join).") var nodeName: String?
  @Option(help: "The kubelet port on 127.0.0.1 (with --join; 0 picks a free one).") var kubeletPort: Int = 0
  @Option(help: "The kubelet API's serving certificate (PEM) the API server trusts (with --join).")
  var kubeletCert: String?
  @Option(help: "The kubelet API's serving key (PEM) (with --join).") var kubeletKey: String?
  @Option(help: "The CA of the API server's kubelet client certificate (PEM) (with --join).")
  var kubeletClientCa: String?
  @Option(help: "Client certificate CommonNames the kubelet API serves (with --join; repeatable).")
  var kubeletAuthorizedUser: [String] = JoinOptions.defaultAuthorizedUsers

  var options: JoinOptions? {
    guard let kubeconfig, let nodeName, let kubeletCert, let kubeletKey, let kubeletClientCa else { return nil }
    var options = JoinOptions(
      kubeconfig: kubeconfig, nodeName: nodeName, servingCertificateFile: kubeletCert, servingKeyFile: kubeletKey,
      clientCAFile: kubeletClientCa)
    options.context = context
    options.kubeletPort = kubeletPort
    options.authorizedUsers = kubeletAuthorizedUser
    return options
  }

  func validate() throws {
    guard kubeconfig != nil else { return }
    let missing = [("--node-name", nodeName), ("--kubelet-cert", kubeletCert), ("--kubelet-key", kubeletKey),
      ("--kubelet-client-ca", kubeletClientCa)].filter { $0.1 == nil }.map(\.0)
    if !missing.isEmpty { throw ValidationError("--join needs \(missing.joined(separator: ", ")) too") }
  }
}

/// One request per line on standard output (the daemon's `apiserver.log`).
struct RequestLogOption: ParsableArguments {
  @Flag(name: .long, inversion: .prefixedNo, help: "Log one line per request.")
  var requestLog = true
}

struct Up: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Start the sandbox in the background and write DIR/kubeconfig.")

  @OptionGroup var options: ServerOptions

  func run() async throws {
    if !options.apiOnly, let problem = ClusterRequirements.problem(binDirectory: SandboxServer.ownDirectory()) {
      FileHandle.standardError.write(Data("kftray-sandbox: \(problem)\n".utf8))
      throw ExitCode.failure
    }
    do {
      let written = try await Daemon.up(
        executable: SandboxServer.executablePath(), files: options.files, options: options.sandboxOptions)
      if let join = options.join.options {
        // node.joined: "<name> <kubelet port>".
        let port = (try? String(contentsOfFile: written, encoding: .utf8))?.split(separator: " ").last?
          .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        print("joined node \(join.nodeName), kubelet https://127.0.0.1:\(port)")
      } else {
        print(written)
      }
    } catch let failure as Daemon.Failure {
      FileHandle.standardError.write(Data("kftray-sandbox: \(failure)\n".utf8))
      throw ExitCode.failure
    }
  }

}

struct Down: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Stop the sandbox of DIR and remove the files `up` made (safe to repeat).")

  @Option(name: .long, help: "The sandbox directory.")
  var dir: String

  func run() throws {
    let files = SandboxFiles(directory: URL(fileURLWithPath: dir))
    if Daemon.down(files: files) {
      print("stopped the sandbox in \(files.directory.path)")
    } else {
      print("no sandbox running in \(files.directory.path)")
    }
  }
}

struct Restart: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Restart the API server of DIR: it saves its objects on SIGTERM, and starts again on the same port with the same PKI, tokens and objects (resourceVersions kept).")

  @Option(name: .long, help: "The sandbox directory.")
  var dir: String

  func run() async throws {
    do {
      let port = try await Daemon.restart(files: SandboxFiles(directory: URL(fileURLWithPath: dir)))
      print("restarted the API server on https://127.0.0.1:\(port)")
    } catch let failure as Daemon.Failure {
      FileHandle.standardError.write(Data("kftray-sandbox: \(failure)\n".utf8))
      throw ExitCode.failure
    }
  }
}

struct Serve: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the sandbox API server in the foreground (what `up` starts).")

  /// Seconds a stop may take after SIGTERM before the process ends anyway (under `down`'s 5 s grace).
  static let stopDeadline: Double = 3

  @OptionGroup var options: ServerOptions
  @OptionGroup var logging: RequestLogOption

  func run() async throws {
    if let join = options.join.options {
      try await runJoined(join)
      return
    }
    var sandboxOptions = options.sandboxOptions
    let output = FileHandle.standardOutput
    if logging.requestLog {
      sandboxOptions.requestLog = { line in output.write(Data("\(Date().formatted(.iso8601)) \(line)\n".utf8)) }
    }
    sandboxOptions.nodeLog = { line in output.write(Data("\(Date().formatted(.iso8601)) node: \(line)\n".utf8)) }
    let sandbox = try await SandboxServer.start(directory: options.files.directory, options: sandboxOptions)
    // Unbuffered, so the log shows it at once.
    FileHandle.standardOutput.write(
      Data("kftray-sandbox: serving \(sandbox.serverURL)\nkftray-sandbox: kubeconfig \(sandbox.kubeconfigPath)\n".utf8))
    FileHandle.standardOutput.write(
      Data("kftray-sandbox: node \(sandbox.kubelet.nodeName), kubelet https://127.0.0.1:\(sandbox.kubelet.port)\n".utf8))
    // SIGTERM/SIGINT: save the store first (for `restart`), here on the signal's dispatch queue, then
    // close everything. The save must not wait for the graceful part: that runs on the cooperative
    // pool and the event loops, either of which may be busy or blocked, and `restart` (like `down`)
    // kills a server that does not end in time.
    let storePath = options.files.store.path
    let stopDeadline = Self.stopDeadline
    let apiOnly = !sandboxOptions.cluster
    let signals = ([SIGTERM, SIGINT] as [Int32]).map { number -> DispatchSourceSignal in
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number)
      source.setEventHandler {
        do {
          let saved = try sandbox.saveStore()
          output.write(Data("kftray-sandbox: saved \(saved.objects) objects at resourceVersion \(saved.resourceVersion) to \(storePath)\n".utf8))
        } catch {
          output.write(Data("kftray-sandbox: could not save the store: \(error)\n".utf8))
        }
        // The API server alone has nothing to tidy that a cut-short stop would leave behind; the full
        // sandbox's node (pods, network) gets all of `down`'s grace, and `down` removes what is left.
        if apiOnly {
          Thread.detachNewThread {
            Thread.sleep(forTimeInterval: stopDeadline)
            output.write(Data("kftray-sandbox: the graceful stop took over \(stopDeadline) s; exiting\n".utf8))
            Glibc.exit(0)
          }
        }
        Task {
          output.write(Data("kftray-sandbox: stopping\n".utf8))
          await sandbox.shutdown()
          output.write(Data("kftray-sandbox: stopped\n".utf8))
          Glibc.exit(0)
        }
      }
      source.resume()
      return source
    }
    if let owner = sandboxOptions.owner {
      let files = options.files
      owner.watch {
        // Files first: once the server is shut down, `run` returns and the process may end at once.
        files.removeAll()
        Task {
          await sandbox.shutdown()
          Glibc.exit(0)
        }
      }
    }
    await sandbox.waitUntilClosed()
    withExtendedLifetime(signals) {}
  }

  /// `serve --join`: the node alone until SIGTERM/SIGINT or the end of `--owner-pid`.
  func runJoined(_ join: JoinOptions) async throws {
    let output = FileHandle.standardOutput
    let node = try await JoinedNode.start(
      files: options.files, options: join, binDirectory: SandboxServer.ownDirectory(),
      log: { line in output.write(Data("\(Date().formatted(.iso8601)) node: \(line)\n".utf8)) })
    output.write(Data("kftray-sandbox: joined node \(node.nodeName), kubelet https://127.0.0.1:\(node.kubeletPort)\n".utf8))
    let (stops, continuation) = AsyncStream<Void>.makeStream()
    let signals = ([SIGTERM, SIGINT] as [Int32]).map { number -> DispatchSourceSignal in
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number)
      source.setEventHandler { continuation.yield() }
      source.resume()
      return source
    }
    if let owner = options.sandboxOptions.owner {
      owner.watch { continuation.yield() }
    }
    for await _ in stops { break }
    await node.shutdown()
    options.files.removeAll()
    output.write(Data("kftray-sandbox: stopped\n".utf8))
    withExtendedLifetime(signals) {}
  }
}
