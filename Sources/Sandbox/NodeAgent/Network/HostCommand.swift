#if canImport(Glibc)
  import Glibc
#endif

/// Runs a host tool (`ip`) to completion and returns its combined output. posix_spawn and a blocking
/// waitpid: callers are short, synchronous setup steps.
enum HostCommand {
  struct Failure: Error, CustomStringConvertible {
    var command: [String]
    var status: Int32
    var output: String
    var description: String { "\(command.joined(separator: " ")) failed (exit \(status)): \(output)" }
  }

  @discardableResult
  static func run(_ executable: String, _ arguments: [String]) throws(Failure) -> String {
    let command = [executable] + arguments
    let spawned: ProcessSpawner.Spawned
    do {
      spawned = try ProcessSpawner.spawn(executable: executable, arguments: arguments, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
    } catch {
      throw Failure(command: command, status: -1, output: error.description)
    }
    // Both pipes are read to EOF before waiting; the tools here print little, so reading stderr after
    // stdout cannot dead-lock on a full pipe in practice, and stdout is drained first.
    let output = drain(spawned.stdout) + drain(spawned.stderr)
    var status: Int32 = 0
    while waitpid(spawned.pid, &status, 0) == -1 && errno == EINTR {}
    let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    guard exitCode == 0 else { throw Failure(command: command, status: exitCode, output: output) }
    return output
  }

  private static func drain(_ descriptor: Int32) -> String {
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { break }
      bytes.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}
