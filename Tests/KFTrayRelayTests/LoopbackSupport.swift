// Test-side socket helpers (servers and a client connection) on TestSupport's loopback sockets, written
// independently of the library's own wrappers so that the tests do not share its bugs.
import Foundation
import Synchronization
import TestSupport
#if canImport(Glibc)
import Glibc
#endif


private func loopbackAddress(port: UInt16) -> sockaddr_in {
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = port.bigEndian
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  return address
}

private func boundPort(_ fd: Int32) -> UInt16 {
  var address = sockaddr_in()
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  _ = withUnsafeMutablePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
  }
  return UInt16(bigEndian: address.sin_port)
}

private func bindLoopback(_ fd: Int32, port: UInt16 = 0) throws {
  var address = loopbackAddress(port: port)
  let rc = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
  }
  guard rc == 0 else { throw TestFailure("bind: \(String(cString: strerror(errno)))") }
}

/// How a read ended.
enum ReadEnd: Equatable { case eof, reset, timedOut, error(Int32) }

/// A blocking TCP client socket with a receive timeout, so a broken relay fails a test instead of
/// hanging it.
final class TestConnection: Sendable {
  let fd: Int32

  /// Connects to 127.0.0.1:`port`, or to [::1]:`port` when `ipv6` is set.
  init(port: UInt16, ipv6: Bool = false, receiveTimeoutSeconds: Int = 15) throws {
    fd = try connectLoopback(port, ipv6: ipv6, timeoutSeconds: receiveTimeoutSeconds)
  }

  deinit { close(fd) }

  func send(_ bytes: [UInt8]) throws {
    var offset = 0
    while offset < bytes.count {
      let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else { throw TestFailure("send: \(String(cString: strerror(errno)))") }
      offset += n
    }
  }

  func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

  /// Sends `chunk` repeatedly until a send blocks for longer than the send timeout (or `limit`
  /// bytes went out); returns the bytes sent.
  func sendUntilBlocked(chunk: [UInt8], limit: Int, sendTimeoutSeconds: Int) -> Int {
    var timeout = timeval(tv_sec: sendTimeoutSeconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var total = 0
    while total < limit {
      let n = chunk.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { break }
      total += n
    }
    return total
  }

  /// Reads exactly `count` bytes, or throws saying how the stream ended early.
  func read(exactly count: Int) throws -> [UInt8] {
    var result = [UInt8](repeating: 0, count: count)
    var filled = 0
    while filled < count {
      let n = result.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + filled, count - filled, 0) }
      if n > 0 { filled += n; continue }
      if n < 0 && errno == EINTR { continue }
      throw TestFailure("stream ended after \(filled) of \(count) bytes: \(n == 0 ? ReadEnd.eof : Self.end(errno))")
    }
    return result
  }

  /// Reads until the stream ends; returns the bytes and how it ended.
  func readToEnd() -> ([UInt8], ReadEnd) {
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
      if n > 0 { result.append(contentsOf: buffer[..<n]); continue }
      if n == 0 { return (result, .eof) }
      if errno == EINTR { continue }
      return (result, Self.end(errno))
    }
  }

  private static func end(_ code: Int32) -> ReadEnd {
    switch code {
    case EAGAIN, EWOULDBLOCK: return .timedOut
    case ECONNRESET: return .reset
    default: return .error(code)
    }
  }
}

/// What a test TCP server does with each connection.
enum TCPServerBehavior: Sendable {
  /// Echo bytes as they arrive; at end of input, half-close and finish.
  case echo
  /// Read everything until end of input, then send `reply(input)` and close: proves that data
  /// still flows towards the client after the client half-closed.
  case replyAfterEOF(@Sendable ([UInt8]) -> [UInt8])
  /// Accept and never read: the peer's window fills up, as with a stuck backend.
  case holdWithoutReading
}

/// A threaded loopback TCP server. Counts how many connections saw end of input.
final class TestTCPServer: Sendable {
  let port: UInt16
  private let fd: Int32
  private let eofs = Mutex(0)
  private let accepted = Mutex(0)
  private let held = Mutex<[Int32]>([])

  var connectionsThatSawEOF: Int { eofs.withLock { $0 } }
  var acceptedConnections: Int { accepted.withLock { $0 } }

  init(_ behavior: TCPServerBehavior) throws {
    fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    try bindLoopback(fd)
    guard listen(fd, 512) == 0 else { throw TestFailure("listen failed") }
    port = boundPort(fd)
    let listener = fd
    Thread.detachNewThread { [self] in
      while true {
        let client = accept(listener, nil, nil)
        if client < 0 {
          if errno == EINTR || errno == ECONNABORTED { continue }
          return  // listener closed
        }
        accepted.withLock { $0 += 1 }
        if case .holdWithoutReading = behavior {
          held.withLock { $0.append(client) }
          continue
        }
        Thread.detachNewThread { [self] in self.serve(client, behavior) }
      }
    }
  }

  deinit {
    shutdown(fd, Int32(SHUT_RDWR))
    close(fd)
    for client in held.withLock({ $0 }) { close(client) }
  }

