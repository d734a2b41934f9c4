// Runs the built kftray-relay binary with TestSupport's `spawn` (posix_spawn with a clean signal
// state) and waitpid rather than Foundation.Process (whose exit detection was seen to hang inside the
// concurrent test runner here); the child's output goes to files, not pipes, so a chatty child can
// never block on a full pipe.
import Foundation
import KFTrayRelay
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A running (or finished) kftray-relay process.
final class RelayProcess: Sendable {
  let pid: pid_t
  let stderrPath: String
  private let directory: URL

  static func binary() throws -> String {
    let path = Binaries.path("kftray-relay")
    guard access(path, X_OK) == 0 else {
      throw TestFailure("no kftray-relay binary at \(path); build it (swift build --product kftray-relay) or set KFTRAY_BIN_DIR")
    }
    return path
  }

  init(environment: [String: String]) throws {
    let path = try Self.binary()
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("kftray-relay-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    stderrPath = directory.appendingPathComponent("stderr").path
    let stdoutPath = directory.appendingPathComponent("stdout").path

    // Only the variables given: the relay must not pick anything up from the test runner's environment.
    pid = try spawn(
      path, [], environment: environment.map { "\($0.key)=\($0.value)" }, stdout: stdoutPath, stderr: stderrPath)
  }

  var standardError: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

  /// Waits for the exit and returns the exit code; a signal death or a timeout is a test failure
  /// (the child is killed on timeout so it never outlives the test).
  func waitForExit(timeoutSeconds: Double = 10) throws -> Int32 {
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    var status: Int32 = 0
    while true {
      let rc = waitpid(pid, &status, WNOHANG)
      if rc == pid { break }
      if rc < 0 && errno != EINTR { throw TestFailure("waitpid: \(String(cString: strerror(errno)))") }
      if Date() > deadline {
        kill(pid, SIGKILL)
        _ = waitpid(pid, &status, 0)
        throw TestFailure("kftray-relay did not exit within \(timeoutSeconds) s; stderr:\n\(standardError)")
      }
      usleep(20_000)
    }
    let signal = status & 0x7f
    guard signal == 0 else { throw TestFailure("kftray-relay died of signal \(signal); stderr:\n\(standardError)") }
    return (status >> 8) & 0xff
  }

  /// The port from the startup log line ("listening on 0.0.0.0:PORT"), for LOCAL_PORT=0.
  func listeningPort(timeoutSeconds: Double = 10) throws -> UInt16 {
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    while Date() < deadline {
      if let match = standardError.firstMatch(of: /listening on 0\.0\.0\.0:(\d+)/), let port = UInt16(match.1) {
        return port
      }
      var status: Int32 = 0
      if waitpid(pid, &status, WNOHANG) == pid {
        throw TestFailure("kftray-relay exited early; stderr:\n\(standardError)")
      }
      usleep(20_000)
    }
    kill(pid, SIGKILL)
    throw TestFailure("kftray-relay did not report its port; stderr:\n\(standardError)")
  }

  func terminate() { kill(pid, SIGTERM) }

  deinit { try? FileManager.default.removeItem(at: directory) }
}

@Suite struct ProcessTests {
  private func relayEnvironment(_ type: String, targetPort: UInt16) -> [String: String] {
    ["REMOTE_ADDRESS": "127.0.0.1", "REMOTE_PORT": String(targetPort), "LOCAL_PORT": "0", "PROXY_TYPE": type]
  }

  @Test func missingVariableExitsOneAndNamesIt() throws {
    let process = try RelayProcess(environment: ["REMOTE_ADDRESS": "127.0.0.1", "LOCAL_PORT": "8080", "PROXY_TYPE": "tcp"])
    #expect(try process.waitForExit() == 1)
    #expect(process.standardError.contains("REMOTE_PORT is not set; expected a port number 1-65535"))
  }

  @Test func invalidPortExitsOneAndSaysWhatIsExpected() throws {
    let process = try RelayProcess(environment: relayEnvironment("tcp", targetPort: 1).merging(["LOCAL_PORT": "http"]) { $1 })
    #expect(try process.waitForExit() == 1)
    #expect(process.standardError.contains("LOCAL_PORT=\"http\" is invalid; expected a port number 0-65535"))
  }

  @Test func reverseHTTPIsRefusedClearly() throws {
    let process = try RelayProcess(environment: relayEnvironment("reverse_http", targetPort: 8080))
    #expect(try process.waitForExit() == 1)
    #expect(process.standardError.contains("PROXY_TYPE=reverse_http (kftray's expose tunnel) is not supported by this relay"))
  }

  @Test func relaysTCPAndExitsZeroOnSIGTERM() throws {
    let echo = try TestTCPServer(.echo)
    let process = try RelayProcess(environment: relayEnvironment("TCP", targetPort: echo.port))
    let port = try process.listeningPort()

    let payload = pseudoRandomBytes(count: 1 << 20, seed: 99)
    let connection = try TestConnection(port: port)
    let writer = Background {
      try connection.send(payload)
      connection.shutdownWrite()
    }
    let (received, end) = connection.readToEnd()
    try writer.wait()
    #expect(end == .eof)
    #expect(checksum(received) == checksum(payload) && received.count == payload.count)

    process.terminate()
    #expect(try process.waitForExit() == 0)
    let log = process.standardError
    #expect(log.contains("tcp close:") && log.contains("1048576 bytes to target, 1048576 bytes to client"))
    #expect(log.contains("received SIGTERM"))
  }

  @Test func sigtermCutsAnIdleConnectionAfterTheGraceAndExitsZero() throws {
    let echo = try TestTCPServer(.echo)
    let process = try RelayProcess(environment: relayEnvironment("tcp", targetPort: echo.port))
    let connection = try TestConnection(port: try process.listeningPort())
    try connection.send([1])
    #expect(try connection.read(exactly: 1) == [1])

    process.terminate()
    // Grace is 5 s; allow generous slack for a loaded machine.
    #expect(try process.waitForExit(timeoutSeconds: 15) == 0)
    let (_, end) = connection.readToEnd()
    #expect(end == .eof || end == .reset)
    #expect(process.standardError.contains("grace period over, closing 1 connection(s)"))
  }

  @Test func relaysUDPFramesThroughTheProcess() throws {
    let server = try TestUDPServer(.reply)
    defer { server.stop(.reply) }
    let process = try RelayProcess(environment: relayEnvironment("udp", targetPort: server.port))
    let connection = try TestConnection(port: try process.listeningPort())
    try connection.send(UDPFraming.header(length: 5) + Array("hello".utf8))
    #expect(try connection.read(exactly: 4) == UDPFraming.header(length: 6))
    #expect(try connection.read(exactly: 6) == Array("Rhello".utf8))
    connection.shutdownWrite()
    #expect(connection.readToEnd().1 == .eof)

    process.terminate()
    #expect(try process.waitForExit() == 0)
  }
}
