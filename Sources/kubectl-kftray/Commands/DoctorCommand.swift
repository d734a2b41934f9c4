import ArgumentParser
import Foundation
import KFTray
import KubeClient
import Yams

struct DoctorCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "doctor",
    abstract: "Explain why an address cannot be reached from the cluster, and what to do.",
    usage: """
      kubectl kftray doctor [flags] [[LOCAL_PORT:]REMOTE_ADDRESS:REMOTE_PORT[/udp]...]
        kubectl kftray doctor [flags] -f FILE [--alias ALIAS]...
      """,
    discussion: """
      Runs checks from the laptop outwards: the kubeconfig, credentials and local ports; the API \
      server (reachable, TLS, version); RBAC (an access review for every permission the plugin needs \
      in the namespace given with -n, and a Role that grants what is missing); admission (the \
      namespace's Pod Security labels and a server-side dry run of the exact relay pod proxy would \
      create); then, from one busybox pod in that namespace, resolv.conf, the cluster DNS, and for \
      each target its name, and a TCP connect (open, refused, timeout, no route, DNS failure) or a \
      UDP probe datagram (reply or no reply); whether the relay image can be pulled and started; and \
      pods of this plugin left in the namespace. Without targets only the cluster-side checks run. \
      Every pod doctor creates is deleted before it exits, also on Ctrl-C.

      Examples:
        kubectl kftray doctor database.region.rds.amazonaws.com:5432 -n dev
        kubectl kftray doctor web.default.svc.cluster.local:80 udp-echo.default.svc.cluster.local:5353/udp
        kubectl kftray doctor -f kftray-configs.json -o json

      Exit status: 0 nothing failed (warnings allowed unless --strict), 1 a check failed, 64 usage \
      error, 130 interrupted.
      """)

  @OptionGroup var connection: ConnectionOptions

  @Argument(help: ArgumentHelp("Targets: [LOCAL_PORT:]REMOTE_ADDRESS:REMOTE_PORT[/udp]; IPv6 in brackets.", valueName: "target"))
  var targets: [String] = []

  @Option(name: [.short, .customLong("file")], help: ArgumentHelp("A kftray JSON file; its \"proxy\" entries are checked (- for stdin).", valueName: "file"))
  var file: String?

  @Option(name: .customLong("alias"), help: ArgumentHelp("With -f: check only the entry with this alias (repeatable).", valueName: "alias"))
  var aliases: [String] = []

  @Option(name: [.short, .customLong("output")], help: "Output format: table, json or yaml.")
  var output: OutputFormat = .table

  @Flag(help: "Count warnings as failures for the exit status.")
  var strict = false

  @Flag(name: .customLong("skip-image-check"), help: "Do not start a relay pod to check that its image can be pulled.")
  var skipImageCheck = false

  /// The relay pod exactly as `proxy` would make it (dry run, image check); its placement flags
  /// also place the busybox pod.
  @OptionGroup var relay: RelayPodOptions

  @Option(name: .customLong("probe-image"), help: ArgumentHelp("The busybox image the in-cluster probes run in (pin a tag).", valueName: "image"))
  var probeImage: String = DoctorPodManifest.defaultImage

  @Option(help: ArgumentHelp("Seconds each in-cluster connect, lookup or UDP reply may take (1-60).", valueName: "seconds"))
  var timeout: Int = 3

  enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case table, json, yaml }

  func validate() throws {
    if !aliases.isEmpty && file == nil { throw ValidationError("--alias picks entries of a kftray file: give the file with -f") }
    guard (1...60).contains(timeout) else { throw ValidationError("--timeout \(timeout) is out of range: use 1 to 60 seconds") }
    for target in targets {
      do { _ = try ProxyTarget(parsing: target) } catch { throw ValidationError(error.description) }
    }
  }

  /// The targets from the arguments, then the kftray file's proxy entries.
  func resolveTargets(terminal: Terminal) throws -> [ProxyTarget] {
    var result = try targets.map { try ProxyTarget(parsing: $0) }
    guard let file else { return result }
    do throws(KFTrayConfigError) {
      let loaded = try KFTrayConfigFile.load(path: file)
      let entries = try loaded.selecting(aliases: aliases, path: file)
      if entries.isEmpty { throw .noProxyEntries(path: file, skipped: loaded.skipped.count) }
      for entry in entries {
        if entry.namespace != nil || entry.context != nil || entry.kubeconfig != nil {
          terminal.warning("\(file): \(entry.label): doctor checks every target from the namespace and context of its own flags")
        }
        result.append(entry.target)
      }
    } catch {
      throw UserFacingError(error.description)
    }
    return result
  }

  func run() async throws {
    let terminal = Terminal()
    var options = DoctorOptions()
    options.targets = try resolveTargets(terminal: terminal)
    options.relay = try relay.settings()
    options.probeImage = probeImage
    options.timeoutSeconds = timeout
    options.podRunningTimeout = try relay.runningTimeout()
    options.skipImageCheck = skipImageCheck

    let doctor = DoctorRun(overrides: connection.overrides, options: options) { terminal.progress($0) }
    let signals = SignalStream()
    let outcome = await withTaskGroup(of: Outcome.self) { group in
      group.addTask { .report(await doctor.run()) }
      group.addTask {
        for await number in signals.signals { return .signal(number) }
        return .signal(0)
      }
      let first = await group.next()!
      group.cancelAll()
      return first
    }
    switch outcome {
    case .signal(let number):
      terminal.err("\(SignalStream.name(number)): interrupted, deleting the doctor's pods")
      // A second signal while deleting: one more short attempt, then leave.
      let impatience = Task {
        for await _ in signals.signals {
          _ = await Self.withDeadline(.seconds(2)) { await doctor.deleteCreatedPods() }
          Foundation.exit(130)
        }
      }
      for problem in await doctor.deleteCreatedPods() { terminal.err(problem + "; run kubectl kftray cleanup") }
      impatience.cancel()
      throw ExitCode(130)
    case .report(let report):
      // The run deletes its pods itself; this catches any it could not.
      for problem in await doctor.deleteCreatedPods() { terminal.err(problem + "; run kubectl kftray cleanup") }
      terminal.clearProgress()
      try print(report, terminal: terminal)
      let code = report.exitCode(strict: strict)
      if code != 0 { throw ExitCode(code) }
    }
  }

  enum Outcome: Sendable {
    case report(DoctorReport)
    case signal(Int32)
  }

  func print(_ report: DoctorReport, terminal: Terminal) throws {
    switch output {
    case .table:
      let table = DoctorTable(report: report).render { text, status in
        switch status {
        case .pass: return terminal.paint(text, code: "32")
        case .warn: return terminal.paint(text, code: "33")
        case .fail: return terminal.paint(text, code: "31")
        case .skip: return terminal.paint(text, code: "2")
        }
      }
      try? FileHandle.standardOutput.write(contentsOf: Data(table.utf8))
    case .json:
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
      let data = try encoder.encode(report) + Data("\n".utf8)
      // A reader that went away (`| head`) is not an error of ours.
      try? FileHandle.standardOutput.write(contentsOf: data)
    case .yaml:
      let text = try YAMLEncoder().encode(report)
      try? FileHandle.standardOutput.write(contentsOf: Data(text.utf8))
    }
  }

  static func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async -> T) async -> T? {
    await withTaskGroup(of: T?.self) { group in
      group.addTask { await body() }
      group.addTask {
        try? await Task.sleep(for: limit)
        return nil
      }
      let first = await group.next() ?? nil
      group.cancelAll()
      return first
    }
  }
}
