import Foundation
import KubeClient
import PortForward
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// What a UDP forward reports (on its own thread; handlers must not block).
public enum UDPForwardEvent: Sendable, Equatable {
  case peerOpened(peer: String)
  case peerClosed(peer: String, datagramsOut: Int, datagramsIn: Int, why: String)
  /// A datagram was not forwarded (too large, no session to the relay right now).
  case dropped(peer: String, bytes: Int, why: String)
  case sessionLost(String)
  case sessionOpened(pod: String)
}

/// A local UDP socket bound ahead of the forward that uses it.
public final class UDPListener: Sendable {
  public let address: String
  public let port: UInt16
  fileprivate let fd: Int32

  public init(address: String, port: UInt16) throws(UDPForwardError) {
    guard var bindAddress = BindAddress(host: address, port: port) else { throw .address(address) }
    let fd = socket(bindAddress.family, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { throw .socket(errno) }
    if bindAddress.family == AF_INET6 {
      var one: Int32 = 1
      setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
    }
    guard bindAddress.bind(fd) else {
      let code = errno
      _ = close(fd)
      throw .bind(address: address, port: port, errno: code)
    }
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    self.fd = fd
    self.address = address
    self.port = bindAddress.port
  }

  deinit { _ = close(fd) }
}

public enum UDPForwardError: Error, Sendable, Equatable, CustomStringConvertible {
  case socket(Int32)
  case address(String)
  case bind(address: String, port: UInt16, errno: Int32)
  case open(String)

  public var description: String {
    switch self {
    case .socket(let code): return "cannot create a UDP socket: \(String(cString: strerror(code)))"
    case .address(let address): return "\(address) is not an IP address to listen on"
    case .bind(let address, let port, let code):
      return "cannot listen on \(address):\(port)/udp: \(String(cString: strerror(code)))"
    case .open(let message): return message
    }
  }
}

/// Forwards datagrams from a local UDP socket through a kftray-server relay in `udp` mode: one
/// stream per local peer (so each peer gets its own UDP socket in the relay and replies go back
/// to the right sender), each datagram a `[length: u32 BE][payload]` frame; the relay answers in
/// lockstep, and a zero-length frame means "no reply within 5 s", which is never delivered.
public final class UDPForwarder: Sendable {
  /// The largest datagram the relay accepts (IPv4's maximum UDP payload).
  public static let maxDatagram = 65507
  /// A peer with no datagram either way for this long gets its stream closed.
  public static let idleTimeout: Duration = .seconds(60)

  public let listener: UDPListener
  private let target: Mutex<ForwardTarget>
  private let session = Mutex<PortForwardSession?>(nil)
  private let state = Mutex<(stopped: Bool, suspended: Bool, reconnecting: Bool)>((false, false, false))
  private let wakeup: Wakeup
  private let events: @Sendable (UDPForwardEvent) -> Void
  private let finished = DispatchSemaphore(value: 0)

  /// Opens a session to the relay pod (so a pod that cannot be reached fails here), then serves.
  public static func start(
    target: ForwardTarget, listener: UDPListener, events: @escaping @Sendable (UDPForwardEvent) -> Void = { _ in }
  ) async throws(UDPForwardError) -> UDPForwarder {
    let forwarder: UDPForwarder
    do { forwarder = try UDPForwarder(target: target, listener: listener, events: events) } catch {
      throw .open("\(error)")
    }
    try await forwarder.connect(pod: target.pod)
    let thread = Thread { [forwarder] in
      UDPLoop(owner: forwarder).run()
      forwarder.finished.signal()
    }
    thread.name = "kftray-udp"
    thread.start()
    return forwarder
  }

  private init(
    target: ForwardTarget, listener: UDPListener, events: @escaping @Sendable (UDPForwardEvent) -> Void
  ) throws(WakeupError) {
    self.target = Mutex(target)
    self.listener = listener
    self.events = events
    wakeup = try Wakeup()
  }

  /// The pod is going away: datagrams are dropped (and logged) until `replaceTarget`.
  public func suspend() {
    state.withLock { $0.suspended = true }
    session.withLock { $0 }?.close()
  }

  /// Sends every peer's next datagram to a new relay pod (a new stream per peer).
  public func replaceTarget(pod: String) async throws(UDPForwardError) {
    target.withLock { $0.pod = pod }
    state.withLock { $0.suspended = false }
    try await connect(pod: pod)
  }