  private func serve(_ client: Int32, _ behavior: TCPServerBehavior) {
    defer { close(client) }
    var buffer = [UInt8](repeating: 0, count: 65536)
    var received: [UInt8] = []
    while true {
      let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress!, $0.count, 0) }
      if n < 0 && errno == EINTR { continue }
      if n < 0 { return }
      if n == 0 { break }
      switch behavior {
      case .echo:
        var offset = 0
        while offset < n {
          let sent = buffer.withUnsafeBytes { send(client, $0.baseAddress! + offset, n - offset, Int32(MSG_NOSIGNAL)) }
          if sent < 0 && errno == EINTR { continue }
          if sent <= 0 { return }
          offset += sent
        }
      case .replyAfterEOF:
        received.append(contentsOf: buffer[..<n])
      case .holdWithoutReading:
        return
      }
    }
    eofs.withLock { $0 += 1 }
    if case let .replyAfterEOF(reply) = behavior {
      let bytes = reply(received)
      var offset = 0
      while offset < bytes.count {
        let sent = bytes.withUnsafeBytes { send(client, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
        if sent < 0 && errno == EINTR { continue }
        if sent <= 0 { return }
        offset += sent
      }
    }
    shutdown(client, Int32(SHUT_WR))
  }
}

/// A loopback UDP server. `.reply` answers each datagram with "R" + its payload (so an empty
/// request still gets a visible, non-empty reply); `.silent` keeps the port open and never reads.
final class TestUDPServer: Sendable {
  enum Behavior: Sendable { case reply, silent }
  let port: UInt16
  private let fd: Int32
  private let stopped = Mutex(false)
  private let sizes = Mutex<[Int]>([])

  /// The payload sizes received so far, in order.
  var receivedSizes: [Int] { sizes.withLock { $0 } }

  init(_ behavior: Behavior) throws {
    fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    try bindLoopback(fd)
    port = boundPort(fd)
    guard behavior == .reply else { return }
    let socketFD = fd
    Thread.detachNewThread { [self] in
      var buffer = [UInt8](repeating: 0, count: 70000)
      while !stopped.withLock({ $0 }) {
        var descriptor = pollfd(fd: socketFD, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, 50) > 0 else { continue }
        var peer = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let n = buffer.withUnsafeMutableBytes { bytes in
          withUnsafeMutablePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(socketFD, bytes.baseAddress!, bytes.count, 0, $0, &length) }
          }
        }
        guard n >= 0 else { continue }
        sizes.withLock { $0.append(n) }
        let reply = [UInt8(ascii: "R")] + buffer[..<n]
        _ = reply.withUnsafeBytes { bytes in
          withUnsafePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(socketFD, bytes.baseAddress!, bytes.count, 0, $0, length) }
          }
        }
      }
      close(socketFD)
    }
  }

  /// Stops the reply thread (which closes the socket); a silent server closes at once.
  func stop(_ behavior: Behavior) {
    if behavior == .reply { stopped.withLock { $0 = true } } else { close(fd) }
  }
}

/// A loopback port with nothing listening on it (TCP) or bound to it (UDP), for refusal tests.
/// The port was bound a moment ago and released; another process could take it in between, which
/// on a test machine is unlikely enough.
func unusedLoopbackPort(type: Int32) throws -> UInt16 {
  let fd = socket(AF_INET, type, 0)
  defer { close(fd) }
  try bindLoopback(fd)
  return boundPort(fd)
}

/// Whether this host has the IPv6 loopback address (containers may run without IPv6).
let hostHasIPv6Loopback: Bool = {
  let table = (try? String(contentsOfFile: "/proc/net/if_inet6", encoding: .utf8)) ?? ""
  return table.split(separator: "\n").contains { $0.hasPrefix("00000000000000000000000000000001") }
}()

/// Deterministic pseudo-random bytes (xorshift64*), so failures are reproducible.
func pseudoRandomBytes(count: Int, seed: UInt64) -> [UInt8] {
  var state = seed | 1
  var result = [UInt8]()
  result.reserveCapacity(count)
  while result.count < count {
    state ^= state >> 12
    state ^= state << 25
    state ^= state >> 27
    let value = state &* 2_685_821_657_736_338_717
    for shift in stride(from: 0, to: 64, by: 8) where result.count < count {
      result.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
    }
  }
  return result
}


/// Runs `body` on a new thread; the result is collected by `wait()`. Blocking work stays off the
/// Swift concurrency pool, which the test runner shares across tests.
final class Background<T: Sendable>: Sendable {
  private let result = Mutex<Result<T, any Error>?>(nil)
  private let done = DispatchSemaphore(value: 0)

  init(_ body: @escaping @Sendable () throws -> T) {
    Thread.detachNewThread { [self] in
      let outcome = Result { try body() }
      result.withLock { $0 = outcome }
      done.signal()
    }
  }

  func wait(timeoutSeconds: Int = 60) throws -> T {
    guard done.wait(timeout: .now() + .seconds(timeoutSeconds)) == .success else {
      throw TestFailure("background work did not finish in \(timeoutSeconds) s")
    }
    return try result.withLock { $0! }.get()
  }
}
