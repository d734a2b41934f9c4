import CCurl
import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// An HTTP/1.1 request that asks the server to switch protocols (SPDY/3.1, WebSocket, ...).
/// The caller supplies the protocol headers; the transport adds Host, credentials and User-Agent.
public struct UpgradeRequest: Sendable {
  public var method: String
  public var path: String
  public var headers: [HTTPHeader]
  /// How long to wait for the whole response head after the connection is up.
  public var handshakeTimeout: Duration

  public init(method: String, path: String, headers: [HTTPHeader], handshakeTimeout: Duration = .seconds(30)) {
    self.method = method
    self.path = path
    self.headers = headers
    self.handshakeTimeout = handshakeTimeout
  }
}

public enum UpgradeError: Error, Sendable, CustomStringConvertible {
  /// Connecting, TLS or proxying failed before the request could be sent.
  case connect(CurlError, url: String)
  /// The server answered, but not with 101. The response (usually a metav1.Status) is kept.
  case rejected(HTTPResponse)
  /// The connection broke or the peer misbehaved during the handshake or afterwards.
  case io(String)
  case timedOut(String)

  public var description: String {
    switch self {
    case .connect(let e, let url): return "\(url): \(e.message)"
    case .rejected(let r): return "upgrade refused with HTTP \(r.status)"
    case .io(let m): return m
    case .timedOut(let m): return m
    }
  }
}

/// What an upgraded connection reports. Called on the connection's own I/O thread, in order.
/// Each received chunk is handed over (the connection keeps no reference to it), so a consumer
/// can keep slices of it instead of copying.
public struct UpgradeEvents: Sendable {
  public var received: @Sendable ([UInt8]) -> Void
  /// `nil` for an orderly end (EOF from the peer, or `close()` by us).
  public var closed: @Sendable (UpgradeError?) -> Void

  public init(
    received: @escaping @Sendable ([UInt8]) -> Void,
    closed: @escaping @Sendable (UpgradeError?) -> Void
  ) {
    self.received = received
    self.closed = closed
  }
}

/// A connection switched to another protocol, used as a full-duplex byte pipe.
///
/// libcurl 7.88 has no WebSocket support, so the connection is made with `CONNECT_ONLY=1` and the
/// upgrade request is written by hand. One thread owns the easy handle for its whole life: it
/// connects, sends the request, reads the head, then loops on poll. Two libcurl rules shape the
/// loop: reads are drained until `CURLE_AGAIN` before polling (OpenSSL buffers whole TLS records
/// the socket no longer shows), and a send that returned `CURLE_AGAIN` is retried with the same
/// pointer and length (OpenSSL refuses a "moved" retry).
public final class UpgradedConnection: Sendable {
  public let head: HTTPResponseHead
  private let shared: PipeShared

  fileprivate init(head: HTTPResponseHead, shared: PipeShared) {
    self.head = head
    self.shared = shared
  }

  deinit { shared.post { $0.closeRequested = true } }

  /// Opens the connection and performs the upgrade. Returns after the 101; any bytes the server
  /// sent right behind the head are delivered to `events.received` before anything else.
  public static func open(
    config: ClientConfig, credentials: RequestCredentials, identity: ClientIdentity = .default,
    request: UpgradeRequest, events: UpgradeEvents
  ) async throws(UpgradeError) -> UpgradedConnection {
    CurlGlobal.ensureInitialized()
    let settings = ConnectionSettings(config: config, credentials: credentials, identity: identity)
    let shared: PipeShared
    do { shared = try PipeShared() } catch { throw .io("\(error)") }
    let result: Result<HTTPResponseHead, UpgradeError> = await withCheckedContinuation { continuation in
      let thread = Thread {
        let pipe = PipeLoop(settings: settings, request: request, shared: shared, events: events)
        switch pipe.handshake() {
        case .failure(let error):
          continuation.resume(returning: .failure(error))
        case .success(let head):
          continuation.resume(returning: .success(head))
          pipe.run()
        }
      }
      thread.name = "kftray-upgrade"
      thread.start()
    }
    return UpgradedConnection(head: try result.get(), shared: shared)
  }

