#if canImport(Glibc)
  import Glibc
#endif

/// One container run's log file in the CRI format the kubelet reads:
/// `<RFC3339Nano UTC> <stdout|stderr> <F|P> <text>\n`. Every record goes out in one `write` on an
/// `O_APPEND` descriptor, so the stdout and stderr readers never interleave inside a record.
final class CRILogFile: Sendable {
  let path: String
  private let descriptor: Int32

  /// containerd cuts lines longer than this into partial (`P`) records.
  static let maxLineBytes = 16 * 1024

  init(path: String) throws(ProcessSpawner.Failure) {
    self.path = path
    descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
    guard descriptor >= 0 else {
      throw ProcessSpawner.Failure(description: "cannot open the log file \(path): \(String(cString: strerror(errno)))")
    }
  }

  deinit { close(descriptor) }

  func write(stream: String, full: Bool, text: some Collection<UInt8>) {
    var record = Array(Self.timestamp().utf8)
    record.append(UInt8(ascii: " "))
    record.append(contentsOf: stream.utf8)
    record.append(contentsOf: full ? Array(" F ".utf8) : Array(" P ".utf8))
    record.append(contentsOf: text)
    record.append(UInt8(ascii: "\n"))
    record.withUnsafeBytes { buffer in
      var offset = 0
      while offset < buffer.count {
        let n = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return }
        offset += n
      }
    }
  }

  /// Go's `time.RFC3339Nano` in UTC, as containerd writes it: nanoseconds with trailing zeros trimmed.
  static func timestamp() -> String {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Timestamps.rfc3339(seconds: now.tv_sec, nanoseconds: Int(now.tv_nsec))
  }
}

/// Reads one output stream of a container until EOF and turns it into log records: a full line per
/// newline, partial records for overlong lines, and what is left at EOF as a full line.
/// A blocking read on a thread of its own: the stream is a pipe, and the thread ends with the process.
struct LogStreamReader {
  let descriptor: Int32
  let stream: String
  let file: CRILogFile

  func run() {
    defer { close(descriptor) }
    var pending: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 8192)
    while true {
      let n = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { break }
      pending.append(contentsOf: chunk[0..<n])
      var start = 0
      while true {
        let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n"))
        if (newline ?? pending.endIndex) - start >= CRILogFile.maxLineBytes {
          file.write(stream: stream, full: false, text: pending[start..<(start + CRILogFile.maxLineBytes)])
          start += CRILogFile.maxLineBytes
        } else if let newline {
          file.write(stream: stream, full: true, text: pending[start..<newline])
          start = newline + 1
        } else {
          break
        }
      }
      pending.removeFirst(start)
    }
    if !pending.isEmpty { file.write(stream: stream, full: true, text: pending) }
  }
}
