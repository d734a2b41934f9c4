import ArgumentParser
import Benchmarks
import Foundation
import KFTray
import KubeClient
import PortForward

#if canImport(Glibc)
  import Glibc
#endif

/// The benchmark tool behind `make bench`: the engine as its own process, the probes, and the
/// report. Thin: the work lives in the Benchmarks and PortForward libraries.
@main
struct KftrayBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kftray-bench",
    abstract: "Port-forward benchmarks: the engine as a process, load probes, process stats, report.",
    subcommands: [
      Forward.self, EchoServerCommand.self, BulkServer.self, Bulk.self, Latency.self, Concurrent.self, Startup.self, Stats.self,
      PathStats.self, PodPID.self, TLSAnchorCommand.self, RelayFloorCommand.self, DelayProxyCommand.self, Report.self,
    ])
}

/// Writes a line straight to fd 1 (unbuffered: stdout is a file the bench script watches).
func emitLine(_ text: String) {
  FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// "512M" (MiB) or a plain byte count; nil unless positive.
func mebibyteCount(_ text: String) -> Int? {
  let count = text.hasSuffix("M") ? (Int(text.dropLast()) ?? 0) << 20 : (Int(text) ?? 0)
  return count > 0 ? count : nil
}

func json<T: Encodable>(_ value: T) -> String {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
  return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
}

struct Forward: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Forward a local port to a pod port with the engine until SIGTERM; prints the bound port.")

  @OptionGroup var connection: ConnectionOptions
  @Option(name: .long) var pod: String
  @Option(name: .long, help: "The port in the pod.") var port: UInt16
  @Option(name: .long, help: "0 picks a free one.") var localPort: UInt16 = 0
  @Option(name: .long, help: "websocket, spdy or auto.") var transport: String = "auto"
  @Option(name: .long, help: "Sessions per forward (sharding).") var maxSessions = 4
  @Option(name: .long, help: "Active connections per session before another session opens.")
  var connectionsPerSession = 32
  @Flag(name: .long, help: "Log failures and session changes to stderr.") var verbose = false

  func run() async throws {
    let chosen: PortForwardTransport
    switch transport {
    case "websocket": chosen = .webSocket
    case "spdy": chosen = .spdy
    case "auto": chosen = .auto
    default: throw ValidationError("--transport must be websocket, spdy or auto")
    }
    let api = try connection.makeClient()
    let config = api.config
    var options = PortForwarderOptions()
    options.maxSessions = maxSessions
    options.connectionsPerSession = connectionsPerSession
    // SIGTERM/SIGINT are taken from the default handler before anything can race them.
    signal(SIGTERM, SIG_IGN)
    signal(SIGINT, SIG_IGN)
    let forwarder = try await PortForwarder.start(
      target: ForwardTarget(
        api: api, namespace: config.namespace, pod: pod, remotePort: port, transport: chosen),
      listen: ["127.0.0.1"], localPort: localPort, options: options)
    emitLine("listening on 127.0.0.1:\(forwarder.localPort)")
    let verbose = verbose
    let events = forwarder.events
    Task.detached {
      for await event in events {
        switch event {
        case .connectionOpened, .connectionClosed, .listening: continue
        default: if verbose { FileHandle.standardError.write(Data("\(event)\n".utf8)) }
        }
      }
    }
    await waitForTermination()
    await forwarder.stop()
    let s = forwarder.statistics
    FileHandle.standardError.write(Data("stopped: \(s)\n".utf8))
  }

  private func waitForTermination() async {
    let (stream, continuation) = AsyncStream<Int32>.makeStream()
    let sources = [SIGTERM, SIGINT].map { sig -> DispatchSourceSignal in
      let source = DispatchSource.makeSignalSource(signal: sig)
      source.setEventHandler { continuation.yield(sig) }
      source.resume()
      return source
    }
    for await _ in stream { break }
    sources.forEach { $0.cancel() }
  }
}

