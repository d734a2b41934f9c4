import Foundation
import KFTrayRelay
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// `[ADDRESS:]PORT` of `--socks` and `--http-connect` (IPv6 in brackets); the address defaults to
/// 127.0.0.1 so other machines cannot ride the tunnel.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
  public var host: String
  public var port: UInt16

  public init(parsing text: String, flag: String) throws(DynamicFrontendError) {
    var host = "127.0.0.1"
    var portText = Substring(text)
    if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
      host = String(text[text.index(after: text.startIndex)..<close])
      portText = text[text.index(after: close)...].drop { $0 == ":" }
    } else if let colon = text.lastIndex(of: ":") {
      host = String(text[..<colon])
      portText = text[text.index(after: colon)...]
    }
    guard let port = UInt16(portText), port > 0 else { throw .usage("\(flag) \"\(text)\": use [ADDRESS:]PORT, e.g. 1080 or 127.0.0.1:1080") }
    var probe = in6_addr()
    var probe4 = in_addr()
    guard inet_pton(AF_INET, host, &probe4) == 1 || inet_pton(AF_INET6, host, &probe) == 1 else {
      throw .usage("\(flag) \"\(text)\": \"\(host)\" is not an IP address")
    }
    self.host = host
    self.port = port
  }

  public var description: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }
  public var isLoopback: Bool { host.hasPrefix("127.") || host == "::1" }
}

public enum DynamicFrontendError: Error, Sendable, Equatable, CustomStringConvertible {
  case usage(String)
  case listen(String)
  public var description: String {
    switch self {
    case .usage(let m), .listen(let m): return m
    }
  }
}

/// What the front ends report (for `-v`).
public enum DynamicEvent: Sendable, Equatable {
  case opened(frontend: String, client: String, destination: String)
  case refused(frontend: String, client: String, destination: String, reason: String)
  case closed(frontend: String, client: String, destination: String, bytesOut: UInt64, bytesIn: UInt64)
}

/// A local SOCKS5 (RFC 1928, with RFC 1929 username/password) or HTTP CONNECT proxy whose every
/// connection goes through the dynamic relay pod: it connects to the relay's local forward, sends the
/// destination header, passes the relay's answer on as the protocol's reply, then relays bytes. Names
/// are resolved in the cluster (socks5h), so cluster-only names work.
public final class DynamicFrontend: Sendable {
  public enum Kind: Sendable, Equatable {
    case socks(credentials: Credentials?)
    case httpConnect
    public var name: String {
      switch self {
      case .socks: return "socks5"
      case .httpConnect: return "http-connect"
      }
    }
  }