  public func stop() {
    let first = state.withLock { s -> Bool in
      defer { s.stopped = true }
      return !s.stopped
    }
    guard first else { return }
    wakeup.signal()
    finished.wait()
    session.withLock { $0 }?.close()
  }

  // MARK: Sessions

  private func connect(pod: String) async throws(UDPForwardError) {
    let t = target.withLock { $0 }
    let opened: PortForwardSession
    do {
      opened = try await PortForwardSession.open(api: t.api, namespace: t.namespace, pod: pod, transport: t.transport)
    } catch {
      throw .open("\(error)")
    }
    let old = session.withLock { s -> PortForwardSession? in
      defer { s = opened }
      return s
    }
    old?.close()
    events(.sessionOpened(pod: pod))
    wakeup.signal()
    Task { [weak self] in
      let why = await opened.terminated()
      self?.sessionEnded(opened, why)
    }
  }

  private func sessionEnded(_ ended: PortForwardSession, _ why: SessionTermination) {
    let current = session.withLock { $0 === ended }
    guard current else { return }
    let (stopped, suspended, start) = state.withLock { s -> (Bool, Bool, Bool) in
      let start = !s.stopped && !s.suspended && !s.reconnecting
      if start { s.reconnecting = true }
      return (s.stopped, s.suspended, start)
    }
    if stopped || suspended { return }
    events(.sessionLost("\(why)"))
    guard start else { return }
    Task { [weak self] in await self?.reconnect() }
  }

  private func reconnect() async {
    let delays: [Duration] = [.milliseconds(200), .seconds(1), .seconds(2), .seconds(5)]
    var attempt = 0
    while true {
      try? await Task.sleep(for: delays[min(attempt, delays.count - 1)])
      attempt += 1
      let (stopped, suspended) = state.withLock { ($0.stopped, $0.suspended) }
      if stopped || suspended { break }
      let pod = target.withLock { $0.pod }
      if (try? await connect(pod: pod)) != nil { break }
    }
    state.withLock { $0.reconnecting = false }
  }

  // MARK: Loop plumbing

  fileprivate var currentSession: PortForwardSession? {
    let s = session.withLock { $0 }
    guard let s, s.state == .open, !state.withLock({ $0.suspended }) else { return nil }
    return s
  }
  fileprivate var remotePort: UInt16 { target.withLock { $0.remotePort } }
  fileprivate var isStopped: Bool { state.withLock { $0.stopped } }
  fileprivate var wakeupFD: Int32 { wakeup.readFD }
  fileprivate func beginWait() -> Bool { wakeup.beginWait() }
  fileprivate func endWait(readable: Bool) { wakeup.endWait(readable: readable) }
  fileprivate func signalWakeup() { wakeup.signal() }
  fileprivate func report(_ event: UDPForwardEvent) { events(event) }
}

/// One local sender and its stream to the relay (loop thread only).
private final class UDPPeer {
  let key: [UInt8]
  let name: String
  let stream: ForwardedStream
  var received: [UInt8] = []
  var lastActive = ContinuousClock.now
  var datagramsOut = 0
  var datagramsIn = 0

  init(key: [UInt8], name: String, stream: ForwardedStream) {
    self.key = key
    self.name = name
    self.stream = stream
  }
}

/// The loop behind `UDPForwarder`: one thread polls the local socket and a wake-up pipe that
/// streams signal when they have bytes.
private final class UDPLoop {
  let owner: UDPForwarder
  var peers: [[UInt8]: UDPPeer] = [:]
  let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)

  init(owner: UDPForwarder) { self.owner = owner }
  deinit { buffer.deallocate() }

  func run() {
    let fd = owner.listener.fd
    while !owner.isStopped {
      var fds = [
        pollfd(fd: owner.wakeupFD, events: Int16(POLLIN), revents: 0), pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
      ]
      _ = poll(&fds, 2, owner.beginWait() ? 1000 : 0)
      owner.endWait(readable: fds[0].revents != 0)
      if fds[1].revents != 0 { receiveLocal(fd) }
      for peer in Array(peers.values) { pumpReplies(peer, fd: fd) }
      let now = ContinuousClock.now
      for peer in Array(peers.values) where now - peer.lastActive > UDPForwarder.idleTimeout {
        close(peer, why: "idle")
      }
    }
    for peer in Array(peers.values) { close(peer, why: "stopped") }
  }

