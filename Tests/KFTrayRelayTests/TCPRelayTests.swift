import Foundation
import KFTrayRelay
import Synchronization
import Testing
import TestSupport

/// Collects log lines so tests can check the per-connection open/close lines.
final class LogCapture: Sendable {
  private let lines = Mutex<[String]>([])
  var all: [String] { lines.withLock { $0 } }
  var log: RelayLog { RelayLog { line in self.lines.withLock { $0.append(line) } } }
}

/// A relay on an ephemeral loopback-reachable port. The 30 s grace is only an upper bound for
/// tests that call `shutdown()` after their connections ended: it returns as soon as they are gone.
func startRelay(
  _ type: ProxyType, targetPort: UInt16, udpReplyTimeout: Duration = .seconds(5),
  log: RelayLog = .discard
) throws -> RelayServer {
  try RelayServer.start(
    configuration: RelayConfiguration(
      remoteAddress: "127.0.0.1", remotePort: targetPort, localPort: 0, proxyType: type,
      udpReplyTimeout: udpReplyTimeout, connectTimeout: .seconds(5), shutdownGrace: .seconds(30)),
    log: log)
}

@Suite struct TCPRelayTests {
  @Test func relaysMebibytesBothWaysIntact() throws {
    let echo = try TestTCPServer(.echo)
    let relay = try startRelay(.tcp, targetPort: echo.port)
    defer { relay.shutdown(grace: .zero) }  // teardown only: nothing to wait for

    let payload = pseudoRandomBytes(count: 4 << 20, seed: 42)
    let connection = try TestConnection(port: relay.port)
    // Write on another thread while this one reads: the echo fills the buffers both ways.
    let writer = Background {
      try connection.send(payload)
      connection.shutdownWrite()
    }
    let (received, end) = connection.readToEnd()
    try writer.wait()
    #expect(end == .eof)
    #expect(received.count == payload.count)
    #expect(checksum(received) == checksum(payload))
  }

  @Test func halfCloseStillDeliversTheReply() throws {
    let server = try TestTCPServer(.replyAfterEOF { input in Array("got \(input.count) bytes, sum \(checksum(input))".utf8) })
    let relay = try startRelay(.tcp, targetPort: server.port)
    defer { relay.shutdown(grace: .zero) }  // teardown only: nothing to wait for

    let request = pseudoRandomBytes(count: 300_000, seed: 7)
    let connection = try TestConnection(port: relay.port)
    try connection.send(request)
    connection.shutdownWrite()
    let (reply, end) = connection.readToEnd()
    #expect(String(decoding: reply, as: UTF8.self) == "got 300000 bytes, sum \(checksum(request))")
    #expect(end == .eof)
    #expect(server.connectionsThatSawEOF == 1)
  }

  @Test func refusedTargetClosesTheClientConnection() throws {
    let closedPort = try unusedLoopbackPort(type: Int32(SOCK_STREAM.rawValue))
    let logs = LogCapture()
    let relay = try startRelay(.tcp, targetPort: closedPort, log: logs.log)
    defer { relay.shutdown(grace: .zero) }  // teardown only: nothing to wait for

    let connection = try TestConnection(port: relay.port)
    let (bytes, end) = connection.readToEnd()
    #expect(bytes.isEmpty)
    #expect(end == .eof || end == .reset)
    #expect(logs.all.contains { $0.contains("cannot reach target 127.0.0.1:\(closedPort)") && $0.contains("refused") })
  }

  @Test func hundredConcurrentConnectionsAreAllCorrect() throws {
    let echo = try TestTCPServer(.echo)
    let relay = try startRelay(.tcp, targetPort: echo.port)
    defer { relay.shutdown(grace: .zero) }  // teardown only: nothing to wait for

    // Open all connections first so that all 100 relays are live at the same time.
    let connections = try (0..<100).map { _ in try TestConnection(port: relay.port) }
    let workers = connections.enumerated().map { index, connection in
      Background { () throws -> Bool in
        let payload = pseudoRandomBytes(count: 64 * 1024 + index, seed: UInt64(index + 1))
        let writer = Background {
          try connection.send(payload)
          connection.shutdownWrite()
        }
        let (received, end) = connection.readToEnd()
        try writer.wait()
        return end == .eof && received == payload
      }
    }
    let results = try workers.map { try $0.wait() }
    #expect(results.filter { $0 }.count == 100)
    #expect(echo.acceptedConnections == 100)
  }

  @Test func aTargetThatDoesNotReadStopsTheClientInsteadOfFillingMemory() throws {
    let stuck = try TestTCPServer(.holdWithoutReading)
    let relay = try startRelay(.tcp, targetPort: stuck.port)
    defer { relay.shutdown(grace: .zero) }

    let connection = try TestConnection(port: relay.port)
    // Only kernel socket buffers (a few MiB on loopback) may sit between client and target; a
    // relay that kept reading into memory would swallow all 256 MiB without the sender blocking.
    let limit = 256 << 20
    let sent = connection.sendUntilBlocked(chunk: Array(repeating: 0x5a, count: 64 * 1024), limit: limit, sendTimeoutSeconds: 2)
    #expect(sent > 0)
    #expect(sent < limit)
  }