  /// Queues bytes for sending. Never blocks; `pendingBytes` tells how much is not yet sent.
  public func write(_ bytes: Data) {
    guard !bytes.isEmpty else { return }
    write { $0.append(contentsOf: bytes) }
  }

  /// Appends to the send queue in place: `append` runs under the queue's lock and adds bytes to
  /// the end of `queue` (it must not remove any). This is how a framer writes a frame header and
  /// its payload straight into the bytes the I/O thread sends, with no intermediate copy.
  public func write(_ append: (_ queue: inout [UInt8]) -> Void) {
    shared.post { s in
      let before = s.queue.count
      append(&s.queue)
      s.pendingBytes += s.queue.count - before
    }
  }

  /// Stops (or resumes) reading from the socket. While paused the peer's TCP window closes, which
  /// is the only backpressure a protocol without flow control (SPDY as k8s speaks it) has.
  public func setReceivePaused(_ paused: Bool) {
    shared.post { $0.receivePaused = paused }
  }

  /// Bytes queued or in the send buffer, not yet accepted by the socket.
  public var pendingBytes: Int { shared.state.withLock { $0.pendingBytes } }

  /// Calls `handler` once, on the I/O thread, as soon as `pendingBytes` is below `threshold`
  /// (at once, on the caller's thread, if it already is). A later call replaces an earlier one.
  public func notifyWhenPending(below threshold: Int, _ handler: @escaping @Sendable () -> Void) {
    let now = shared.state.withLock { s -> Bool in
      if s.pendingBytes < threshold {
        s.drainWaiter = nil
        return true
      }
      s.drainWaiter = DrainWaiter(threshold: threshold, handler: handler)
      return false
    }
    if now { handler() }
  }

  /// Sends what is queued, then closes. `events.closed(nil)` follows.
  public func close() {
    shared.post { $0.closeRequested = true }
  }

  /// Closes at once, dropping queued bytes.
  public func abort() {
    shared.post {
      $0.closeRequested = true
      $0.abortRequested = true
    }
  }
}

struct PipeState {
  /// Written by `write`, taken whole by the I/O thread (the two buffers trade places, so both
  /// keep their capacity and nothing is copied between them).
  var queue: [UInt8] = []
  var pendingBytes = 0
  var closeRequested = false
  var abortRequested = false
  var receivePaused = false
  var drainWaiter: DrainWaiter?
}

struct DrainWaiter {
  let threshold: Int
  let handler: @Sendable () -> Void
}

final class PipeShared: Sendable {
  let wakeup: Wakeup
  let state = Mutex(PipeState())

  init() throws(WakeupError) { wakeup = try Wakeup() }

  func post(_ change: (inout PipeState) -> Void) {
    state.withLock { change(&$0) }
    wakeup.signal()
  }
}

/// The I/O thread's side of an upgraded connection.
final class PipeLoop {
  private let settings: ConnectionSettings
  private let request: UpgradeRequest
  private let shared: PipeShared
  private let events: UpgradeEvents
  private let easy = CurlEasy()
  private var socket: Int32 = -1
  /// Handshake reads only; the byte pipe reads into the chunks it hands over.
  private let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
  /// The bytes being sent, taken whole from `PipeState.queue`. Not touched between a
  /// `CURLE_AGAIN` and its retry, which must repeat the same pointer and length (OpenSSL's rule).
  private var sending: [UInt8] = []
  private var sendOffset = 0
  /// Length of the send that returned `CURLE_AGAIN`, to be retried as it was.
  private var retryLength: Int?
  private var earlyBytes: [UInt8] = []

  init(settings: ConnectionSettings, request: UpgradeRequest, shared: PipeShared, events: UpgradeEvents) {
    self.settings = settings
    self.request = request
    self.shared = shared
    self.events = events
  }

  deinit {
    readBuffer.deallocate()
  }