  public struct Credentials: Sendable, Equatable {
    public var user: String
    public var password: String
    /// `USER:PASSWORD`.
    public init(parsing text: String) throws(DynamicFrontendError) {
      guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
        throw .usage("--socks-auth: use USER:PASSWORD")
      }
      user = String(text[..<colon])
      password = String(text[text.index(after: colon)...])
      guard user.utf8.count <= 255, password.utf8.count <= 255 else { throw .usage("--socks-auth: at most 255 bytes each") }
    }
  }

  public let kind: Kind
  public let address: ListenAddress
  private let listener: Socket
  /// The relay's local forward, known once the relay pod is up.
  private let upstreamPort = Atomic<UInt16>(0)
  private let allow: AllowList
  private let events: @Sendable (DynamicEvent) -> Void
  private let stopping = Atomic<Bool>(false)

  /// Binds at once (a port in use fails before anything is created in the cluster); serves once
  /// `start(upstreamPort:)` knows where the relay's forward listens.
  public init(
    kind: Kind, address: ListenAddress, allow: AllowList, events: @escaping @Sendable (DynamicEvent) -> Void
  ) throws(DynamicFrontendError) {
    self.kind = kind
    self.address = address
    self.allow = allow
    self.events = events
    listener = try Self.listen(address)
  }

  static func listen(_ address: ListenAddress) throws(DynamicFrontendError) -> Socket {
    guard var bindAddress = BindAddress(host: address.host, port: address.port) else {
      throw .listen("\(address.host) is not an IP address")
    }
    let fd = socket(bindAddress.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw .listen("socket(): \(String(cString: strerror(errno)))") }
    let socket = Socket(fd: fd)
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    guard bindAddress.bind(fd), systemListen(fd, 512) == 0 else {
      throw .listen("cannot listen on \(address): \(String(cString: strerror(errno)))")
    }
    return socket
  }

  /// Accepts on a thread of its own, one thread per connection, until `stop`. `upstreamPort`: the
  /// local port of the forward to the dynamic relay pod.
  public func start(upstreamPort: UInt16) {
    self.upstreamPort.store(upstreamPort, ordering: .relaxed)
    Thread.detachNewThread { [self] in
      while !stopping.load(ordering: .relaxed) {
        var descriptor = pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, 200) > 0 else { continue }
        var peer = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = withUnsafeMutablePointer(to: &peer) {
          $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listener.fd, $0, &length) }
        }
        guard fd >= 0 else { continue }
        let client = Socket(fd: fd)
        let name = Self.describe(peer)
        Thread.detachNewThread { [self] in self.handle(client, name: name) }
      }
    }
  }

  public func stop() {
    stopping.store(true, ordering: .relaxed)
    listener.shutdown(.both)
  }

  // MARK: One connection

  private func handle(_ client: Socket, name: String) {
    var timeout = timeval(tv_sec: 30, tv_usec: 0)
    setsockopt(client.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let conversation: Conversation = kind == .httpConnect ? HTTPConnectConversation() : SocksConversation(kind: kind)
    guard let request = conversation.readRequest(client) else {
      client.close()
      return
    }
    if request.destination.command == .udpAssociate {
      associate(client, name: name)
      return
    }
    let destination = "\(request.destination.address):\(request.destination.port)"
    // The fast local answer; the relay enforces the same list (and what only the cluster's DNS knows).
    if !Self.locallyAllowed(request.destination, allow) {
      conversation.reply(client, .notAllowed, to: request)
      events(.refused(frontend: kind.name, client: name, destination: destination, reason: DynamicDestination.Reply.notAllowed.description))
      client.close()
      return
    }
    let upstream: Socket
    let reply: DynamicDestination.Reply
    do throws(SocketError) {
      let addresses = try SocketAddress.resolve(
        host: "127.0.0.1", port: upstreamPort.load(ordering: .relaxed), socketType: socketStream)
      (upstream, _) = try Socket.connect(to: addresses, timeout: .seconds(10))
      try upstream.sendAll(request.destination.encoded())
      var byte: UInt8 = 0
      let n = withUnsafeMutableBytes(of: &byte) { (try? upstream.receiveExactly(into: $0)) ?? 0 }
      // No answer: the relay pod is being replaced or cannot be reached.
      reply = n == 1 ? DynamicDestination.Reply(rawValue: byte) ?? .generalFailure : .generalFailure
    } catch {
      conversation.reply(client, .generalFailure, to: request)
      events(.refused(frontend: kind.name, client: name, destination: destination, reason: "no relay: \(error)"))
      client.close()
      return
    }
    conversation.reply(client, reply, to: request)
    guard reply == .succeeded else {
      events(.refused(frontend: kind.name, client: name, destination: destination, reason: reply.description))
      client.close()
      upstream.close()
      return
    }
    if !request.pending.isEmpty { try? upstream.sendAll(request.pending) }
    timeout = timeval(tv_sec: 0, tv_usec: 0)
    setsockopt(client.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    events(.opened(frontend: kind.name, client: name, destination: destination))
    let outcome = TCPRelay.run(client, upstream, firstName: "client", secondName: "relay")
    events(.closed(frontend: kind.name, client: name, destination: destination, bytesOut: outcome.forwarded, bytesIn: outcome.returned))
  }

  /// UDP ASSOCIATE (RFC 1928 §7): a local UDP socket for the client's datagrams, one associate stream
  /// to the relay for all of them; the association ends with the client's TCP connection.
  private func associate(_ client: Socket, name: String) {
    let socksReply = { (reply: DynamicDestination.Reply, bound: [UInt8]) in
      try? client.sendAll([5, reply.rawValue, 0] + bound)
    }
    guard let (udp, bound) = Self.bindUDP(host: address.host) else {
      socksReply(.generalFailure, [1, 0, 0, 0, 0, 0, 0])
      client.close()
      return
    }
    let upstream: Socket
    do throws(SocketError) {
      let addresses = try SocketAddress.resolve(
        host: "127.0.0.1", port: upstreamPort.load(ordering: .relaxed), socketType: socketStream)
      (upstream, _) = try Socket.connect(to: addresses, timeout: .seconds(10))
      try upstream.sendAll(DynamicDestination.Request(command: .udpAssociate, address: .ipv4([0, 0, 0, 0]), port: 0).encoded())
    } catch {
      socksReply(.generalFailure, [1, 0, 0, 0, 0, 0, 0])
      client.close()
      udp.close()
      return
    }
    var byte: UInt8 = 0
    let n = withUnsafeMutableBytes(of: &byte) { (try? upstream.receiveExactly(into: $0)) ?? 0 }
    guard n == 1, byte == DynamicDestination.Reply.succeeded.rawValue else {
      socksReply(.generalFailure, [1, 0, 0, 0, 0, 0, 0])
      client.close()
      udp.close()
      upstream.close()
      return
    }
    socksReply(.succeeded, bound)
    events(.opened(frontend: "socks5-udp", client: name, destination: "any"))
    var timeout = timeval(tv_sec: 0, tv_usec: 0)
    setsockopt(client.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var endpoint: (storage: sockaddr_storage, length: socklen_t)?
    var fromRelay = DatagramStreamReader()
    var datagramsOut: UInt64 = 0
    var datagramsIn: UInt64 = 0
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536 + 512, alignment: 16)
    defer {
      buffer.deallocate()
      udp.close()
      upstream.close()
      client.close()
      events(.closed(frontend: "socks5-udp", client: name, destination: "any", bytesOut: datagramsOut, bytesIn: datagramsIn))
    }
    while !stopping.load(ordering: .relaxed) {
      var descriptors = [
        pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0), pollfd(fd: udp.fd, events: Int16(POLLIN), revents: 0),
        pollfd(fd: upstream.fd, events: Int16(POLLIN), revents: 0),
      ]
      guard poll(&descriptors, 3, 500) >= 0 else { return }
      // The control connection's end (or anything on it) ends the association.
      if descriptors[0].revents != 0 { return }
      if descriptors[1].revents != 0 {
        var source = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let n = withUnsafeMutablePointer(to: &source) {
          $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(udp.fd, buffer.baseAddress, buffer.count, 0, $0, &length) }
        }
        // RSV RSV FRAG, then the destination; fragments are not supported (dropped, as RFC 1928 allows).
        if n > 3, buffer[2] == 0,
          let (address, port, payload) = DynamicDestination.decodeAddress(ArraySlice(UnsafeRawBufferPointer(rebasing: buffer[3..<n])))
        {
          endpoint = (source, length)
          let request = DynamicDestination.Request(address: address, port: port)
          if Self.locallyAllowed(request, allow), payload.count <= UDPFraming.maximumPayload {
            do { try upstream.sendAll(DynamicDestination.datagramFrame(address, port: port, payload: payload)) } catch { return }
            datagramsOut += 1
          }
        }
      }
      if descriptors[2].revents != 0 {
        let n = (try? upstream.receive(into: buffer)) ?? 0
        if n == 0 { return }
        fromRelay.append(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
        // A frame too long for a datagram: the relay is not speaking the protocol; end the association.
        while true {
          let next: ArraySlice<UInt8>?
          do { next = try fromRelay.next() } catch { return }
          guard let body = next else { break }
          guard var endpoint else { continue }
          let datagram = [0, 0, 0] + body  // RSV RSV FRAG, then the source's address, port and data
          _ = datagram.withUnsafeBytes { bytes in
            withUnsafePointer(to: &endpoint.storage) {
              $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(udp.fd, bytes.baseAddress, bytes.count, 0, $0, endpoint.length) }
            }
          }
          datagramsIn += 1
        }
      }
    }
  }

  /// A UDP socket on the front end's own address, and that address in SOCKS form (type, address, port).
  static func bindUDP(host: String) -> (Socket, [UInt8])? {
    guard var bindAddress = BindAddress(host: host, port: 0) else { return nil }
    let fd = socket(bindAddress.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return nil }
    let socket = Socket(fd: fd)
    guard bindAddress.bind(fd) else { return nil }
    let port = bindAddress.port
    return (socket, [bindAddress.family == AF_INET6 ? 4 : 1] + bindAddress.addressBytes + [UInt8(port >> 8), UInt8(port & 0xff)])
  }

  /// Only what is certainly denied: an address literal outside the network rules, or a name that
  /// no host rule matches when there are no network rules a cluster lookup could satisfy.
  static func locallyAllowed(_ request: DynamicDestination.Request, _ allow: AllowList) -> Bool {
    if allow.allowsEverything { return true }
    switch request.address {
    case .ipv4(let bytes), .ipv6(let bytes): return allow.allowsAddress(bytes, port: request.port)
    case .name(let name):
      let hasNetworkRules = allow.rules.contains { if case .network = $0.scope { return true } else { return false } }
      return allow.allowsName(name, port: request.port) || hasNetworkRules
    }
  }

  static func describe(_ address: sockaddr_storage) -> String {
    var copy = address
    var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
    var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
    let length = socklen_t(Int32(address.ss_family) == AF_INET6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &copy) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        getnameinfo($0, length, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
      }
    }
    func text(_ c: [CChar]) -> String { String(decoding: c.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    return "\(text(host)):\(text(service))"
  }
}

