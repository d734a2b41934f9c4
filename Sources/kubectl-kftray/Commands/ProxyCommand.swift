import ArgumentParser
import Foundation
import KFTray
import KubeClient
import KFTrayRelay
import PortForward
import Synchronization

struct ProxyCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "proxy",
    abstract: "Forward local ports to addresses that only the cluster can reach.",
    usage: """
      kubectl kftray proxy [flags] [LOCAL_PORT:]REMOTE_ADDRESS:REMOTE_PORT[/udp]...
        kubectl kftray proxy [flags] -f FILE [--alias ALIAS]...
        kubectl kftray proxy [flags] --socks [ADDRESS:]PORT [--http-connect [ADDRESS:]PORT] [--allow RULE]...
      """,
    discussion: """
      For each target, creates a relay pod (the kftray-server relay) in the namespace given with -n, \
      port-forwards to it through the API server and relays local traffic to REMOTE_ADDRESS:REMOTE_PORT, \
      which is resolved and dialled inside the cluster. The local port defaults to the remote port. \
      A relay pod that is deleted or fails is replaced without closing the local port. SIGINT, SIGTERM \
      and SIGHUP delete every relay pod of the run and exit 0; a second Ctrl-C exits at once after a \
      last delete attempt.

      Examples:
        kubectl kftray proxy 8080:internal-service.cluster.local:80
        kubectl kftray proxy database.region.rds.amazonaws.com:5432 -n dev
        kubectl kftray proxy 5353:udp-echo.default.svc.cluster.local:5353/udp
        kubectl kftray proxy -f kftray-configs.json --alias db
        kubectl kftray proxy --socks 1080 --allow '*.cluster.local'   # any destination, one relay pod

      Exit status: 0 stopped by a signal, 1 could not start (the message says why and what to do), \
      64 usage error, 130 a second Ctrl-C.
      """)

  @OptionGroup var connection: ConnectionOptions

  @Argument(help: ArgumentHelp("Targets: [LOCAL_PORT:]REMOTE_ADDRESS:REMOTE_PORT[/udp]; IPv6 in brackets.", valueName: "target"))
  var targets: [String] = []

  @Option(name: [.short, .customLong("file")], help: ArgumentHelp("A kftray JSON file; its \"proxy\" entries run (- for stdin).", valueName: "file"))
  var file: String?

  @Option(name: .customLong("alias"), help: ArgumentHelp("With -f: run only the entry with this alias (repeatable).", valueName: "alias"))
  var aliases: [String] = []

  @Option(help: ArgumentHelp("Local addresses to listen on, comma-separated IPs or localhost (default: localhost = 127.0.0.1 and ::1).", valueName: "addresses"))
  var address: String = "localhost"

  @OptionGroup var relay: RelayPodOptions

  @Option(help: ArgumentHelp("Also serve a SOCKS5 proxy on [ADDRESS:]PORT (address default 127.0.0.1) to any destination the cluster can reach; names resolve in the cluster.", valueName: "address"))
  var socks: String?

  @Option(name: .customLong("socks-auth"), help: ArgumentHelp("Require SOCKS5 username/password authentication (RFC 1929).", valueName: "user:password"))
  var socksAuth: String?

  @Option(name: .customLong("http-connect"), help: ArgumentHelp("Also serve an HTTP CONNECT proxy on [ADDRESS:]PORT (for HTTPS_PROXY/http_proxy).", valueName: "address"))
  var httpConnect: String?

  @Option(name: .customLong("allow"), help: ArgumentHelp("With --socks/--http-connect: a destination the relay may reach: CIDR, host or *.suffix, optionally :PORT or :LOW-HIGH (repeatable; default everything).", valueName: "rule"))
  var allowRules: [String] = []

  @Option(name: .customLong("socks-image"), help: ArgumentHelp("The image of the dynamic relay --socks and --http-connect use (our kftray-relay).", valueName: "image"))
  var socksImage: String = RelayPodSettings.defaultDynamicImage

  @Option(help: ArgumentHelp("The port-forward transport: auto (WebSocket, then SPDY), websocket or spdy.", valueName: "transport"))
  var transport: TransportChoice = .auto

  @Flag(name: [.short, .long], help: "Log every connection (open, close, bytes, errors) to stderr.")
  var verbose = false

  @Option(name: [.short, .customLong("output")], help: "Output: text, or json (every event as one JSON object per line on stdout, for tools).")
  var output: OutputFormat = .text

  enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case text, json }

  enum TransportChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, websocket, spdy
    var value: PortForwardTransport {
      switch self {
      case .auto: return .auto
      case .websocket: return .webSocket
      case .spdy: return .spdy
      }
    }
  }

  func validate() throws {
    if targets.isEmpty && file == nil && socks == nil && httpConnect == nil {
      throw ValidationError(
        "give at least one target ([LOCAL_PORT:]REMOTE_ADDRESS:REMOTE_PORT[/udp]), a kftray file with -f, or --socks/--http-connect")
    }
    if (socksAuth != nil || !allowRules.isEmpty) && socks == nil && httpConnect == nil {
      throw ValidationError("--socks-auth and --allow go with --socks or --http-connect")
    }
    if socksAuth != nil && socks == nil { throw ValidationError("--socks-auth goes with --socks") }
    _ = try allowList()
    if !aliases.isEmpty && file == nil { throw ValidationError("--alias picks entries of a kftray file: give the file with -f") }
    for target in targets {
      do { _ = try ProxyTarget(parsing: target) } catch { throw ValidationError(error.description) }
    }
    _ = try listenAddresses()
  }

  func listenAddresses() throws -> [String] {
    var result: [String] = []
    for part in address.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
      if part == "localhost" {
        result += ["127.0.0.1", "::1"]
      } else if IPAddress(part) != nil {
        result.append(part)
      } else {
        throw ValidationError("--address \"\(part)\" is not an IP address or localhost")
      }
    }
    return result.isEmpty ? ["127.0.0.1", "::1"] : result
  }

  func allowList() throws -> AllowList {
    do { return try AllowList(parsing: allowRules.joined(separator: ",")) } catch { throw ValidationError(error.description) }
  }

  /// The SOCKS5 and HTTP CONNECT front ends, bound before anything is created in the cluster.
  func frontends(allow: AllowList, printer: ProxyPrinter) throws -> [DynamicFrontend] {
    var result: [DynamicFrontend] = []
    do {
      if let socks {
        let credentials = try socksAuth.map { text throws(DynamicFrontendError) in try DynamicFrontend.Credentials(parsing: text) }
        result.append(
          try DynamicFrontend(
            kind: .socks(credentials: credentials), address: ListenAddress(parsing: socks, flag: "--socks"), allow: allow,
            events: { printer.dynamic($0) }))
      }
      if let httpConnect {
        result.append(
          try DynamicFrontend(
            kind: .httpConnect, address: ListenAddress(parsing: httpConnect, flag: "--http-connect"), allow: allow,
            events: { printer.dynamic($0) }))
      }
    } catch {
      throw UserFacingError(error.description)
    }
    return result
  }

  func run() async throws {
    let terminal = Terminal()
    let allow = try allowList()
    let specs = try resolveSpecs(terminal: terminal, dynamic: socks != nil || httpConnect != nil ? allow : nil)
    var options = ProxyOptions()
    options.settings = try relay.settings()
    options.settings.dynamicImage = socksImage
    options.podRunningTimeout = try relay.runningTimeout()
    options.transport = transport.value
    // Only --verbose and -o json show connections.
    options.connectionEvents = verbose || output == .json
    let addresses = try listenAddresses()
    if addresses.contains(where: { !(IPAddress($0)?.isLoopback ?? false) }) {
      terminal.warning(
        "listening on \(addresses.joined(separator: ", ")): anyone who can reach this machine there can use the relay into your cluster")
    }
    let verbose = self.verbose
    let dynamicLines = [socks.map { _ in "SOCKS5" }, httpConnect.map { _ in "HTTP CONNECT" }].compactMap { $0 }
    let printer = ProxyPrinter(terminal: terminal, verbose: verbose, json: output == .json)
    let frontends = try frontends(allow: allow, printer: printer)
    printer.frontends = zip(dynamicLines, frontends).map { "\($0) proxy on \($1.address)" }
    printer.allow = allow
    for frontend in frontends where !frontend.address.isLoopback {
      terminal.warning("\(frontend.kind.name) on \(frontend.address): anyone who can reach it can use the relay into your cluster")
    }
    let dynamicIndex = specs.firstIndex { $0.dynamic != nil }
    let supervisor = ProxySupervisor(specs: specs, options: options) { printer.print($0) }
    let signals = SignalStream()
    let outcome = await withTaskGroup(of: RunOutcome.self) { group in
      group.addTask {
        do throws(ProxyError) { try await supervisor.start() } catch { return .failed(error) }
        if let dynamicIndex, let port = supervisor.localPort(of: dynamicIndex) {
          for frontend in frontends { frontend.start(upstreamPort: port) }
        }
        await supervisor.supervise()
        return .ended
      }
      group.addTask {
        for await number in signals.signals { return .signal(number) }
        return .ended
      }
      let first = await group.next() ?? .ended
      group.cancelAll()
      return first
    }
    // A second Ctrl-C while pods are being deleted: one quick last attempt, then leave.
    let impatience = Task {
      for await number in signals.signals where number == SIGINT {
        terminal.err("interrupted again: a last attempt to delete the relay pods, then exiting")
        await Self.lastAttempt(supervisor.pods)
        Foundation.exit(130)
      }
    }
    if case .signal(let number) = outcome { terminal.err("\(SignalStream.name(number)): stopping, deleting relay pods") }
    for frontend in frontends { frontend.stop() }
    await supervisor.shutdown()
    impatience.cancel()
    terminal.clearProgress()
    if case .failed(let error) = outcome { throw UserFacingError(error.description) }
  }

  enum RunOutcome: Sendable {
    case ended
    case signal(Int32)
    case failed(ProxyError)
  }

  static func lastAttempt(_ pods: [(namespace: String, pod: String, api: KubeAPI)]) async {
    await withTaskGroup(of: Void.self) { group in
      for (namespace, pod, api) in pods {
        group.addTask { _ = await RelayPodLauncher(api: api).delete(pod: pod, namespace: namespace) }
      }
      group.addTask { try? await Task.sleep(for: .seconds(2)) }
      _ = await group.next()
      group.cancelAll()
    }
  }

  /// Targets from the arguments and the kftray file, each with its cluster client and namespace;
  /// with `dynamic`, also the dynamic relay of --socks/--http-connect (its forward is internal).
  func resolveSpecs(terminal: Terminal, dynamic: AllowList? = nil) throws -> [ProxySpec] {
    let addresses = try listenAddresses()
    var clients: [String: KubeAPI] = [:]
    func client(kubeconfig: String?, context: String?) throws -> KubeAPI {
      let key = "\(kubeconfig ?? "")\u{0}\(context ?? "")"
      if let existing = clients[key] { return existing }
      var options = connection
      if let kubeconfig { options.kubeconfig = kubeconfig }
      if let context { options.context = context }
      let api = try options.makeClient()
      clients[key] = api
      return api
    }
    var specs: [ProxySpec] = []
    for text in targets {
      let target = try ProxyTarget(parsing: text)
      let api = try client(kubeconfig: nil, context: nil)
      specs.append(ProxySpec(label: text, target: target, addresses: addresses, api: api, namespace: api.config.namespace))
    }
    if let file {
      let loaded: KFTrayConfigFile
      let entries: [KFTrayProxyEntry]
      do throws(KFTrayConfigError) {
        loaded = try KFTrayConfigFile.load(path: file)
        entries = try loaded.selecting(aliases: aliases, path: file)
        if entries.isEmpty { throw .noProxyEntries(path: file, skipped: loaded.skipped.count) }
      } catch {
        throw UserFacingError(error.description)
      }
      for skipped in loaded.skipped {
        terminal.warning(
          "\(file): entry \(skipped.index)\(skipped.alias.map { " (alias \"\($0)\")" } ?? ""): workload_type \"\(skipped.workloadType)\" skipped: only \"proxy\" entries run")
      }
      for entry in entries {
        let api = try client(kubeconfig: entry.kubeconfig, context: entry.context)
        var entryAddresses = addresses
        if let local = entry.localAddress {
          guard IPAddress(local) != nil else {
            throw UserFacingError("\(file): \(entry.label): field \"local_address\" \"\(local)\" is not an IP address")
          }
          entryAddresses = [local]
        }
        specs.append(
          ProxySpec(
            label: entry.alias ?? entry.target.description, target: entry.target, addresses: entryAddresses, api: api,
            namespace: entry.namespace ?? api.config.namespace))
      }
    }
    if let dynamic {
      let api = try client(kubeconfig: nil, context: nil)
      specs.append(
        ProxySpec(
          label: ProxyPrinter.dynamicLabel, target: ProxyTarget(localPort: 0, remoteAddress: "dynamic", remotePort: 1),
          addresses: ["127.0.0.1"], api: api, namespace: api.config.namespace, dynamic: dynamic))
    }
    return specs
  }
}