  // MARK: Handshake

  func handshake() -> Result<HTTPResponseHead, UpgradeError> {
    let url = settings.url(path: request.path)
    do {
      try settings.apply(to: easy, upgrade: true)
      try easy.set(CURLOPT_URL, url)
      try easy.set(CURLOPT_CONNECT_ONLY, 1)
      // Fewer recv calls for the many small records a real API server sends (see the shim). Only
      // libcurl on OpenSSL supports it; elsewhere the connection just reads as before.
      _ = kc_enable_tls_read_ahead(easy.handle)
      let rc = curl_easy_perform(easy.handle)
      if rc != CURLE_OK { return .failure(.connect(easy.error(rc), url: url)) }
    } catch {
      return .failure(.connect(error, url: url))
    }
    socket = easy.activeSocket
    guard socket >= 0 else { return .failure(.io("\(url): libcurl returned no socket after connecting")) }

    let deadline = ContinuousClock.now + request.handshakeTimeout
    var text = "\(request.method) \(settings.config.server.pathPrefix)\(request.path) HTTP/1.1\r\n"
    text += "Host: \(settings.config.server.authority)\r\n"
    for (name, value) in settings.commonHeaders() where name != "Host" { text += "\(name): \(value)\r\n" }
    for header in request.headers { text += "\(header.name): \(header.value)\r\n" }
    if request.method == "POST" || request.method == "PUT" { text += "Content-Length: 0\r\n" }
    text += "\r\n"
    if let error = sendAll(Array(text.utf8), deadline: deadline) { return .failure(error) }

    var received: [UInt8] = []
    var headEnd: Int?
    while headEnd == nil {
      switch readSome(deadline: deadline) {
      case .failure(let error): return .failure(error)
      case .success(let chunk):
        if chunk.isEmpty { return .failure(.io("\(url): the server closed the connection during the upgrade")) }
        received.append(contentsOf: chunk)
        headEnd = received.firstRange(of: [13, 10, 13, 10])?.upperBound
        if headEnd == nil && received.count > 1 << 20 { return .failure(.io("\(url): response head over 1 MiB")) }
      }
    }
    var head = HTTPResponseHead(status: 0, headers: [], httpVersion: "")
    let headText = String(decoding: received[..<headEnd!], as: UTF8.self)
    for line in headText.components(separatedBy: "\r\n") { _ = head.consume(line: line) }
    let rest = Array(received[headEnd!...])
    if head.status != 101 {
      return .failure(.rejected(HTTPResponse(head: head, body: readBody(head: head, start: rest, deadline: deadline))))
    }
    earlyBytes = rest
    return .success(head)
  }

  /// A refusal's body (a Status, mostly) by Content-Length, chunked encoding or EOF.
  private func readBody(head: HTTPResponseHead, start: [UInt8], deadline: ContinuousClock.Instant) -> Data {
    var body = start
    let length = head.header("Content-Length").flatMap { Int($0) }
    let chunked = head.header("Transfer-Encoding")?.lowercased().contains("chunked") ?? false
    while true {
      if let length, body.count >= length { return Data(body.prefix(length)) }
      if chunked, let decoded = ChunkedDecoder.decodeComplete(body) { return decoded }
      guard case .success(let chunk) = readSome(deadline: deadline), !chunk.isEmpty else { break }
      body.append(contentsOf: chunk)
    }
    if chunked { return ChunkedDecoder.decodeComplete(body) ?? Data(body) }
    return Data(body)
  }

  private func sendAll(_ bytes: [UInt8], deadline: ContinuousClock.Instant) -> UpgradeError? {
    var offset = 0
    return bytes.withUnsafeBytes { raw -> UpgradeError? in
      while offset < raw.count {
        var sent = 0
        let rc = curl_easy_send(easy.handle, raw.baseAddress! + offset, raw.count - offset, &sent)
        if rc == CURLE_AGAIN {
          if !waitFor(events: Int16(POLLOUT), deadline: deadline) {
            return .timedOut("timed out sending the upgrade request")
          }
          continue
        }
        if rc != CURLE_OK { return .io("sending the upgrade request failed: \(easy.error(rc).message)") }
        offset += sent
      }
      return nil
    }
  }

