// kftray-testserver: the seeded services of the sandbox cluster (and the `kftray-sandbox/testserver`
// image): `echo --port P`, `http --port P --name N`, `udp-echo --port P`, `reset --port P`. Serves until killed.
import ArgumentParser
import Foundation
import SeededServices
#if canImport(Glibc)
import Glibc
#endif

struct Options: ParsableArguments {
  @Option(help: "Port to listen on (0: any free port, printed at start).")
  var port: UInt16
  @Option(name: .customLong("bind"), help: "Numeric address to listen on; repeatable. Default: 0.0.0.0 and ::.")
  var addresses: [String] = []
}

func serve(_ mode: TestServerMode, _ options: Options) throws {
  signal(SIGPIPE, SIG_IGN)
  let addresses = options.addresses.isEmpty ? TestServer.wildcardAddresses : options.addresses
  let log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(("kftray-testserver: " + $0 + "\n").utf8)) }
  let server: TestServer
  do {
    server = try TestServer.start(mode: mode, port: options.port, addresses: addresses, log: log)
  } catch {
    log(error.description)
    throw ExitCode.failure
  }
  FileHandle.standardOutput.write(Data("kftray-testserver: \(mode) listening on \(server.listenAddresses.joined(separator: " and "))\n".utf8))
  while true { pause() }
}

struct Echo: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "TCP echo.")
  @OptionGroup var options: Options
  func run() throws { try serve(.echo, options) }
}

struct HTTP: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "HTTP: GET / answers `hello from <name>`.")
  @OptionGroup var options: Options
  @Option(help: "The name in the greeting.") var name: String
  func run() throws { try serve(.http(name: name), options) }
}

struct UDPEcho: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "udp-echo", abstract: "UDP echo.")
  @OptionGroup var options: Options
  func run() throws { try serve(.udpEcho, options) }
}

struct Reset: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "TCP: accept, read once, then reset the connection (RST).")
  @OptionGroup var options: Options
  func run() throws { try serve(.reset, options) }
}

@main
struct TestServerCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kftray-testserver", abstract: "The sandbox cluster's seeded services.",
    subcommands: [Echo.self, HTTP.self, UDPEcho.self, Reset.self])
}