  @Test func logsOneOpenAndOneCloseLineWithByteCounts() throws {
    let echo = try TestTCPServer(.echo)
    let logs = LogCapture()
    let relay = try startRelay(.tcp, targetPort: echo.port, log: logs.log)

    let connection = try TestConnection(port: relay.port)
    try connection.send(Array(repeating: 7, count: 1000))
    connection.shutdownWrite()
    _ = connection.readToEnd()
    relay.shutdown()  // waits for the connection's close line

    let lines = logs.all
    #expect(lines.filter { $0.contains("tcp open:") }.count == 1)
    let close = lines.filter { $0.contains("tcp close:") }
    #expect(close.count == 1)
    #expect(close.first?.contains("1000 bytes to target, 1000 bytes to client") == true)
    // RFC 3339 timestamp at the start of each line.
    #expect(close.first?.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z .*/) != nil)
  }
}

@Suite struct LifecycleTests {
  @Test func shutdownStopsAcceptingAndReportsNothingCut() throws {
    let echo = try TestTCPServer(.echo)
    let relay = try startRelay(.tcp, targetPort: echo.port)
    let port = relay.port
    #expect(relay.shutdown().cutConnections == 0)
    #expect(throws: TestFailure.self) { try TestConnection(port: port) }
    #expect(relay.shutdown().cutConnections == 0)  // a second call is harmless
  }

  @Test func shutdownLetsAnOpenConnectionFinishWithinTheGrace() throws {
    let server = try TestTCPServer(.replyAfterEOF { $0.reversed() })
    let logs = LogCapture()
    let relay = try startRelay(.tcp, targetPort: server.port, log: logs.log)
    let connection = try TestConnection(port: relay.port)
    try connection.send([1, 2, 3])
    // Shutdown must find the connection accepted, not still in the listen backlog (where closing
    // the listener resets it): on a loaded machine the accept can trail the client's connect.
    var accepted = 0
    while !logs.all.contains(where: { $0.contains("tcp open:") }) && accepted < 3000 {
      usleep(10_000)
      accepted += 1
    }
    let stopping = Background { relay.shutdown(grace: .seconds(60)) }
    // Once the relay has stopped accepting, this connection keeps working until it ends by itself.
    var waited = 0
    while !logs.all.contains(where: { $0.contains("stopped accepting; waiting for 1 open connection(s)") }) && waited < 3000 {
      usleep(10_000)
      waited += 1
    }
    #expect(waited < 3000)
    try connection.send([4, 5])
    connection.shutdownWrite()
    let (reply, end) = connection.readToEnd()
    #expect(reply == [5, 4, 3, 2, 1])
    #expect(end == .eof)
    #expect(try stopping.wait().cutConnections == 0)
  }

  @Test func shutdownCutsConnectionsStillOpenAfterTheGrace() throws {
    let echo = try TestTCPServer(.echo)
    let relay = try startRelay(.tcp, targetPort: echo.port)
    let connection = try TestConnection(port: relay.port)
    try connection.send([9])
    #expect(try connection.read(exactly: 1) == [9])
    #expect(relay.activeConnections == 1)
    #expect(relay.shutdown(grace: .milliseconds(100)).cutConnections == 1)
    let (_, end) = connection.readToEnd()
    #expect(end == .eof || end == .reset)
    // The connection's thread deregisters after closing the sockets; give it time on a busy machine.
    var waited = 0
    while relay.activeConnections > 0 && waited < 1000 {
      usleep(10_000)
      waited += 1
    }
    #expect(relay.activeConnections == 0)
  }

  @Test(.enabled(if: hostHasIPv6Loopback, "the host has no IPv6 loopback"))
  func listensOnIPv6AsWellAsIPv4() throws {
    let echo = try TestTCPServer(.echo)
    let relay = try startRelay(.tcp, targetPort: echo.port)
    defer { relay.shutdown(grace: .zero) }  // teardown only: nothing to wait for
    #expect(relay.listenAddresses == ["0.0.0.0:\(relay.port)", "[::]:\(relay.port)"])
    for ipv6 in [false, true] {
      let connection = try TestConnection(port: relay.port, ipv6: ipv6)
      try connection.send(Array("over \(ipv6 ? "tcp6" : "tcp4")".utf8))
      connection.shutdownWrite()
      let (reply, end) = connection.readToEnd()
      #expect(String(decoding: reply, as: UTF8.self) == "over \(ipv6 ? "tcp6" : "tcp4")")
      #expect(end == .eof)
    }
  }

  @Test func portAlreadyInUseFailsToStart() throws {
    let echo = try TestTCPServer(.echo)
    let first = try startRelay(.tcp, targetPort: echo.port)
    defer { first.shutdown() }
    #expect(throws: RelayStartError.self) {
      try RelayServer.start(
        configuration: RelayConfiguration(remoteAddress: "127.0.0.1", remotePort: echo.port, localPort: first.port, proxyType: .tcp),
        log: .discard)
    }
  }
}