  private func readSome(deadline: ContinuousClock.Instant) -> Result<[UInt8], UpgradeError> {
    while true {
      var n = 0
      let rc = curl_easy_recv(easy.handle, readBuffer.baseAddress, readBuffer.count, &n)
      if rc == CURLE_OK { return .success(Array(readBuffer[..<n])) }
      if rc != CURLE_AGAIN { return .failure(.io("reading the upgrade response failed: \(easy.error(rc).message)")) }
      if !waitFor(events: Int16(POLLIN), deadline: deadline) {
        return .failure(.timedOut("no answer to the upgrade request within the handshake timeout"))
      }
    }
  }

  private func waitFor(events: Int16, deadline: ContinuousClock.Instant) -> Bool {
    let left = deadline - ContinuousClock.now
    if left <= .zero { return false }
    var fd = pollfd(fd: socket, events: events, revents: 0)
    let ms = Int32(min(left.components.seconds * 1000 + 1, Int64(Int32.max)))
    return poll(&fd, 1, ms) > 0
  }

  // MARK: Byte pipe

  func run() {
    if !earlyBytes.isEmpty {
      events.received(earlyBytes)
      earlyBytes = []
    }
    var outcome: UpgradeError?
    loop: while true {
      let commands = shared.state.withLock { s in
        (closeRequested: s.closeRequested, abort: s.abortRequested, receivePaused: s.receivePaused)
      }
      let abort = commands.abort
      if abort { break loop }
      // Receive first: OpenSSL may hold decrypted bytes that poll cannot see (and after a pause
      // ends, such bytes are read here before polling again).
      let paused = commands.receivePaused
      var readMore = false
      if !paused {
        switch drainReceive() {
        case .eof: break loop
        case .failed(let error):
          outcome = error
          break loop
        case .drained: break
        case .yielded: readMore = true
        }
      }
      switch flushSends() {
      case .failed(let error):
        outcome = error
        break loop
      case .blocked, .done: break
      }
      let idle = sendOffset == sending.count
      if commands.closeRequested && idle && shared.state.withLock({ $0.queue.isEmpty }) { break loop }
      var fds = [
        pollfd(fd: socket, events: (paused ? 0 : Int16(POLLIN)) | (idle ? 0 : Int16(POLLOUT)), revents: 0),
        pollfd(fd: shared.wakeup.readFD, events: Int16(POLLIN), revents: 0),
      ]
      // After a yielded drain, OpenSSL may hold bytes poll cannot see: only look, do not wait.
      let mayBlock = shared.wakeup.beginWait() && !readMore
      _ = poll(&fds, 2, mayBlock ? -1 : 0)
      shared.wakeup.endWait(readable: fds[1].revents != 0)
    }
    events.closed(outcome)
  }

  /// `yielded`: stopped after `maxDrain` bytes with more possibly waiting, so that a fast sender
  /// cannot starve our own sending.
  private enum ReceiveOutcome { case drained, yielded, eof, failed(UpgradeError) }

  private static let maxDrain = 1 << 20