/// A parsed client request: where to, and bytes the client already sent that belong to the target.
struct FrontendRequest {
  var destination: DynamicDestination.Request
  var pending: [UInt8] = []
  /// HTTP only: a CONNECT (answered "200 Connection established") rather than a plain request sent on.
  var isTunnel = true
}

protocol Conversation {
  /// Reads the client's handshake and request; nil when it is not one (the answer is already sent).
  func readRequest(_ client: some FrontendClient) -> FrontendRequest?
  /// Answers the request with the relay's outcome.
  func reply(_ client: some FrontendClient, _ reply: DynamicDestination.Reply, to request: FrontendRequest)
}

/// The client connection as the conversations see it: exact reads and best-effort answers. A socket
/// in the proxy; bytes in memory for `FrontendRequestParser` (the fuzz targets), so both run the
/// same parsing code.
protocol FrontendClient {
  /// Exactly `count` bytes, or nil at the end of the stream, an error or the receive timeout.
  func read(_ count: Int) -> [UInt8]?
  /// Sends an answer; a client that went away is not an error here (the connection ends anyway).
  func answer(_ bytes: [UInt8])
}

extension Socket: FrontendClient {
  func read(_ count: Int) -> [UInt8]? {
    guard count > 0 else { return [] }
    var bytes = [UInt8](repeating: 0, count: count)
    let n = bytes.withUnsafeMutableBytes { (try? receiveExactly(into: $0)) ?? 0 }
    return n == count ? bytes : nil
  }

