import Foundation
import Testing
import SeededServices
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A blocking loopback client with timeouts, written apart from the server's own socket code.
private final class LoopbackClient {
  let fd: Int32

  init(port: UInt16, type: Int32 = Int32(SOCK_STREAM.rawValue)) throws {
    fd = socket(AF_INET, type, 0)
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else { throw SandboxError("connect 127.0.0.1:\(port): \(String(cString: strerror(errno)))") }
  }

  deinit { close(fd) }

  func send(_ text: String) {
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
  }

  func finishSending() { shutdown(fd, Int32(SHUT_WR)) }

  /// Everything until the server closes (or a timeout).
  func readToEnd() -> String {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      guard n > 0 else { break }
      bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// One datagram (UDP clients).
  func receiveOne() -> String {
    var buffer = [UInt8](repeating: 0, count: 65536)
    let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
  }
}

@Suite("kftray-testserver (loopback)")
struct TestServerTests {
  @Test("reset accepts, reads what comes first, then resets the connection (RST, not an orderly end)")
  func reset() throws {
    let server = try TestServer.start(mode: .reset, port: 0, addresses: ["127.0.0.1"])
    let client = try LoopbackClient(port: server.port)
    client.send("hello\n")
    var buffer = [UInt8](repeating: 0, count: 64)
    let n = buffer.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, 0) }
    let code = errno
    #expect(n == -1 && code == ECONNRESET, "recv returned \(n), errno \(code)")
  }

  @Test("echo sends everything back and ends after the client does")
  func echo() throws {
    let server = try TestServer.start(mode: .echo, port: 0, addresses: ["127.0.0.1"])
    #expect(server.listenAddresses == ["127.0.0.1:\(server.port)"])
    let client = try LoopbackClient(port: server.port)
    let payload = String(repeating: "0123456789", count: 20_000)
    client.send(payload)
    client.finishSending()
    #expect(client.readToEnd() == payload)
  }

  @Test("http answers GET / with hello from <name>, keeps the connection alive, 404 elsewhere")
  func http() throws {
    let server = try TestServer.start(mode: .http(name: "web"), port: 0, addresses: ["127.0.0.1"])
    let client = try LoopbackClient(port: server.port)
    client.send("GET / HTTP/1.1\r\nHost: web\r\n\r\nGET /missing HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
    let answer = client.readToEnd()
    #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(answer)")
    #expect(answer.contains("Content-Length: 14\r\n") && answer.contains("\r\n\r\nhello from webHTTP/1.1 404 Not Found"), "\(answer)")
    // The real client the seeded services are checked with elsewhere.
    let curl = try Binaries.run("/usr/bin/curl", ["-sS", "--max-time", "10", "http://127.0.0.1:\(server.port)/"])
    #expect(curl.stdout == "hello from web", "\(curl)")
  }

  @Test("udp-echo returns each datagram to its sender")
  func udpEcho() throws {
    let server = try TestServer.start(mode: .udpEcho, port: 0, addresses: ["127.0.0.1"])
    let client = try LoopbackClient(port: server.port, type: Int32(SOCK_DGRAM.rawValue))
    client.send("one")
    #expect(client.receiveOne() == "one")
    client.send("two")
    #expect(client.receiveOne() == "two")
  }

  @Test("the wildcard default listens on 0.0.0.0 and ::, sharing one port")
  func wildcard() throws {
    let server = try TestServer.start(mode: .echo, port: 0)
    #expect(server.listenAddresses.first == "0.0.0.0:\(server.port)")
    #expect(server.listenAddresses.count == 2, "IPv6 is available on this machine: \(server.listenAddresses)")
  }

  @Test("the executable reports a port in use and exits 1")
  func busyPort() throws {
    let server = try TestServer.start(mode: .echo, port: 0, addresses: ["127.0.0.1"])
    let result = try Binaries.run(Binaries.path("kftray-testserver"), ["echo", "--port", String(server.port), "--bind", "127.0.0.1"])
    #expect(result.status == 1)
    #expect(result.stderr.contains("bind 127.0.0.1:\(server.port)") && result.stderr.contains("Address already in use"), "\(result)")
    let usage = try Binaries.run(Binaries.path("kftray-testserver"), ["http", "--port", "80"])
    #expect(usage.status == 64, "--name is required: \(usage)")
  }
}