struct EchoServerCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "echo-server", abstract: "A TCP echo server on 127.0.0.1 (the echo pod's stand-in); prints the port.")
  @Option(name: .long, help: "0 picks a free one.") var port: UInt16 = 0

  func run() throws {
    try EchoServer.serve(port: port) { emitLine("listening on 127.0.0.1:\($0)") }
  }
}

struct BulkServer: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bulk-server", abstract: "The bulk sink/source (see BulkTransfer); prints the port.")
  @Option(name: .long, help: "0 picks a free one.") var port: UInt16 = 0
  @Option(name: .long, help: "The IPv4 address to listen on (0.0.0.0 when it runs as a pod).") var address = "127.0.0.1"

  func run() throws {
    try BulkTransfer.serve(port: port, host: address) { emitLine("listening on \(address):\($0)") }
  }
}

struct Bulk: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "One connection: BYTES to the pod (--direction up) or from it (down), acknowledged end to end; prints JSON.")
  @Option(name: .long) var port: UInt16
  @Option(name: .long, help: "Bytes to move (MiB suffix M allowed).") var bytes: String = "512M"
  @Option(name: .long, help: "up or down.") var direction: String = "up"

  func run() throws {
    guard let count = mebibyteCount(bytes) else { throw ValidationError("--bytes must be a positive count") }
    guard direction == "up" || direction == "down" else { throw ValidationError("--direction must be up or down") }
    emitLine(json(try BulkTransfer.run(port: port, bytes: count, upload: direction == "up")))
  }
}

struct Latency: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "N sequential connect + 1-byte echo + close; prints p50/p99 as JSON.")
  @Option(name: .long) var port: UInt16
  @Option(name: .long) var count = 1000

  func run() throws {
    let result = LatencyProbe.run(port: port, count: count)
    emitLine(json(result))
  }
}

struct Concurrent: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "N parallel connections each echoing BYTES random bytes (checked); prints failures and wall time as JSON.")
  @Option(name: .long) var port: UInt16
  @Option(name: .long) var connections = 500
  @Option(name: .long) var bytes = 64 * 1024
  @Option(name: .long) var timeout: Double = 120

  func run() throws {
    emitLine(json(ConcurrentProbe.run(port: port, connections: connections, bytes: bytes, timeoutSeconds: timeout)))
  }
}

struct Startup: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Starts COMMAND and measures the time to the first 1-byte echo on 127.0.0.1:PORT; prints JSON.")
  @Option(name: .long) var port: UInt16
  @Option(name: .long, help: "Text the command prints when its pod is Ready.") var readyMarker: String
  @Option(name: .long, help: "Where the command's output goes.") var log: String
  @Argument(parsing: .captureForPassthrough) var command: [String]

  func run() throws {
    let argv = command.first == "--" ? Array(command.dropFirst()) : command
    guard !argv.isEmpty else { throw ValidationError("give the command after --") }
    emitLine(json(StartupProbe.run(command: argv, port: port, readyMarker: readyMarker, log: log)))
  }
}

struct Stats: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "CPU seconds (utime+stime) and peak RSS (VmHWM) of a process, as JSON; --reset-peak resets VmHWM.")
  @Option(name: .long) var pid: Int32
  @Flag(name: .long) var resetPeak = false

  func run() throws {
    if resetPeak {
      try ProcessStats.resetPeak(pid: pid)
      return
    }
    emitLine(json(try ProcessStats.sample(pid: pid)))
  }
}

struct PathStats: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "path-stats",
    abstract: "CPU seconds of several processes and of each of their live threads, as JSON (see PathCost).")
  @Option(name: .long, help: "ROLE=PID, once per process on the path (client, sandbox, relay, target).")
  var role: [String] = []

  func run() throws {
    var roles: [String: Int32] = [:]
    for entry in role {
      let parts = entry.split(separator: "=", maxSplits: 1)
      guard parts.count == 2, let pid = Int32(parts[1]) else { throw ValidationError("--role takes ROLE=PID, not \(entry)") }
      roles[String(parts[0])] = pid
    }
    emitLine(json(try PathCost.sample(roles: roles)))
  }
}

