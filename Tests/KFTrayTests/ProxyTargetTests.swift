import KFTray
import Testing

@Suite struct ProxyTargetTests {
  @Test(arguments: [
    ("8080:internal-service.cluster.local:80", ProxyTarget(localPort: 8080, remoteAddress: "internal-service.cluster.local", remotePort: 80)),
    ("database.region.rds.amazonaws.com:5432", ProxyTarget(remoteAddress: "database.region.rds.amazonaws.com", remotePort: 5432)),
    ("5353:udp-echo.default.svc.cluster.local:5353/udp",
     ProxyTarget(localPort: 5353, remoteAddress: "udp-echo.default.svc.cluster.local", remotePort: 5353, transport: .udp)),
    ("web:80/TCP", ProxyTarget(remoteAddress: "web", remotePort: 80)),
    (":web:80", ProxyTarget(localPort: 0, remoteAddress: "web", remotePort: 80)),
    ("10.0.0.5:6379", ProxyTarget(remoteAddress: "10.0.0.5", remotePort: 6379)),
    ("[fd00::5]:80", ProxyTarget(remoteAddress: "fd00::5", remotePort: 80)),
    ("8443:[2001:db8::1]:443", ProxyTarget(localPort: 8443, remoteAddress: "2001:db8::1", remotePort: 443)),
    ("kubernetes.default.svc.cluster.local.:443", ProxyTarget(remoteAddress: "kubernetes.default.svc.cluster.local.", remotePort: 443)),
  ])
  func parses(_ text: String, _ expected: ProxyTarget) throws {
    #expect(try ProxyTarget(parsing: text) == expected)
  }

  @Test(arguments: [
    ("web", "invalid target \"web\": use [LOCAL_PORT:]REMOTE_ADDRESS:REMOTE_PORT[/udp]"),
    ("1:2:3:4", "invalid target \"1:2:3:4\": use"),
    ("web:http", "the remote port \"http\" is not a number"),
    ("web:0", "the remote port 0 is out of range: use 1 to 65535"),
    ("web:70000", "the remote port 70000 is out of range"),
    ("99999:web:80", "the local port 99999 is out of range: use 0 to 65535"),
    ("web:80/sctp", "unknown protocol \"sctp\": use /tcp (the default) or /udp"),
    ("http://web:80", "\"http://...\" is not a host name"),
    ("we b:80", "is not a host name or IP address"),
    ("fd00::5:80", "invalid target \"fd00::5:80\""),
    ("[fd00::5:80", "invalid target"),
    (":80", "is not a host name"),
  ])
  func rejectsWithAMessageThatSaysWhatToDo(_ text: String, _ message: String) {
    #expect {
      _ = try ProxyTarget(parsing: text)
    } throws: { error in
      "\(error)".contains(message)
    }
  }

  @Test func describesItselfAsTyped() throws {
    #expect(try ProxyTarget(parsing: "8080:[fd00::5]:80/udp").description == "8080:[fd00::5]:80/udp")
    #expect(try ProxyTarget(parsing: "web:80").remote == "web:80")
  }
}
