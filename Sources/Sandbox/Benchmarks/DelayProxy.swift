import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A TCP proxy on loopback that makes the API server look remote: every byte is delivered half a
/// round-trip time after it was received, in each direction, in order, optionally no faster than a
/// rate (a token bucket). It stands in for netem, which would have to change the host's network
/// namespace; this is an ordinary process with ordinary sockets, loopback to loopback only.
///
/// Like a real path it holds a bounded amount in flight per direction (`window`, by default 4 MiB,
/// Linux's default largest send buffer): a sender that fills it waits, so window / (rtt / 2)
/// bounds one direction's throughput as a TCP window bounds a real connection's. Hand-written
/// (threads, a queue per direction) because the timed queue is the whole point and no library on
/// this machine offers one.
public enum DelayProxy {
  public struct Settings: Sendable {
    public var listenHost: String
    public var listenPort: UInt16
    public var targetHost: String
    public var targetPort: UInt16
    /// Each direction's delay: rtt / 2.
    public var oneWayDelay: Duration
    /// Bytes per second per direction; nil: no cap.
    public var bytesPerSecond: Double?
    public var window: Int

    public init(
      listenHost: String, listenPort: UInt16, targetHost: String, targetPort: UInt16, roundTrip: Duration,
      bytesPerSecond: Double? = nil, window: Int = 4 << 20
    ) {
      self.listenHost = listenHost
      self.listenPort = listenPort
      self.targetHost = targetHost
      self.targetPort = targetPort
      self.oneWayDelay = roundTrip / 2
      self.bytesPerSecond = bytesPerSecond
      self.window = window
    }
  }

  /// Serves forever on the calling thread; `ready` gets the bound port first.
  public static func serve(_ settings: Settings, ready: (UInt16) -> Void) throws(BenchError) -> Never {
    for host in [settings.listenHost, settings.targetHost] where !host.hasPrefix("127.") {
      throw BenchError("the delay proxy works on loopback only: \(host) is not a 127.x.y.z address")
    }
    let (listener, bound) = try LoopbackSocket.listen(port: settings.listenPort, host: settings.listenHost)
    ready(bound)
    while true {
      let client = accept(listener, nil, nil)
      if client < 0 {
        if errno == EINTR || errno == ECONNABORTED || errno == EMFILE { continue }
        throw BenchError("accept: \(LoopbackSocket.errnoText())")
      }
      LoopbackSocket.setNoDelay(client)
      guard let upstream = try? LoopbackSocket.connect(port: settings.targetPort, host: settings.targetHost, timeoutSeconds: nil) else {
        close(client)  // the target is down: the client sees its connection closed, as with a refused one
        continue
      }
      let connection = ProxiedConnection(client: client, upstream: upstream)
      for (from, to) in [(client, upstream), (upstream, client)] {
        let queue = DelayQueue(from: from, to: to, window: settings.window)
        Thread.detachNewThread {
          queue.read(delay: settings.oneWayDelay)
          connection.threadEnded()
        }
        Thread.detachNewThread {
          queue.write(bytesPerSecond: settings.bytesPerSecond)
          connection.threadEnded()
        }
      }
    }
  }

  /// "20ms", "0.5s", "150us", "80" (milliseconds).
  public static func parseDuration(_ text: String) -> Duration? {
    let units: [(String, Double)] = [("ms", 1e-3), ("us", 1e-6), ("s", 1)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
      guard let value = Double(text.dropLast(suffix.count)), value >= 0 else { return nil }
      return .nanoseconds(Int64((value * scale * 1e9).rounded()))
    }
    return Double(text).flatMap { $0 >= 0 ? .nanoseconds(Int64(($0 * 1e6).rounded())) : nil }
  }

  /// tc's spelling: "100mbit", "512kbit", "1gbit", "800bit"; returns bytes per second.
  public static func parseRate(_ text: String) -> Double? {
    let lower = text.lowercased()
    let units: [(String, Double)] = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1)]
    for (suffix, scale) in units where lower.hasSuffix(suffix) {
      guard let value = Double(lower.dropLast(suffix.count)), value > 0 else { return nil }
      return value * scale / 8
    }
    return nil
  }
}

/// Both sockets of one proxied connection, closed once all four threads (a reader and a writer per
/// direction) are done with them, so that no thread can touch a descriptor number reused since.
private final class ProxiedConnection: Sendable {
  let client: Int32
  let upstream: Int32
  private let remaining = Atomic<Int>(4)

  init(client: Int32, upstream: Int32) {
    self.client = client
    self.upstream = upstream
  }

  func threadEnded() {
    if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
      close(client)
      close(upstream)
    }
  }
}

/// One direction: a reader thread stamps what it receives with its due time, a writer thread
/// delivers it when due. Order is kept (a FIFO); an end of stream travels as the last entry.
final class DelayQueue: Sendable {
  private struct Entry {
    var bytes: [UInt8]  // empty: the sender closed or failed
    var due: ContinuousClock.Instant
  }

