import ChildProcess
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs programs with posix_spawn. Not Foundation.Process: its exit detection was seen to hang in
/// concurrently running tests here, and its pipes stay open in any daemon started meanwhile.
/// Output goes to an unlinked close-on-exec file instead of a pipe, so a daemon spawned by another
/// thread at the same moment can never inherit it and keep a read waiting forever.
enum ProgramRunner {
  struct Output {
    var status: Int32
    var text: String
  }

  /// Runs `arguments[0]` to completion; stdout and stderr together.
  static func run(_ arguments: [String]) throws(NetworkError) -> Output {
    let fd = try scratchFile(for: arguments)
    defer { close(fd) }
    let pid = try spawn(arguments, output: fd)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    let exited = (status & 0x7f) == 0
    let code = exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16 * 1024)
    var offset: off_t = 0
    while true {
      let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else { break }
      bytes += chunk[0..<n]
      offset += off_t(n)
    }
    return Output(status: code, text: String(decoding: bytes, as: UTF8.self))
  }

  /// Runs and throws unless the status is 0.
  @discardableResult
  static func check(_ arguments: [String]) throws(NetworkError) -> String {
    let output = try run(arguments)
    guard output.status == 0 else {
      throw .commandFailed(command: arguments, status: output.status, output: output.text)
    }
    return output.text
  }

  /// Starts a long-running program with stdout and stderr appended to `logPath`; returns its pid.
  /// The caller reaps it.
  static func startDaemon(_ arguments: [String], logPath: String) throws(NetworkError) -> pid_t {
    let fd = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw .file(path: logPath, reason: String(cString: strerror(errno))) }
    defer { close(fd) }
    return try spawn(arguments, output: fd)
  }

  private static func scratchFile(for arguments: [String]) throws(NetworkError) -> Int32 {
    // open(O_EXCL | O_CLOEXEC) rather than mkstemp + fcntl: no moment in which the descriptor
    // could leak into a concurrent spawn.
    let path = NSTemporaryDirectory() + "/kft-net-\(UUID().uuidString)"
    let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw .spawnFailed(command: arguments, reason: "no scratch file \(path): \(String(cString: strerror(errno)))") }
    unlink(path)
    return fd
  }

  /// stdout and stderr to `output`, with a fixed, small environment: nothing of the caller's
  /// (proxies, locale) leaks into the cluster.
  private static func spawn(_ arguments: [String], output: Int32) throws(NetworkError) -> pid_t {
    do {
      return try ChildSpawn(
        executable: arguments[0], arguments: Array(arguments.dropFirst()),
        environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"], stdout: .descriptor(output)
      ).start()
    } catch {
      throw .spawnFailed(command: arguments, reason: error.reason)
    }
  }
}