struct PodPID: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pod-pid", abstract: "The pid of a sandbox pod's process (HOSTNAME=POD in its environment, under ANCESTOR).")
  @Option(name: .long) var pod: String
  @Option(name: .long, help: "The sandbox daemon's pid (apiserver.pid in its directory).") var ancestor: Int32

  func run() throws {
    emitLine(String(try ProcessStats.podProcess(pod: pod, ancestor: ancestor)))
  }
}

struct TLSAnchorCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tls-anchor",
    abstract: "The negotiated cipher (from curl -v output) measured with openssl speed, encrypt and decrypt; prints JSON.")
  @Option(name: .long, help: "A file with curl -v output of a request to the API server.") var curlLog: String
  @Option(name: .long, help: "openssl speed's seconds per direction.") var seconds = 3

  func run() throws {
    emitLine(json(try TLSAnchor.measure(curlLog: curlLog, seconds: seconds)))
  }
}

struct RelayFloorCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "relay-floor",
    abstract: "CPU per GiB of a plain recv/send relay between two loopback sockets (no TLS, no framing); prints JSON.")
  @Option(name: .long, help: "Bytes per round (MiB suffix M allowed).") var bytes = "512M"
  @Option(name: .long, help: "Rounds; the lowest counts.") var rounds = 3

  func run() throws {
    guard let count = mebibyteCount(bytes) else { throw ValidationError("--bytes must be a positive count") }
    emitLine(json(try RelayFloor.measure(bytes: count, rounds: rounds)))
  }
}

struct DelayProxyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "delay-proxy",
    abstract: "A loopback TCP proxy adding a round-trip time (and optionally a rate cap) between a client and a server.")
  @Option(name: .long, help: "127.x.y.z:PORT to listen on (port 0 picks one).") var listen: String
  @Option(name: .long, help: "127.x.y.z:PORT to forward to.") var to: String
  @Option(name: .long, help: "Round-trip time to add, e.g. 20ms: each direction is delayed by half.") var rtt: String
  @Option(name: .long, help: "Rate cap per direction, tc's spelling (100mbit).") var rate: String?
  @Option(name: .long, help: "Bytes in flight per direction before the sender waits.") var window = 4 << 20

  func run() throws {
    func endpoint(_ text: String) throws -> (String, UInt16) {
      guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
        throw ValidationError("\(text): give HOST:PORT")
      }
      return (String(text[..<colon]), port)
    }
    let (listenHost, listenPort) = try endpoint(listen)
    let (targetHost, targetPort) = try endpoint(to)
    guard let roundTrip = DelayProxy.parseDuration(rtt) else { throw ValidationError("--rtt: a duration like 20ms") }
    var bytesPerSecond: Double?
    if let rate {
      guard let parsed = DelayProxy.parseRate(rate) else { throw ValidationError("--rate: a rate like 100mbit") }
      bytesPerSecond = parsed
    }
    let settings = DelayProxy.Settings(
      listenHost: listenHost, listenPort: listenPort, targetHost: targetHost, targetPort: targetPort, roundTrip: roundTrip,
      bytesPerSecond: bytesPerSecond, window: window)
    try DelayProxy.serve(settings) { emitLine("listening on \(listenHost):\($0)") }
  }
}

struct Report: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Prints the comparison table of a bench run and writes bench-results.json.")
  @Option(name: .long, help: "The run's measurement directory.") var directory: String
  @Option(name: .long, help: "Where to write the JSON.") var output: String

  func run() throws {
    let document = BenchReport.build(directory: directory)
    emitLine(BenchReport.table(document))
    try Data(json(document).utf8).write(to: URL(fileURLWithPath: output))
    emitLine("\nresults: \(output)")
  }
}