  func answer(_ bytes: [UInt8]) { try? sendAll(bytes) }
}

/// RFC 1928 (and 1929 when credentials are set): CONNECT and UDP ASSOCIATE; BIND is answered
/// "command not supported".
struct SocksConversation: Conversation {
  let kind: DynamicFrontend.Kind

  func readRequest(_ client: some FrontendClient) -> FrontendRequest? {
    guard let greeting = client.read(2), greeting[0] == 5, let methods = client.read(Int(greeting[1])) else { return nil }
    if case .socks(let credentials?) = kind {
      guard methods.contains(2) else {
        client.answer([5, 0xFF])
        return nil
      }
      client.answer([5, 2])
      guard let head = client.read(2), head[0] == 1, let user = client.read(Int(head[1])), let plen = client.read(1),
        let password = client.read(Int(plen[0]))
      else { return nil }
      // Compared whole, so the time taken does not tell how much of a guess was right.
      let ok = Array(user) == Array(credentials.user.utf8) && Array(password) == Array(credentials.password.utf8)
      client.answer([1, ok ? 0 : 1])
      guard ok else { return nil }
    } else {
      guard methods.contains(0) else {
        client.answer([5, 0xFF])
        return nil
      }
      client.answer([5, 0])
    }
    guard let head = client.read(4), head[0] == 5 else { return nil }
    let address: DynamicDestination.Address
    switch head[3] {
    case 1:
      guard let b = client.read(4) else { return nil }
      address = .ipv4(b)
    case 4:
      guard let b = client.read(16) else { return nil }
      address = .ipv6(b)
    case 3:
      guard let n = client.read(1), let name = client.read(Int(n[0])), !name.isEmpty else { return nil }
      // Read to the end first (the port), so the answer is not taken for the start of the stream.
      guard DynamicDestination.isResolvableName(name) else {
        guard client.read(2) != nil else { return nil }
        socksReply(client, .hostUnreachable)
        return nil
      }
      address = .name(String(decoding: name, as: UTF8.self))
    default:
      socksReply(client, .addressTypeNotSupported)
      return nil
    }
    guard let port = client.read(2) else { return nil }
    guard let command = DynamicDestination.Command(rawValue: head[1]) else {
      socksReply(client, .commandNotSupported)
      return nil
    }
    return FrontendRequest(destination: .init(command: command, address: address, port: UInt16(port[0]) << 8 | UInt16(port[1])))
  }

  func reply(_ client: some FrontendClient, _ reply: DynamicDestination.Reply, to request: FrontendRequest) {
    socksReply(client, reply)
  }

  func socksReply(_ client: some FrontendClient, _ reply: DynamicDestination.Reply) {
    // BND.ADDR and BND.PORT are the relay's, which mean nothing here: 0.0.0.0:0.
    client.answer([5, reply.rawValue, 0, 1, 0, 0, 0, 0, 0, 0])
  }
}

