import KFTrayRelay
import Testing

@Suite struct ConfigurationTests {
  private let valid = ["REMOTE_ADDRESS": "10.0.0.7", "REMOTE_PORT": "5432", "LOCAL_PORT": "8080", "PROXY_TYPE": "tcp"]

  @Test func parsesTheKftrayServerEnvironment() throws {
    let configuration = try RelayConfiguration(environment: valid)
    #expect(configuration.remoteAddress == "10.0.0.7")
    #expect(configuration.remotePort == 5432)
    #expect(configuration.localPort == 8080)
    #expect(configuration.proxyType == .tcp)
    #expect(configuration.udpReplyTimeout == .seconds(5))
    #expect(configuration.shutdownGrace == .seconds(5))
  }

  @Test(arguments: ["udp", "UDP", "Udp"])
  func proxyTypeIsCaseInsensitive(_ value: String) throws {
    var environment = valid
    environment["PROXY_TYPE"] = value
    #expect(try RelayConfiguration(environment: environment).proxyType == .udp)
  }

  @Test(arguments: [
    ("http://db.prod.svc.cluster.local:9999/x?y#z", "db.prod.svc.cluster.local"),
    ("https://user:secret@example.internal", "example.internal"),
    ("tcp://[fd00::1]:53", "fd00::1"),
    ("[::1]", "::1"),
    ("redis.default", "redis.default"),
  ])
  func remoteAddressKeepsOnlyTheHostOfAURL(_ raw: String, _ host: String) throws {
    var environment = valid
    environment["REMOTE_ADDRESS"] = raw
    #expect(try RelayConfiguration(environment: environment).remoteAddress == host)
  }

  @Test func everyMissingVariableIsNamed() {
    #expect {
      try RelayConfiguration(environment: [:])
    } throws: { error in
      let problems = (error as? ConfigurationError)?.problems ?? []
      return problems.count == 4
        && problems.allSatisfy { if case .missing = $0 { true } else { false } }
        && ["REMOTE_ADDRESS", "REMOTE_PORT", "LOCAL_PORT", "PROXY_TYPE"].allSatisfy { name in
          problems.contains { $0.description.hasPrefix(name + " is not set") }
        }
    }
  }

  @Test(arguments: [
    ("REMOTE_PORT", "70000"), ("REMOTE_PORT", "0"), ("REMOTE_PORT", "http"), ("LOCAL_PORT", "-1"),
    ("LOCAL_PORT", ""), ("REMOTE_ADDRESS", ""), ("REMOTE_ADDRESS", "http://:80"), ("PROXY_TYPE", "sctp"),
  ])
  func invalidValuesAreRejectedWithTheVariableName(_ name: String, _ value: String) {
    var environment = valid
    environment[name] = value
    #expect {
      try RelayConfiguration(environment: environment)
    } throws: { error in
      guard let problems = (error as? ConfigurationError)?.problems, problems.count == 1 else { return false }
      return problems[0] == .invalid(variable: name, value: value, expected: expectedText(name))
    }
  }

  private func expectedText(_ name: String) -> String {
    switch name {
    case "REMOTE_PORT": "a port number 1-65535"
    case "LOCAL_PORT": "a port number 0-65535"
    case "PROXY_TYPE": "tcp, udp or dynamic (case-insensitive)"
    default: "a host name, an IP address, or a URL with a host"
    }
  }

  @Test func reverseHTTPIsRefusedAsUnsupported() {
    var environment = valid
    environment["PROXY_TYPE"] = "reverse_http"
    #expect(throws: ConfigurationError(problems: [.unsupportedProxyType(value: "reverse_http")])) {
      try RelayConfiguration(environment: environment)
    }
    #expect(ConfigurationProblem.unsupportedProxyType(value: "reverse_http").description.contains("not supported by this relay"))
  }

  @Test func permissionDeniedOnBindExplainsThePortRule() {
    let error = RelayStartError(underlying: .system(operation: "bind 0.0.0.0:80", errno: 13 /* EACCES */), port: 80)
    #expect(error.description.contains("a non-root relay needs LOCAL_PORT >= 1024"))
    let other = RelayStartError(underlying: .system(operation: "bind 0.0.0.0:8080", errno: 98 /* EADDRINUSE */), port: 8080)
    #expect(!other.description.contains("1024"))
  }

  @Test func frameHeadersAreBigEndian() {
    #expect(UDPFraming.header(length: 0x0102_0304) == [1, 2, 3, 4])
    #expect(UDPFraming.length(header: [0, 0, 0xff, 0xe3]) == 65507)
    #expect(UDPFraming.length(header: UDPFraming.header(length: 65508)) == 65508)
    #expect(UDPFraming.emptyFrame == [0, 0, 0, 0])
  }
}
