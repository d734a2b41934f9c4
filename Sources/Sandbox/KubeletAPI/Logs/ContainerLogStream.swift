import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
  import Glibc
#endif

/// What to stream for one `GET /containerLogs` (values only; `ContainerLogStream` does the I/O).
struct ContainerLogSource: Sendable {
  let path: String
  let options: ContainerLogOptions
  /// How often a following stream looks for appended bytes.
  let pollInterval: TimeAmount
  /// How often a following stream asks whether the container still writes this file (the kubelet
  /// checks the container's state every 5 s).
  let stateCheckInterval: TimeAmount
  /// True while the container still writes `path`.
  let isCurrent: @Sendable () -> Bool
}

/// Streams one CRI log file into an HTTP response as the kubelet's `ReadLogs` does: from the start or
/// from the last `tailLines` records, record by record through a `ContainerLogFormatter`; with
/// `follow` it keeps reading what is appended (polling the file) until the container stops writing it
/// (its pod or container left the directory, or it restarted into a new file), the client goes away,
/// or `limitBytes` is reached.
///
/// Driven by the connection's event loop: file reads run on NIO's blocking-I/O thread pool, and the
/// next read starts only when the previous chunk was written to the socket, so a slow client slows
/// the reading instead of filling memory. (Not Swift concurrency: tasks waiting on a client would
/// hold the small cooperative pool that the rest of the process needs.) Event-loop confined.
final class ContainerLogStream {
  private let source: ContainerLogSource
  private let channel: Channel
  private let threadPool: NIOThreadPool
  private var descriptor: CInt = -1
  private var offset: Int64 = 0
  private var pending: [UInt8] = []
  private var formatter: ContainerLogFormatter
  private var nextStateCheck: NIODeadline
  private var draining = false
  private var finished = false

  static let blockSize = 32 * 1024

  init(source: ContainerLogSource, channel: Channel, threadPool: NIOThreadPool = .singleton) {
    self.source = source
    self.channel = channel
    self.threadPool = threadPool
    self.formatter = ContainerLogFormatter(options: source.options)
    self.nextStateCheck = .now() + source.stateCheckInterval
  }

  private var bound: NIOLoopBound<ContainerLogStream> { NIOLoopBound(self, eventLoop: channel.eventLoop) }

  /// Opens the file (and finds where `tailLines` starts) off the loop, then reads.
  func start() {
    let path = source.path
    let tail = source.options.tailLines
    let stream = bound
    threadPool.runIfActive(eventLoop: channel.eventLoop) { () -> Opened in
      let descriptor = open(path, O_RDONLY | O_CLOEXEC)
      guard descriptor >= 0 else { return Opened(descriptor: -1, offset: 0) }
      return Opened(descriptor: descriptor, offset: tail.map { Self.tailStart(descriptor, lines: $0) } ?? 0)
    }.whenComplete { result in
      let stream = stream.value
      guard case .success(let opened) = result, opened.descriptor >= 0 else {
        stream.finish()
        return
      }
      stream.descriptor = opened.descriptor
      stream.offset = opened.offset
      if stream.finished {
        close(opened.descriptor)
        return
      }
      stream.readNext()
    }
  }

  private struct Opened: Sendable {
    var descriptor: CInt
    var offset: Int64
  }

  private func readNext() {
    guard !finished else { return }
    let descriptor = self.descriptor
    let offset = self.offset
    let stream = bound
    threadPool.runIfActive(eventLoop: channel.eventLoop) { () -> [UInt8] in
      var block = [UInt8](repeating: 0, count: Self.blockSize)
      var count: Int
      repeat {
        count = block.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, Self.blockSize, off_t(offset)) }
      } while count < 0 && errno == EINTR
      return count > 0 ? Array(block[0..<count]) : []
    }.whenComplete { result in
      switch result {
      case .success(let bytes): stream.value.received(bytes)
      case .failure: stream.value.finish()
      }
    }
  }

  private func received(_ bytes: [UInt8]) {
    guard !finished else { return }
    if !bytes.isEmpty {
      offset += Int64(bytes.count)
      pending += bytes
      var output: [UInt8] = []
      var lineStart = 0
      while let newline = pending[lineStart...].firstIndex(of: UInt8(ascii: "\n")) {
        Self.format(pending[lineStart...newline], with: &formatter, into: &output)
        lineStart = newline + 1
      }
      pending.removeFirst(lineStart)
      write(output) { stream in
        if stream.formatter.isExhausted { stream.finish() } else { stream.readNext() }
      }
      return
    }
    // End of the file.
    if !source.options.follow || draining {
      // The kubelet writes an incomplete last line as it is when it stops.
      var output: [UInt8] = []
      if !pending.isEmpty { Self.format(pending[...], with: &formatter, into: &output) }
      pending = []
      write(output) { $0.finish() }
      return
    }
    guard channel.isActive else {
      finish()
      return
    }
    if NIODeadline.now() >= nextStateCheck {
      nextStateCheck = .now() + source.stateCheckInterval
      // Gone: read what is left once more, then end.
      if !source.isCurrent() {
        draining = true
        readNext()
        return
      }
    }
    let stream = bound
    channel.eventLoop.scheduleTask(in: source.pollInterval) { stream.value.readNext() }
  }

  /// Writes `bytes` as one chunk and continues once it reached the socket (at once when empty).
  private func write(_ bytes: [UInt8], then next: @escaping @Sendable (ContainerLogStream) -> Void) {
    guard !bytes.isEmpty else {
      next(self)
      return
    }
    let stream = bound
    let part = HTTPServerResponsePart.body(.byteBuffer(channel.allocator.buffer(bytes: bytes)))
    channel.writeAndFlush(part).whenComplete { result in
      switch result {
      case .success: next(stream.value)
      case .failure: stream.value.finish()  // the client went away
      }
    }
  }

  /// Ends the response and the connection (one request per kubelet connection).
  private func finish() {
    guard !finished else { return }
    finished = true
    if descriptor >= 0 {
      close(descriptor)
      descriptor = -1
    }
    let channel = self.channel
    channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in channel.close(promise: nil) }
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
