import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a test server answers: the seeded services of the sandbox cluster and the sandbox images.
public enum TestServerMode: Sendable, Equatable {
  /// TCP: every byte received is sent back; the connection ends when the client's does.
  case echo
  /// HTTP/1.1: `GET /` answers `hello from <name>`, anything else 404.
  case http(name: String)
  /// UDP: every datagram is sent back to its sender.
  case udpEcho
  /// TCP: accepts, reads what the client sends first (up to 1 s), then resets the connection (RST,
  /// not FIN): a target that breaks connections after they started.
  case reset
}

/// A tiny POSIX server for the sandbox cluster: blocking sockets, one thread per listener and per
/// connection. Hand-written rather than SwiftNIO because it must stay a small, dependency-free
/// process the node agent can start as a container, and a handful of test connections need no
/// event loop.
public final class TestServer: Sendable {
  /// The wildcard addresses a server binds when none are given.
  public static let wildcardAddresses = ["0.0.0.0", "::"]

  public let mode: TestServerMode
  /// The port bound (the kernel's choice when 0 was asked for).
  public let port: UInt16
  /// What is bound, e.g. `["0.0.0.0:7000", "[::]:7000"]`.
  public let listenAddresses: [String]
  private let descriptors: [Int32]

  /// Binds every address in `addresses` on `port` and starts serving. With the default wildcard
  /// addresses a missing IPv6 stack only drops the `::` listener; an explicit address must bind.
  public static func start(
    mode: TestServerMode, port: UInt16, addresses: [String] = wildcardAddresses,
    log: @escaping @Sendable (String) -> Void = { _ in }
  ) throws(TestServerError) -> TestServer {
    let type = mode == .udpEcho ? Int32(SOCK_DGRAM.rawValue) : Int32(SOCK_STREAM.rawValue)
    var descriptors: [Int32] = []
    var bound: [String] = []
    var port = port
    for text in addresses {
      let address = try BindAddress(text, port: port)
      do {
        let fd = try openBoundSocket(address, type: type)
        if port == 0 { port = boundPort(fd) }  // every further address shares the first one's port
        descriptors.append(fd)
        bound.append(try BindAddress(text, port: port).description)
      } catch {
        let optionalIPv6 = addresses == wildcardAddresses && address.family == AF_INET6
        guard optionalIPv6 else {
          descriptors.forEach { close($0) }
          throw error
        }
        log("IPv6 listener not available, serving IPv4 only: \(error)")
      }
    }
    let server = TestServer(mode: mode, port: port, listenAddresses: bound, descriptors: descriptors)
    for fd in descriptors {
      Thread.detachNewThread { [server] in server.serve(listener: fd) }
    }
    return server
  }

  private init(mode: TestServerMode, port: UInt16, listenAddresses: [String], descriptors: [Int32]) {
    self.mode = mode
    self.port = port
    self.listenAddresses = listenAddresses
    self.descriptors = descriptors
  }

  private func serve(listener fd: Int32) {
    if mode == .udpEcho { return UDPEcho.run(fd) }
    while true {
      let connection = accept(fd, nil, nil)
      if connection < 0 {
        if errno == EINTR || errno == ECONNABORTED { continue }
        // Out of descriptors or similar: back off rather than spin.
        usleep(100_000)
        continue
      }
      _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
      let mode = self.mode
      Thread.detachNewThread {
        defer { close(connection) }
        switch mode {
        case .echo: TCPEcho.run(connection)
        case let .http(name): HelloHTTP.run(connection, name: name)
        case .reset: TCPReset.run(connection)
        case .udpEcho: break
        }
      }
    }
  }
}

enum TCPEcho {
  static func run(_ fd: Int32) {
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
      let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else { break }
      let ok = buffer.withUnsafeBytes { sendAll(fd, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
      guard ok else { return }
    }
    // The client finished sending: finish ours too, so a half-closing client reads to the end.
    shutdown(fd, Int32(SHUT_WR))
  }
}

enum TCPReset {
  static func run(_ fd: Int32) {
    var timeout = timeval(tv_sec: 1, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var buffer = [UInt8](repeating: 0, count: 4096)
    _ = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    // Linger on with a zero timeout: close() then sends RST and drops whatever is queued.
    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
  }
}

enum UDPEcho {
  static func run(_ fd: Int32) {
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      var peer = sockaddr_storage()
      var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
      let n = buffer.withUnsafeMutableBytes { bytes in
        withUnsafeMutablePointer(to: &peer) {
          $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, bytes.baseAddress, bytes.count, 0, $0, &length) }
        }
      }
      guard n >= 0 else { continue }
      _ = buffer.withUnsafeBytes { bytes in
        withUnsafePointer(to: &peer) {
          $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, bytes.baseAddress, n, 0, $0, length) }
        }
      }
    }
  }
}

/// Just enough HTTP/1.1 for `GET /`: requests without bodies, keep-alive unless the client says
/// `Connection: close` or speaks HTTP/1.0.
enum HelloHTTP {
  static func run(_ fd: Int32, name: String) {
    var pending: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 16 * 1024)
    let terminator: [UInt8] = Array("\r\n\r\n".utf8)
    while true {
      while pending.firstRange(of: terminator) == nil {
        guard pending.count < 64 * 1024 else { return }
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return }
        pending += buffer[0..<n]
      }
      let end = pending.firstRange(of: terminator)!
      let head = String(decoding: pending[..<end.lowerBound], as: UTF8.self)
      pending.removeSubrange(..<end.upperBound)
      let response = respond(to: head, name: name)
      let ok = Array(response.bytes.utf8).withUnsafeBytes { sendAll(fd, $0) }
      guard ok, response.keepAlive else { break }
    }
    shutdown(fd, Int32(SHUT_WR))
  }

  static func respond(to head: String, name: String) -> (bytes: String, keepAlive: Bool) {
    let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
    let requestLine = lines.first.map { $0.split(separator: " ") } ?? []
    let method = requestLine.count > 0 ? String(requestLine[0]) : ""
    let target = requestLine.count > 1 ? String(requestLine[1]) : ""
    let version = requestLine.count > 2 ? String(requestLine[2]) : "HTTP/1.0"
    let wantsClose = lines.dropFirst().contains { line in
      let parts = line.split(separator: ":", maxSplits: 1)
      return parts.count == 2 && parts[0].lowercased() == "connection"
        && parts[1].trimmingCharacters(in: .whitespaces).lowercased() == "close"
    }
    let keepAlive = version == "HTTP/1.1" && !wantsClose
    let path = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target
    let status: String
    var body: String
    if method != "GET" && method != "HEAD" {
      (status, body) = ("405 Method Not Allowed", "method not allowed\n")
    } else if path == "/" {
      (status, body) = ("200 OK", "hello from \(name)")
    } else {
      (status, body) = ("404 Not Found", "not found\n")
    }
    let length = body.utf8.count
    if method == "HEAD" { body = "" }
    let headers = [
      "HTTP/1.1 \(status)", "Content-Type: text/plain; charset=utf-8", "Content-Length: \(length)",
      "Connection: \(keepAlive ? "keep-alive" : "close")",
    ]
    return (headers.joined(separator: "\r\n") + "\r\n\r\n" + body, keepAlive)
  }
}
