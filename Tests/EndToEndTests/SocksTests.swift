import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `kubectl kftray proxy --socks / --http-connect` through kubectl's plugin discovery: one dynamic
/// relay pod for every destination, names resolved in the cluster, the cluster's outcome as the
/// protocol's reply, the allow-list enforced locally and in the relay.
@Suite("kubectl kftray proxy --socks", .serialized)
struct SocksTests {
  /// A SOCKS5 CONNECT (RFC 1928, optional RFC 1929 credentials); returns the reply code and the socket.
  static func socksConnect(
    proxy: Int, host: String, port: UInt16, credentials: (String, String)? = nil, timeout: Int = 20
  ) throws -> (reply: UInt8, fd: Int32) {
    let fd = try connectLoopback(UInt16(proxy))
    var tv = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) } }
    func read(_ n: Int) throws -> [UInt8] {
      var buffer = [UInt8](repeating: 0, count: n)
      var got = 0
      while got < n {
        let r = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, n - got, 0) }
        guard r > 0 else { throw SandboxError("SOCKS proxy closed after \(got) of \(n) bytes") }
        got += r
      }
      return buffer
    }
    send(credentials == nil ? [5, 1, 0] : [5, 1, 2])
    let method = try read(2)
    if let (user, password) = credentials {
      guard method == [5, 2] else { return (0xFF, fd) }
      send([1, UInt8(user.utf8.count)] + Array(user.utf8) + [UInt8(password.utf8.count)] + Array(password.utf8))
      guard try read(2) == [1, 0] else { return (0xFF, fd) }
    } else if method != [5, 0] {
      return (0xFF, fd)
    }
    send([5, 1, 0, 3, UInt8(host.utf8.count)] + Array(host.utf8) + [UInt8(port >> 8), UInt8(port & 0xff)])
    let reply = try read(10)
    return (reply[1], fd)
  }

  static func exchange(_ fd: Int32, _ payload: [UInt8]) -> [UInt8] { TestSupport.exchange(fd, payload) }


  static func curl(_ arguments: [String], environment: [String: String] = [:]) throws -> Binaries.Result {
    var env = ["PATH": "/usr/bin:/bin"]
    env.merge(environment) { $1 }
    return try Binaries.run("/usr/bin/curl", ["-s", "-m", "15"] + arguments, environment: env)
  }

  /// Waits for the SOCKS5 line (the front ends serve from then on).
  static func start(_ sandbox: SandboxCluster.Running, _ arguments: [String]) async throws -> ProxyTests.Proxy {
    let proxy = try ProxyTests.Proxy(sandbox, arguments)
    let deadline = ContinuousClock.now + .seconds(60)
    while !proxy.stdout.contains("any destination the cluster can reach") {
      if proxy.exited() { throw SandboxError("proxy exited: \(proxy.stderr)") }
      guard ContinuousClock.now < deadline else { throw SandboxError("no SOCKS line: \(proxy.stderr)") }
      try await Task.sleep(for: .milliseconds(100))
    }
    return proxy
  }

  @Test("curl through --socks to cluster names, the database, refused and timing-out destinations; --http-connect for http_proxy and CONNECT")
  func socksAndHTTPConnect() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let socks = try freeLoopbackPort()
    let http = try freeLoopbackPort()
    let proxy = try await Self.start(sandbox, ["--context", "sandbox-dev", "--socks", "\(socks)", "--http-connect", "127.0.0.1:\(http)"])
    #expect(proxy.stdout.contains("SOCKS5 proxy on 127.0.0.1:\(socks) -> any destination the cluster can reach (via dev/kftray-relay-"))
    #expect(proxy.stdout.contains("HTTP CONNECT proxy on 127.0.0.1:\(http)"))
    #expect(proxy.stderr.contains("allowed destinations: everything"), "the default is said on start")

    let web = try Self.curl(["--socks5-hostname", "127.0.0.1:\(socks)", "http://web.default.svc.cluster.local/"])
    #expect(web.status == 0 && web.stdout.contains("hello from web"), "\(web.stdout) \(web.stderr) \(proxy.settledStderr)")
    let internalService = try Self.curl(["--socks5-hostname", "127.0.0.1:\(socks)", "http://internal-service.cluster.local/"])
    #expect(internalService.stdout.contains("hello from internal-service"))

    let db = try Self.socksConnect(proxy: socks, host: "database.region.rds.amazonaws.com", port: 5432)
    #expect(db.reply == 0)
    #expect(Self.exchange(db.fd, Array("select 1;".utf8)) == Array("select 1;".utf8))
    close(db.fd)

    for (host, port, code) in [
      ("closed.default.svc.cluster.local", UInt16(7001), UInt8(5)),  // connection refused
      ("no-such-name.default.svc.cluster.local", 80, 4),  // host unreachable: no such name in the cluster
      ("firewalled.default.svc.cluster.local", 7002, 6),  // TTL expired: the connect timed out
    ] {
      let attempt = try Self.socksConnect(proxy: socks, host: host, port: port)
      close(attempt.fd)
      #expect(attempt.reply == code, "\(host): \(attempt.reply)")
    }

    let plain = try Self.curl(["http://internal-service.cluster.local/"], environment: ["http_proxy": "http://127.0.0.1:\(http)"])
    #expect(plain.stdout.contains("hello from internal-service"), "\(plain.stdout) \(plain.stderr)")
    let tunnelled = try Self.curl(["--proxytunnel", "-x", "http://127.0.0.1:\(http)", "http://web.default.svc.cluster.local/"])
    #expect(tunnelled.stdout.contains("hello from web"), "CONNECT: \(tunnelled.stdout) \(tunnelled.stderr)")
    let refused = try Self.curl(["--proxytunnel", "-x", "http://127.0.0.1:\(http)", "-w", "%{http_connect}", "-o", "/dev/null",
      "http://closed.default.svc.cluster.local:7001/"])
    #expect(refused.stdout == "502", "CONNECT to a refusing destination: \(refused.stdout)")

    #expect(try await proxy.stop(SIGTERM) == 0)
    try await ProxyTests.expectNoRelayPods(sandbox, namespace: "dev", label: proxy.label)
  }

  @Test("--allow rejects locally and in the relay (a hand-made header through kubectl port-forward); --socks-auth")
  func allowListAndAuthentication() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let socks = try freeLoopbackPort()
    let proxy = try await Self.start(
      sandbox,
      ["-n", "restricted", "--socks", "\(socks)", "--socks-auth", "ada:s3cret", "--allow", "*.cluster.local:80",
       "--allow", "10.96.0.11/32:7000"])
    #expect(proxy.stderr.contains("allowed destinations: *.cluster.local:80,10.96.0.11/32:7000"))
    // The relay pod passes Pod Security restricted (the namespace enforces it).
    let pod = try #require(try ProxyTests.relayPods(sandbox, namespace: "restricted", label: proxy.label).first)

    let allowed = try Self.socksConnect(proxy: socks, host: "web.default.svc.cluster.local", port: 80, credentials: ("ada", "s3cret"))
    close(allowed.fd)
    #expect(allowed.reply == 0)
    let wrongPort = try Self.socksConnect(proxy: socks, host: "web.default.svc.cluster.local", port: 81, credentials: ("ada", "s3cret"))
    close(wrongPort.fd)
    #expect(wrongPort.reply == 2, "not allowed by ruleset")
    let byAddress = try Self.socksConnect(proxy: socks, host: "10.96.0.11", port: 7000, credentials: ("ada", "s3cret"))
    #expect(byAddress.reply == 0)
    #expect(Self.exchange(byAddress.fd, Array("ping".utf8)) == Array("ping".utf8))
    close(byAddress.fd)
    let badPassword = try Self.socksConnect(proxy: socks, host: "web.default.svc.cluster.local", port: 80, credentials: ("ada", "guess"))
    close(badPassword.fd)
    #expect(badPassword.reply == 0xFF)
    let noAuth = try Self.socksConnect(proxy: socks, host: "web.default.svc.cluster.local", port: 80)
    close(noAuth.fd)
    #expect(noAuth.reply == 0xFF, "no-auth is refused when --socks-auth is set")

    // A hand-made client skips the local check: the relay itself refuses.
    let forwardPort = try freeLoopbackPort()
    let forward = try ProxyTests.Proxy.kubectlPortForward(sandbox, namespace: "restricted", pod: pod, localPort: forwardPort)
    defer { forward.stop() }
    try await waitForLoopbackPort(forwardPort)
    for (host, port, expected) in [("database.region.rds.amazonaws.com", UInt16(5432), UInt8(2)), ("web.default.svc.cluster.local", 80, 0)] {
      let fd = try connectLoopback(UInt16(forwardPort))
      let header: [UInt8] = [0x4B, 0x46, 0x54, 0x01, 1, 3, UInt8(host.utf8.count)] + Array(host.utf8) + [UInt8(port >> 8), UInt8(port & 0xff)]
      _ = header.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
      var reply: UInt8 = 0xEE
      var tv = timeval(tv_sec: 20, tv_usec: 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
      _ = recv(fd, &reply, 1, 0)
      close(fd)
      #expect(reply == expected, "\(host):\(port) through the relay directly")
    }
    #expect(try await proxy.stop(SIGINT) == 0)
    try await ProxyTests.expectNoRelayPods(sandbox, namespace: "restricted", label: proxy.label)
  }

  @Test("200 concurrent SOCKS connections to mixed destinations through one relay pod: no failure")
  func manyConcurrentConnections() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let socks = try freeLoopbackPort()
    let proxy = try await Self.start(sandbox, ["--socks", "\(socks)"])
    let destinations: [(String, UInt16)] = [
      ("echo.default.svc.cluster.local", 7000), ("database.region.rds.amazonaws.com", 5432), ("10.96.0.11", 7000),
    ]
    let failures = try await withThrowingTaskGroup(of: Int.self) { group in
      for index in 0..<200 {
        group.addTask {
          try await Binaries.offPool {
            let (host, port) = destinations[index % destinations.count]
            let payload = Array("connection \(index) via \(host)".utf8)
            guard let attempt = try? Self.socksConnect(proxy: socks, host: host, port: port, timeout: 60) else { return 1 }
            defer { close(attempt.fd) }
            return attempt.reply == 0 && Self.exchange(attempt.fd, payload) == payload ? 0 : 1
          }
        }
      }
      return try await group.reduce(0, +)
    }
    #expect(failures == 0, "\(proxy.settledStderr)")
    #expect(try ProxyTests.relayPods(sandbox, namespace: "default", label: proxy.label).count == 1)
    #expect(try await proxy.stop() == 0)
    try await ProxyTests.expectNoRelayPods(sandbox, namespace: "default", label: proxy.label)
  }

  /// UDP ASSOCIATE, then `messages` to host:port one by one, each answered; returns the replies'
  /// payloads. The control connection stays open meanwhile, as RFC 1928 requires.
  static func socksUDP(proxy: Int, host: String, port: UInt16, messages: [String]) throws -> [String] {
    let control = try connectLoopback(UInt16(proxy))
    defer { close(control) }
    var tv = timeval(tv_sec: 20, tv_usec: 0)
    setsockopt(control, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.send(control, $0.baseAddress, $0.count, 0) } }
    func read(_ n: Int) -> [UInt8] {
      var buffer = [UInt8](repeating: 0, count: n)
      var got = 0
      while got < n {
        let r = buffer.withUnsafeMutableBytes { recv(control, $0.baseAddress! + got, n - got, 0) }
        if r <= 0 { break }
        got += r
      }
      return Array(buffer[0..<got])
    }
    send([5, 1, 0])
    guard read(2) == [5, 0] else { throw SandboxError("no method") }
    send([5, 3, 0, 1, 0, 0, 0, 0, 0, 0])
    let reply = read(10)
    guard reply.count == 10, reply[1] == 0, reply[3] == 1 else { throw SandboxError("UDP ASSOCIATE refused: \(reply)") }
    let relayPort = UInt16(reply[8]) << 8 | UInt16(reply[9])
    let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    defer { close(udp) }
    setsockopt(udp, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var target = sockaddr_in()
    target.sin_family = sa_family_t(AF_INET)
    target.sin_addr.s_addr = inet_addr("127.0.0.1")
    target.sin_port = relayPort.bigEndian
    var replies: [String] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    for message in messages {
      let datagram: [UInt8] = [0, 0, 0, 3, UInt8(host.utf8.count)] + Array(host.utf8) + [UInt8(port >> 8), UInt8(port & 0xff)]
        + Array(message.utf8)
      _ = datagram.withUnsafeBytes { bytes in
        withUnsafePointer(to: &target) {
          $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            sendto(udp, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
          }
        }
      }
      let n = recv(udp, &buffer, buffer.count, 0)
      guard n > 10 else { throw SandboxError("no UDP reply to \(message)") }
      // RSV RSV FRAG ATYP(1: IPv4, the echo server's address) ADDR(4) PORT(2), then the data.
      let headerLength = buffer[3] == 1 ? 10 : buffer[3] == 4 ? 22 : 7 + Int(buffer[4])
      replies.append(String(decoding: buffer[headerLength..<n], as: UTF8.self))
    }
    return replies
  }

  @Test("UDP ASSOCIATE to udp-echo from two clients at once: replies are not crossed")
  func udpAssociate() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let socks = try freeLoopbackPort()
    let proxy = try await Self.start(sandbox, ["--socks", "\(socks)"])
    let results = try await withThrowingTaskGroup(of: (String, [String]).self) { group in
      for name in ["alpha", "bravo"] {
        group.addTask {
          try await Binaries.offPool {
            (name, try Self.socksUDP(proxy: socks, host: "udp-echo.default.svc.cluster.local", port: 5353,
              messages: (0..<5).map { "\(name)-\($0)" }))
          }
        }
      }
      var all: [String: [String]] = [:]
      for try await (name, replies) in group { all[name] = replies }
      return all
    }
    for name in ["alpha", "bravo"] { #expect(results[name] == (0..<5).map { "\(name)-\($0)" }, "\(proxy.settledStderr)") }
    #expect(try await proxy.stop() == 0)
    try await ProxyTests.expectNoRelayPods(sandbox, namespace: "default", label: proxy.label)
  }
}