/// HTTP/1.1 CONNECT (RFC 9110 §9.3.6), and absolute-form requests (`GET http://host/path`) for plain
/// HTTP, which are sent on in origin form.
struct HTTPConnectConversation: Conversation {
  func readRequest(_ client: some FrontendClient) -> FrontendRequest? {
    var head: [UInt8] = []
    while head.count < 16 * 1024 {
      guard let byte = client.read(1) else { return nil }
      head += byte
      if head.count >= 4, head.suffix(4) == [13, 10, 13, 10] { break }
    }
    guard head.suffix(4) == [13, 10, 13, 10] else { return answer(client, 431, "Request Header Fields Too Large") }
    // Sliced as bytes: the headers after the request line go to the target exactly as the client sent
    // them (a String round trip would replace bytes that are not UTF-8 and shift the cut).
    let lineEnd = (0..<head.count - 1).first { head[$0] == 13 && head[$0 + 1] == 10 }!
    // method SP request-target SP HTTP-version (RFC 9112 §3); anything else is not sent on.
    let parts = head[..<lineEnd].split(separator: 32).map { String(validating: $0, as: UTF8.self) }
    guard parts.count == 3, let method = parts[0], let target = parts[1], let version = parts[2],
      Self.isToken(method), Self.isHTTPVersion(version)
    else { return answer(client, 400, "Bad Request") }
    if method == "CONNECT" {
      guard let destination = Self.hostPort(target, defaultPort: nil) else { return answer(client, 400, "Bad Request") }
      return FrontendRequest(destination: destination)
    }
    // Plain HTTP through a proxy: the request line names the whole URL.
    guard target.lowercased().hasPrefix("http://") else { return answer(client, 400, "Bad Request") }
    let afterScheme = target.dropFirst("http://".count)
    let authority = afterScheme.prefix { $0 != "/" }
    let path = afterScheme.dropFirst(authority.count)
    guard let destination = Self.hostPort(String(authority), defaultPort: 80) else { return answer(client, 400, "Bad Request") }
    let requestLine = "\(method) \(path.isEmpty ? "/" : path) \(version)\r\n"
    let rest = Array(requestLine.utf8) + Array(head[(lineEnd + 2)...])
    return FrontendRequest(destination: destination, pending: rest, isTunnel: false)
  }

  func reply(_ client: some FrontendClient, _ reply: DynamicDestination.Reply, to request: FrontendRequest) {
    switch reply {
    case .succeeded:
      if request.isTunnel { client.answer(Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8)) }
    case .notAllowed: _ = answer(client, 403, "Forbidden", reply.description)
    case .ttlExpired: _ = answer(client, 504, "Gateway Timeout", reply.description)
    default: _ = answer(client, 502, "Bad Gateway", reply.description)
    }
  }

  @discardableResult
  func answer(_ client: some FrontendClient, _ code: Int, _ reason: String, _ detail: String? = nil) -> FrontendRequest? {
    let body = (detail ?? reason) + "\n"
    client.answer(
      Array("HTTP/1.1 \(code) \(reason)\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8))
    return nil
  }

  /// RFC 9110 §5.6.2 token (a method).
  static func isToken(_ text: String) -> Bool {
    !text.isEmpty && text.utf8.allSatisfy { byte in
      (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || "!#$%&'*+-.^_`|~".utf8.contains(byte)
    }
  }

  /// `HTTP/` DIGIT `.` DIGIT.
  static func isHTTPVersion(_ text: String) -> Bool {
    let bytes = Array(text.utf8)
    return bytes.count == 8 && bytes.starts(with: Array("HTTP/".utf8)) && bytes[6] == UInt8(ascii: ".")
      && [bytes[5], bytes[7]].allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
  }

  /// `host:port`, `[v6]:port`, or `host` with a default port.
  static func hostPort(_ text: String, defaultPort: UInt16?) -> DynamicDestination.Request? {
    var host = text
    var port = defaultPort
    if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
      host = String(text[text.index(after: text.startIndex)..<close])
      let after = text[text.index(after: close)...]
      if after.hasPrefix(":") { port = UInt16(after.dropFirst()) }
    } else if let colon = text.lastIndex(of: ":") {
      host = String(text[..<colon])
      port = UInt16(text[text.index(after: colon)...])
    }
    guard let port, port > 0, DynamicDestination.isResolvableName(host.utf8) else { return nil }
    var v4 = in_addr()
    var v6 = in6_addr()
    if inet_pton(AF_INET, host, &v4) == 1 { return .init(address: .ipv4(withUnsafeBytes(of: &v4) { Array($0) }), port: port) }
    if inet_pton(AF_INET6, host, &v6) == 1 { return .init(address: .ipv6(withUnsafeBytes(of: &v6) { Array($0) }), port: port) }
    return .init(address: .name(host), port: port)
  }
}
