#if canImport(Glibc)
  import Glibc
#endif

/// Streams one CRI log file to a client as the kubelet's `ReadLogs` does: from the start or from the
/// last `tailLines` records, record by record through a `ContainerLogFormatter`, and with `follow`
/// keeps reading what is appended (polling the file) until the container stops writing it (its pod or
/// container left the directory, or it restarted into a new file), the client goes away, or
/// `limitBytes` is reached.
struct ContainerLogStreamer: Sendable {
  let path: String
  let options: ContainerLogOptions
  /// How often a following stream looks for appended bytes.
  let pollInterval: Duration
  /// How often a following stream asks whether the container still writes this file (the kubelet
  /// checks the container's state every 5 s).
  let stateCheckInterval: Duration
  /// True while the container still writes `path`.
  let isCurrent: @Sendable () -> Bool
  /// True once the client is gone (checked while following an idle file; set by the server).
  var clientGone: @Sendable () -> Bool = { false }

  struct OpenError: Error {
    var errno: Int32
  }

  static let blockSize = 32 * 1024

  /// Writes the output through `write` (which throws once the client is gone) and returns when done.
  func run(write: @Sendable ([UInt8]) async throws -> Void) async throws {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw OpenError(errno: errno) }
    defer { close(descriptor) }
    var offset = options.tailLines.map { Self.tailStart(descriptor, lines: $0) } ?? 0
    var formatter = ContainerLogFormatter(options: options)
    var pending: [UInt8] = []
    var block = [UInt8](repeating: 0, count: Self.blockSize)
    let clock = ContinuousClock()
    var nextStateCheck = clock.now + stateCheckInterval
    var draining = false

    while true {
      let count = block.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, Self.blockSize, off_t(offset)) }
      if count > 0 {
        offset += Int64(count)
        pending += block[0..<count]
        var output: [UInt8] = []
        var lineStart = 0
        while let newline = pending[lineStart...].firstIndex(of: UInt8(ascii: "\n")) {
          Self.format(pending[lineStart...newline], with: &formatter, into: &output)
          lineStart = newline + 1
        }
        pending.removeFirst(lineStart)
        if !output.isEmpty { try await write(output) }
        if formatter.isExhausted { return }
        continue
      }
      if count < 0, errno != EINTR { return }
      // End of the file.
      if !options.follow || draining {
        // The kubelet writes an incomplete last line as it is when it stops.
        var output: [UInt8] = []
        if !pending.isEmpty { Self.format(pending[...], with: &formatter, into: &output) }
        if !output.isEmpty { try await write(output) }
        return
      }
      if clientGone() { return }
      if clock.now >= nextStateCheck {
        nextStateCheck = clock.now + stateCheckInterval
        // Gone: read what is left once more, then end.
        if !isCurrent() {
          draining = true
          continue
        }
      }
      try await Task.sleep(for: pollInterval)
    }
  }

  /// A line that does not parse is skipped, as the kubelet skips it (it only logs it).
  private static func format(_ line: ArraySlice<UInt8>, with formatter: inout ContainerLogFormatter, into output: inout [UInt8]) {
    guard let record = try? CRILogRecord.parse(line) else { return }
    formatter.append(record, to: &output)
  }

  /// Where the last `lines` lines of the file start (`tail.FindTailLineStartIndex`: counts newlines
  /// backwards block by block).
  static func tailStart(_ descriptor: CInt, lines: Int) -> Int64 {
    var status = stat()
    guard fstat(descriptor, &status) == 0 else { return 0 }
    let size = Int64(status.st_size)
    var right = size
    var left: Int64 = 0
    var newlines = 0
    var buffer: [UInt8] = []
    while right > 0 && newlines <= lines {
      left = max(0, right - Int64(blockSize))
      buffer = [UInt8](repeating: 0, count: Int(right - left))
      let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(left)) }
      guard count == buffer.count else { return 0 }
      newlines += buffer.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
      right = left
    }
    var index = 0
    while newlines > lines, let newline = buffer[index...].firstIndex(of: UInt8(ascii: "\n")) {
      index = newline + 1
      newlines -= 1
    }
    return left + Int64(index)
  }
}