  private struct State {
    var entries: [Entry] = []
    var head = 0
    var queuedBytes = 0
    var readerWaits = false
    /// The writer gave up (the receiver is gone): the reader stops too.
    var writerFailed = false
  }

  private let state = Mutex(State())
  /// One signal per entry pushed.
  private let available = DispatchSemaphore(value: 0)
  /// Signalled when a waiting reader may push again.
  private let space = DispatchSemaphore(value: 0)
  private let window: Int
  private let from: Int32
  private let to: Int32

  init(from: Int32, to: Int32, window: Int) {
    self.from = from
    self.to = to
    self.window = max(window, 1)
  }

  func read(delay: Duration) {
    let chunk = 64 * 1024
    var buffer = [UInt8](repeating: 0, count: chunk)
    while true {
      let n = buffer.withUnsafeMutableBytes { recv(from, $0.baseAddress, chunk, 0) }
      let due = ContinuousClock.now + delay
      if n <= 0 {
        push(Entry(bytes: [], due: due))
        return
      }
      guard push(Entry(bytes: Array(buffer[0..<n]), due: due)) else { return }
    }
  }

  /// Queues an entry, waiting while the window is full; false once the writer has failed.
  @discardableResult
  private func push(_ entry: Entry) -> Bool {
    while true {
      let outcome: Bool? = state.withLock { s in
        if s.writerFailed { return false }
        if s.queuedBytes > 0 && s.queuedBytes + entry.bytes.count > window {
          s.readerWaits = true
          return nil
        }
        s.entries.append(entry)
        s.queuedBytes += entry.bytes.count
        return true
      }
      switch outcome {
      case .some(let pushed):
        if pushed { available.signal() }
        return pushed
      case .none: space.wait()
      }
    }
  }

  private func pop() -> Entry {
    available.wait()
    let (entry, wake): (Entry, Bool) = state.withLock { s in
      let entry = s.entries[s.head]
      s.head += 1
      if s.head > 1024 && s.head * 2 > s.entries.count {
        s.entries.removeFirst(s.head)
        s.head = 0
      }
      s.queuedBytes -= entry.bytes.count
      let wake = s.readerWaits
      s.readerWaits = false
      return (entry, wake)
    }
    if wake { space.signal() }
    return entry
  }

  func write(bytesPerSecond: Double?) {
    var bucket = bytesPerSecond.map { TokenBucket(bytesPerSecond: $0) }
    while true {
      let entry = pop()
      Self.sleep(until: entry.due)
      if entry.bytes.isEmpty {
        shutdown(to, Int32(SHUT_WR))
        return
      }
      var offset = 0
      while offset < entry.bytes.count {
        var piece = entry.bytes.count - offset
        if bucket != nil { piece = bucket!.take(atMost: piece) }
        let written = entry.bytes.withUnsafeBytes { send(to, $0.baseAddress! + offset, piece, Int32(MSG_NOSIGNAL)) }
        if written <= 0 {
          fail()
          return
        }
        if written < piece { bucket?.giveBack(piece - written) }
        offset += written
      }
    }
  }

  /// The receiving side is gone: stop the reader (it may be waiting for space, or in recv, which
  /// the shutdown ends) and drop the rest.
  private func fail() {
    shutdown(from, Int32(SHUT_RDWR))
    let wake = state.withLock { s in
      s.writerFailed = true
      let wake = s.readerWaits
      s.readerWaits = false
      return wake
    }
    if wake { space.signal() }
  }

  static func sleep(until deadline: ContinuousClock.Instant) {
    let left = deadline - ContinuousClock.now
    guard left > .zero else { return }
    var request = timespec(tv_sec: Int(left.components.seconds), tv_nsec: Int(left.components.attoseconds / 1_000_000_000))
    var rest = timespec()
    while nanosleep(&request, &rest) == -1 && errno == EINTR { request = rest }
  }
}

/// A rate cap: tokens (bytes) accrue at the rate up to a burst of 5 ms worth (at least 16 KiB).
struct TokenBucket {
  let bytesPerSecond: Double
  let capacity: Double
  private var tokens: Double
  private var last: ContinuousClock.Instant

  init(bytesPerSecond: Double) {
    self.bytesPerSecond = bytesPerSecond
    capacity = max(16 * 1024, bytesPerSecond * 0.005)
    tokens = capacity
    last = .now
  }

  /// Waits until some tokens are there and takes up to `wanted` (at most one burst).
  mutating func take(atMost wanted: Int) -> Int {
    let piece = min(Double(wanted), capacity)
    refill()
    if tokens < piece {
      let wait = (piece - tokens) / bytesPerSecond
      DelayQueue.sleep(until: .now + .nanoseconds(Int64(wait * 1e9)))
      refill()
    }
    tokens -= piece
    return Int(piece)
  }

  /// Returns what a short write did not use.
  mutating func giveBack(_ bytes: Int) { tokens = min(capacity, tokens + Double(bytes)) }

  private mutating func refill() {
    let now = ContinuousClock.now
    let elapsed = now - last
    last = now
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    tokens = min(capacity, tokens + seconds * bytesPerSecond)
  }
}