  /// Reads until the socket has nothing more. Each `curl_easy_recv` returns at most one TLS
  /// record (16 KiB), so records are gathered into chunks of up to `receiveChunk` bytes, read
  /// straight into the array that is handed over: fewer, larger deliveries (the framing above
  /// then splits fewer straddling frames) and no copy.
  private func drainReceive() -> ReceiveOutcome {
    var delivered = 0
    while true {
      var outcome: ReceiveOutcome?
      var chunk = [UInt8](unsafeUninitializedCapacity: Self.receiveChunk) { buffer, filled in
        filled = 0
        while filled < buffer.count {
          var n = 0
          let rc = curl_easy_recv(easy.handle, buffer.baseAddress! + filled, buffer.count - filled, &n)
          if rc == CURLE_AGAIN {
            outcome = .drained
          } else if rc != CURLE_OK {
            outcome = .failed(.io("connection lost: \(easy.error(rc).message)"))
          } else if n == 0 {
            outcome = .eof
          }
          if outcome != nil { return }
          filled += n
        }
      }
      if !chunk.isEmpty {
        // A small delivery gets an exact-size copy: consumers keep slices, and a few bytes must
        // not hold a whole chunk's capacity alive.
        if chunk.count < Self.receiveChunk / 4 {
          chunk = [UInt8](unsafeUninitializedCapacity: chunk.count) { buffer, filled in
            filled = buffer.initialize(fromContentsOf: chunk)
          }
        }
        delivered += chunk.count
        events.received(chunk)
      }
      if let outcome { return outcome }
      if delivered >= Self.maxDrain { return .yielded }
    }
  }

  private static let receiveChunk = 128 * 1024

  /// The largest TLS record payload.
  private static let tlsRecord = 16 * 1024

  private func setCork(_ on: Bool) {
    #if os(Linux)
      var value: Int32 = on ? 1 : 0
      _ = setsockopt(socket, Int32(IPPROTO_TCP), TCP_CORK, &value, socklen_t(MemoryLayout<Int32>.size))
    #endif
  }

  private enum SendOutcome { case done, blocked, failed(UpgradeError) }

  /// Largest single send: a bounded TLS write keeps OpenSSL's own buffering small.
  private static let maxSendLength = 256 * 1024

  /// Sends queued bytes until the socket would block or the queue is empty.
  ///
  /// OpenSSL hands the socket one TLS record (16 KiB) per send, and with TCP_NODELAY each send leaves
  /// as a segment of its own; corked while a batch goes out, the kernel packs them into full-size
  /// segments (on loopback one 64 KiB segment instead of four, each of which costs the receiver's
  /// stack as much as the sender's). The cork comes off when the batch ends, so nothing waits.
  private func flushSends() -> SendOutcome {
    var corked = false
    defer { if corked { setCork(false) } }
    while true {
      if sendOffset == sending.count {
        sending.removeAll(keepingCapacity: sending.capacity <= 4 << 20)
        sendOffset = 0
        shared.state.withLock { swap(&$0.queue, &sending) }
        if sending.isEmpty { return .done }
      }
      let length = retryLength ?? min(sending.count - sendOffset, Self.maxSendLength)
      if !corked, sending.count - sendOffset > Self.tlsRecord {
        setCork(true)
        corked = true
      }
      var sent = 0
      let rc = sending.withUnsafeBytes { raw in
        curl_easy_send(easy.handle, raw.baseAddress! + sendOffset, length, &sent)
      }
      if rc == CURLE_AGAIN {
        retryLength = length
        return .blocked
      }
      retryLength = nil
      if rc != CURLE_OK { return .failed(.io("connection lost while sending: \(easy.error(rc).message)")) }
      sendOffset += sent
      let drained = shared.state.withLock { s -> DrainWaiter? in
        s.pendingBytes -= sent
        guard let waiter = s.drainWaiter, s.pendingBytes < waiter.threshold else { return nil }
        s.drainWaiter = nil
        return waiter
      }
      drained?.handler()
    }
  }
}

/// Decodes an HTTP/1.1 chunked body once it is complete.
enum ChunkedDecoder {
  static func decodeComplete(_ bytes: [UInt8]) -> Data? {
    var out = Data()
    var i = 0
    while true {
      guard let lineEnd = bytes[i...].firstRange(of: [13, 10]) else { return nil }
      let sizeText = String(decoding: bytes[i..<lineEnd.lowerBound], as: UTF8.self)
      guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else { return nil }
      i = lineEnd.upperBound
      if size == 0 { return out }
      guard bytes.count >= i + size + 2 else { return nil }
      out.append(contentsOf: bytes[i..<(i + size)])
      i += size + 2
    }
  }
}
