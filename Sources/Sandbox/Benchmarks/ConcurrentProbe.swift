import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// N connections opened at once, each sending `bytes` random bytes to an echo server and reading
/// them back, compared with what was sent (memcmp: the probe shares the CPU with what it measures,
/// so its own per-byte work is kept small). One thread drives them all with poll, so the probe's
/// own scheduling does not dominate what is measured.
public enum ConcurrentProbe {
  public struct Result: Codable, Sendable {
    public var connections: Int
    public var bytesEach: Int
    public var failures: Int
    public var wallSeconds: Double
    /// Up to five distinct failure reasons with their counts.
    public var failureReasons: [String: Int]
    /// The probe's own CPU from the first connect to the last close (it is on the path too).
    public var cpuSeconds: Double?
  }

  private final class Connection {
    let fd: Int32
    let payload: [UInt8]
    var sent = 0
    var received = 0
    var connected = false
    init(fd: Int32, payload: [UInt8]) {
      self.fd = fd
      self.payload = payload
    }
  }

  public static func run(port: UInt16, connections count: Int, bytes: Int, timeoutSeconds: Double = 120) -> Result {
    var failures = 0
    var reasons: [String: Int] = [:]
    func fail(_ why: String) {
      failures += 1
      if reasons[why] != nil || reasons.count < 5 { reasons[why, default: 0] += 1 }
    }
    // Different random-looking bytes per connection (xorshift seeded from the system RNG): a
    // mixed-up echo between connections would show as a mismatch.
    let payloads = (0..<count).map { _ in randomBytes(bytes, seed: UInt64.random(in: 1...UInt64.max)) }
    let cpuAtStart = ProcessStats.ownCPUSeconds()
    let start = ContinuousClock.now
    let deadline = start + .seconds(timeoutSeconds)
    var active: [Connection] = []
    for i in 0..<count {
      let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      guard fd >= 0 else {
        fail("socket(): \(LoopbackSocket.errnoText())")
        continue
      }
      _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
      var one: Int32 = 1
      setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
      var addr = LoopbackSocket.address(port: port)
      let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
      }
      if rc != 0 && errno != EINPROGRESS {
        fail("connect: \(LoopbackSocket.errnoText())")
        close(fd)
        continue
      }
      let c = Connection(fd: fd, payload: payloads[i])
      c.connected = rc == 0
      active.append(c)
    }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    defer { buffer.deallocate() }
    while !active.isEmpty {
      if ContinuousClock.now >= deadline {
        for c in active {
          fail("timed out after \(Int(timeoutSeconds)) s with \(c.received)/\(bytes) bytes back")
          close(c.fd)
        }
        break
      }
      var fds = active.map { c -> pollfd in
        var events = Int16(POLLIN)
        if !c.connected || c.sent < bytes { events |= Int16(POLLOUT) }
        return pollfd(fd: c.fd, events: events, revents: 0)
      }
      _ = poll(&fds, nfds_t(fds.count), 200)
      var done = Set<Int32>()
      for (i, c) in active.enumerated() where fds[i].revents != 0 {
        let revents = fds[i].revents
        if !c.connected {
          var code: Int32 = 0
          var len = socklen_t(MemoryLayout<Int32>.size)
          getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &code, &len)
          if code != 0 {
            fail("connect: \(LoopbackSocket.errnoText(code))")
            done.insert(c.fd)
            continue
          }
          c.connected = true
        }
        if revents & Int16(POLLOUT) != 0, c.sent < bytes {
          let n = c.payload.withUnsafeBytes { send(c.fd, $0.baseAddress! + c.sent, min(bytes - c.sent, 16 * 1024), Int32(MSG_NOSIGNAL)) }
          if n > 0 {
            c.sent += n
          } else if n < 0 && errno != EAGAIN && errno != EINTR {
            fail("send: \(LoopbackSocket.errnoText())")
            done.insert(c.fd)
            continue
          }
        }
        if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
          let n = recv(c.fd, buffer.baseAddress, buffer.count, 0)
          if n > 0 {
            let matches = c.received + n <= bytes
              && c.payload.withUnsafeBytes { memcmp($0.baseAddress! + c.received, buffer.baseAddress!, n) == 0 }
            if !matches {
              fail("echo differs from what was sent")
              done.insert(c.fd)
              continue
            }
            c.received += n
            if c.received == bytes { done.insert(c.fd) }
          } else if n == 0 {
            fail("EOF after \(c.received)/\(bytes) bytes")
            done.insert(c.fd)
          } else if errno != EAGAIN && errno != EINTR {
            fail("recv: \(LoopbackSocket.errnoText())")
            done.insert(c.fd)
          }
        }
      }
      if !done.isEmpty {
        for c in active where done.contains(c.fd) { close(c.fd) }
        active.removeAll { done.contains($0.fd) }
      }
    }
    let wall = ContinuousClock.now - start
    return Result(
      connections: count, bytesEach: bytes, failures: failures,
      wallSeconds: Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18, failureReasons: reasons,
      cpuSeconds: ProcessStats.ownCPUSeconds() - cpuAtStart)
  }

  private static func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var x = seed
    return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
      for i in 0..<count {
        if i % 8 == 0 { x ^= x << 13; x ^= x >> 7; x ^= x << 17 }
        buffer[i] = UInt8(truncatingIfNeeded: x >> UInt64((i % 8) * 8))
      }
      initialized = count
    }
  }
}