/// Turns a run's events into kubectl-like lines: results on stdout, progress and logs on stderr.
final class ProxyPrinter: Sendable {
  /// The label of the dynamic relay's forward (never a target: targets contain a colon).
  static let dynamicLabel = "dynamic relay"
  let terminal: Terminal
  let verbose: Bool
  /// `-o json`: events as JSON lines on stdout instead of text.
  let json: Bool
  private let state = Mutex<(frontends: [String], allow: AllowList)>(([], AllowList()))
  var frontends: [String] {
    get { state.withLock { $0.frontends } }
    set { state.withLock { $0.frontends = newValue } }
  }
  var allow: AllowList {
    get { state.withLock { $0.allow } }
    set { state.withLock { $0.allow = newValue } }
  }

  init(terminal: Terminal, verbose: Bool, json: Bool = false) {
    self.terminal = terminal
    self.verbose = verbose
    self.json = json
  }

  func print(_ event: ProxyEvent) {
    if json {
      terminal.out(EventRecords.line(EventRecords.record(event)))
      return
    }
    switch event {
    case .creatingPod(_, let namespace, let pod):
      terminal.progress("Creating relay pod \(namespace)/\(pod)")
      if verbose { terminal.err("creating relay pod \(namespace)/\(pod)") }
    case .podProgress(_, let p):
      terminal.progress("Waiting for relay pod \(p.namespace)/\(p.pod): \(p.state)")
      if verbose { terminal.err("relay pod \(p.namespace)/\(p.pod): \(p.state)") }
    case .podReady(_, let namespace, let pod):
      if verbose { terminal.err("relay pod \(namespace)/\(pod): Ready") }
    case .forwarding(Self.dynamicLabel, _, _, let namespace, let pod):
      for line in frontends { terminal.out("\(line) -> any destination the cluster can reach (via \(namespace)/\(pod))") }
      terminal.err(
        allow.allowsEverything
          ? "allowed destinations: everything (limit them with --allow)" : "allowed destinations: \(allow)")
    case .forwarding(_, let local, let target, let namespace, let pod):
      for address in local {
        terminal.out("Forwarding from \(address) -> \(target.remote) (\(target.transport.rawValue), via \(namespace)/\(pod))")
      }
      if target.transport == .tcp, target.remotePort == 443 || target.remotePort == 8443, let first = local.first,
        IPAddress(target.remoteAddress) == nil
      {
        let port = first.split(separator: ":").last.map(String.init) ?? "\(target.remotePort)"
        terminal.out(
          "  TLS: its certificate names \(target.remoteAddress), not localhost: curl --connect-to \(target.remoteAddress):\(target.remotePort):127.0.0.1:\(port) https://\(target.remoteAddress):\(target.remotePort)/")
      }
    case .connectionOpened(let label, let id, let local):
      if verbose { terminal.err("[\(label)] connection \(id) from \(local)") }
    case .connectionClosed(let label, let id, let up, let down, let duration):
      guard verbose else { return }
      var line = "[\(label)] connection \(id) closed: \(up) bytes sent, \(down) received in \(Self.format(duration))"
      if down == 0 { line += " (nothing came back: the relay may not have reached the target; try kubectl kftray doctor)" }
      terminal.err(line)
    case .connectionFailed(let label, let id, let reason):
      if verbose { terminal.err("[\(label)] connection \(id) failed: \(reason)") }
    case .udp(let label, let event):
      switch event {
      case .dropped(let peer, let bytes, let why): terminal.err("[\(label)] datagram of \(bytes) bytes from \(peer) dropped: \(why)")
      case .peerOpened(let peer): if verbose { terminal.err("[\(label)] udp peer \(peer)") }
      case .peerClosed(let peer, let out, let `in`, let why):
        if verbose { terminal.err("[\(label)] udp peer \(peer) closed (\(why)): \(out) datagrams sent, \(`in`) received") }
      case .sessionLost(let why): terminal.err("[\(label)] lost the port-forward session: \(why); reconnecting")
      case .sessionOpened: break
      }
    case .podLost(let label, let pod, let why):
      terminal.err("[\(label)] relay pod \(pod) lost: \(why); creating another (new connections wait)")
    case .recovered(let label, let old, let new, let after):
      terminal.err("[\(label)] forwarding again via \(new) (replaces \(old)) after \(Self.format(after))")
    case .recoveryFailed(let label, let error, let retry):
      terminal.err("[\(label)] could not replace the relay pod: \(error)\n  retrying in \(Self.format(retry))")
    case .sessionLost(let label, let why):
      terminal.err("[\(label)] lost the port-forward session: \(why); reconnecting")
    case .reconnected(let label):
      terminal.err("[\(label)] reconnected")
    case .deletedPod(let namespace, let pod):
      terminal.err("deleted relay pod \(namespace)/\(pod)")
    case .deleteFailed(let namespace, let pod, let error):
      terminal.err("could not delete relay pod \(namespace)/\(pod): \(error)\n  run: kubectl kftray cleanup -n \(namespace)")
    case .deleteUncertain(let namespace, let pod, _):
      terminal.err(
        "relay pod \(namespace)/\(pod) may not exist (its create got no answer) and could not be checked; "
          + "once the cluster answers, kubectl kftray cleanup -n \(namespace) removes it if it does")
    }
  }

  func dynamic(_ event: DynamicEvent) {
    if json {
      terminal.out(EventRecords.line(EventRecords.record(event)))
      return
    }
    switch event {
    case .opened(let frontend, let client, let destination):
      if verbose { terminal.err("[\(frontend)] \(client) -> \(destination): connected") }
    case .refused(let frontend, let client, let destination, let reason):
      if verbose { terminal.err("[\(frontend)] \(client) -> \(destination): \(reason)") }
    case .closed(let frontend, let client, let destination, let out, let `in`):
      if verbose { terminal.err("[\(frontend)] \(client) -> \(destination) closed: \(out) bytes sent, \(`in`) received") }
    }
  }

  static func format(_ d: Duration) -> String {
    let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    return ms < 1000 ? "\(ms)ms" : String(format: "%.1fs", Double(ms) / 1000)
  }
}