  func receiveLocal(_ fd: Int32) {
    while true {
      var from = sockaddr_storage()
      var fromLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
      // MSG_TRUNC: the datagram's real length even when it is larger than the buffer.
      let n = withUnsafeMutablePointer(to: &from) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          recvfrom(fd, buffer.baseAddress, buffer.count, Int32(MSG_TRUNC), $0, &fromLength)
        }
      }
      guard n >= 0 else { return }
      let key = withUnsafeBytes(of: from) { Array($0.prefix(Int(fromLength))) }
      let name = Self.describe(from)
      guard n <= UDPForwarder.maxDatagram else {
        owner.report(.dropped(peer: name, bytes: n, why: "larger than \(UDPForwarder.maxDatagram) bytes, the most the relay takes"))
        continue
      }
      guard let peer = peer(key: key, name: name) else {
        owner.report(.dropped(peer: name, bytes: n, why: "no session to the relay pod right now"))
        continue
      }
      var frame = [UInt8](repeating: 0, count: 4 + n)
      let length = UInt32(n).bigEndian
      withUnsafeBytes(of: length) { frame.replaceSubrange(0..<4, with: $0) }
      frame.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: 4).copyMemory(from: buffer.baseAddress!, byteCount: n) }
      do {
        try peer.stream.write(frame)
        peer.datagramsOut += 1
        peer.lastActive = .now
      } catch {
        owner.report(.dropped(peer: name, bytes: n, why: "\(error)"))
        close(peer, why: "\(error)")
      }
    }
  }

  func peer(key: [UInt8], name: String) -> UDPPeer? {
    if let existing = peers[key] { return existing }
    guard let session = owner.currentSession,
      let stream = try? session.openStreamPair(port: owner.remotePort)
    else { return nil }
    let peer = UDPPeer(key: key, name: name, stream: stream)
    peers[key] = peer
    let owner = self.owner
    stream.onReadable { owner.signalWakeup() }
    owner.report(.peerOpened(peer: name))
    return peer
  }

  func pumpReplies(_ peer: UDPPeer, fd: Int32) {
    while peers[peer.key] === peer {
      switch peer.stream.read(maxBytes: 65536) {
      case .bytes(let bytes):
        peer.received.append(contentsOf: bytes)
        deliverFrames(peer, fd: fd)
      case .pending:
        return
      case .end:
        close(peer, why: "the relay closed the stream")
        return
      case .failed(let error):
        close(peer, why: "\(error)")
        return
      }
    }
  }

  /// Sends every complete frame's payload back to the peer; zero-length frames are the relay's
  /// "no reply" and are dropped.
  func deliverFrames(_ peer: UDPPeer, fd: Int32) {
    var offset = 0
    while peer.received.count - offset >= 4 {
      let length = peer.received[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
      guard peer.received.count - offset - 4 >= length else { break }
      if length > 0 {
        let sent = peer.received.withUnsafeBytes { raw in
          peer.key.withUnsafeBytes { address in
            sendto(
              fd, raw.baseAddress!.advanced(by: offset + 4), length, 0,
              address.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(peer.key.count))
          }
        }
        if sent >= 0 { peer.datagramsIn += 1 }
      }
      offset += 4 + length
      peer.lastActive = .now
    }
    if offset > 0 { peer.received.removeFirst(offset) }
  }

  func close(_ peer: UDPPeer, why: String) {
    guard peers.removeValue(forKey: peer.key) != nil else { return }
    peer.stream.close()
    owner.report(.peerClosed(peer: peer.name, datagramsOut: peer.datagramsOut, datagramsIn: peer.datagramsIn, why: why))
  }

  /// A NUL-terminated C string in a buffer.
  static func string(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  static func describe(_ address: sockaddr_storage) -> String {
    var copy = address
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    if Int32(address.ss_family) == AF_INET6 {
      return withUnsafePointer(to: &copy) {
        $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { a in
          var ip = a.pointee.sin6_addr
          inet_ntop(AF_INET6, &ip, &text, socklen_t(text.count))
          return "[\(Self.string(text))]:\(UInt16(bigEndian: a.pointee.sin6_port))"
        }
      }
    }
    return withUnsafePointer(to: &copy) {
      $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { a in
        var ip = a.pointee.sin_addr
        inet_ntop(AF_INET, &ip, &text, socklen_t(text.count))
        return "\(Self.string(text)):\(UInt16(bigEndian: a.pointee.sin_port))"
      }
    }
  }
}
