import KFTray
import KFTrayRelay
import Testing

/// The SOCKS5 and HTTP CONNECT conversations of `proxy --socks`/`--http-connect` on bytes in memory.
@Suite struct FrontendRequestParserTests {
  @Test func socksConnectByName() {
    let outcome = FrontendRequestParser.socks([5, 1, 0, 5, 1, 0, 3, 3] + Array("web".utf8) + [0, 80])
    #expect(outcome.destination == DynamicDestination.Request(address: .name("web"), port: 80))
    #expect(outcome.answered == [5, 0])
    #expect(outcome.consumed == 13)
  }

  @Test func socksCredentialsAreRequired() throws {
    let credentials = try DynamicFrontend.Credentials(parsing: "user:pass")
    let request: [UInt8] = [5, 1, 0, 1, 10, 0, 0, 1, 0, 80]
    let good = [5, 1, 2, 1, 4] + Array("user".utf8) + [4] + Array("pass".utf8) + request
    #expect(FrontendRequestParser.socks(good, credentials: credentials).destination?.port == 80)
    let bad = [5, 1, 2, 1, 4] + Array("user".utf8) + [4] + Array("pasS".utf8) + request
    let refused = FrontendRequestParser.socks(bad, credentials: credentials)
    #expect(refused.destination == nil && refused.answered == [5, 2, 1, 1])
    #expect(FrontendRequestParser.socks([5, 1, 0] + request, credentials: credentials).answered == [5, 0xFF])
  }

  /// Found by the socks5 fuzz target: the allow-list judged "evil.example\0.cluster.local" whole, the
  /// resolver would have looked up "evil.example".
  @Test func socksNameWithNULIsRefused() {
    let name = Array("evil.example".utf8) + [0] + Array(".cluster.local".utf8)
    let outcome = FrontendRequestParser.socks([5, 1, 0, 5, 1, 0, 3, UInt8(name.count)] + name + [0, 80])
    #expect(outcome.destination == nil)
    #expect(outcome.answered == [5, 0] + FrontendRequestParser.socksReply(.hostUnreachable))
  }

  @Test func httpConnectAndAbsoluteForm() {
    let connect = FrontendRequestParser.httpConnect(Array("CONNECT [fd00::5]:443 HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
    #expect(connect.destination?.port == 443 && connect.isTunnel && connect.pending.isEmpty)
    let get = FrontendRequestParser.httpConnect(Array("GET http://web:8080/a?b HTTP/1.1\r\nHost: web\r\n\r\n".utf8))
    #expect(get.destination == DynamicDestination.Request(address: .name("web"), port: 8080))
    #expect(!get.isTunnel && get.pending == Array("GET /a?b HTTP/1.1\r\nHost: web\r\n\r\n".utf8))
  }

  /// Found by the http-connect fuzz target: a request line that is not UTF-8 shifted where the headers
  /// were cut, so the target got other bytes than the client sent.
  @Test func headersAreSentOnByteForByte() {
    let headers: [UInt8] = Array("X-Raw: ".utf8) + [0xFF, 0xC3, 0x28] + Array("\r\n\r\n".utf8)
    let get = FrontendRequestParser.httpConnect(Array("GET http://web/ HTTP/1.1\r\n".utf8) + headers)
    #expect(get.pending == Array("GET / HTTP/1.1\r\n".utf8) + headers)
  }

  @Test(arguments: [
    "G\u{0}T http://web/ HTTP/1.1\r\n\r\n", "GET http://web/ http://x\r\n\r\n",
    "CONNECT web HTTP/1.1\r\n\r\n", "CONNECT a\u{0}b:80 HTTP/1.1\r\n\r\n", "GET /relative HTTP/1.1\r\n\r\n",
    // Found by the http-connect fuzz target: the relay header carries 255 bytes of name, so a longer
    // one was cut and the relay resolved another name than the one allowed here.
    "CONNECT \(String(repeating: "a", count: 256)):80 HTTP/1.1\r\n\r\n",
  ])
  func badRequestLinesAreRefused(_ head: String) {
    let outcome = FrontendRequestParser.httpConnect(Array(head.utf8))
    #expect(outcome.destination == nil)
    #expect(outcome.answered.starts(with: Array("HTTP/1.1 400 ".utf8)))
  }
}
