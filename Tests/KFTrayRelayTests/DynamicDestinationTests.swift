import Testing

@testable import KFTrayRelay

@Suite struct DynamicDestinationTests {
  static func decode(_ bytes: [UInt8]) throws(DynamicDestination.DecodeError) -> DynamicDestination.Request {
    var offset = 0
    return try DynamicDestination.decode { count in
      guard offset + count <= bytes.count else { return nil }
      defer { offset += count }
      return Array(bytes[offset..<offset + count])
    }
  }

  @Test(arguments: [
    DynamicDestination.Request(address: .name("postgres.db.svc.cluster.local"), port: 5432),
    DynamicDestination.Request(address: .ipv4([10, 96, 0, 11]), port: 7000),
    DynamicDestination.Request(address: .ipv6([0xfd, 0] + Array(repeating: 0, count: 13) + [5]), port: 443),
  ])
  func roundTrips(_ request: DynamicDestination.Request) throws {
    #expect(try Self.decode(request.encoded()) == request)
  }

  @Test func wireBytesArePinned() {
    let bytes = DynamicDestination.Request(address: .name("web"), port: 80).encoded()
    #expect(bytes == [0x4B, 0x46, 0x54, 0x01, 1, 3, 3, 0x77, 0x65, 0x62, 0, 80])
  }

  @Test func badHeadersAreRefused() {
    #expect(throws: DynamicDestination.DecodeError.badMagic) { try Self.decode([0x47, 0x45, 0x54, 0x20, 1, 1]) }
    #expect(throws: DynamicDestination.DecodeError.unknownCommand(9)) { try Self.decode([0x4B, 0x46, 0x54, 0x01, 9, 1]) }
    #expect(throws: DynamicDestination.DecodeError.unknownAddressType(2)) { try Self.decode([0x4B, 0x46, 0x54, 0x01, 1, 2]) }
    #expect(throws: DynamicDestination.DecodeError.truncated) { try Self.decode([0x4B, 0x46, 0x54, 0x01, 1, 1, 10]) }
    #expect(throws: DynamicDestination.DecodeError.truncated) { try Self.decode([0x4B, 0x46, 0x54, 0x01, 1, 3, 0]) }
  }

  /// getaddrinfo reads a C string: a name with a NUL would be judged whole by the allow-list and
  /// resolved only up to the NUL. Names that are not UTF-8 would change on the way. Both are refused.
  @Test func namesTheResolverWouldSeeDifferentlyAreRefused() {
    let nul = Array("evil.example".utf8) + [0] + Array(".cluster.local".utf8)
    #expect(throws: DynamicDestination.DecodeError.unresolvableName) {
      try Self.decode([0x4B, 0x46, 0x54, 0x01, 1, 3, UInt8(nul.count)] + nul + [0, 80])
    }
    #expect(throws: DynamicDestination.DecodeError.unresolvableName) { try Self.decode([0x4B, 0x46, 0x54, 0x01, 1, 3, 2, 0xC3, 0x28, 0, 80]) }
    #expect(DynamicDestination.decodeAddress([3, UInt8(nul.count)] + nul[...] + [0, 53]) == nil)
    #expect(DynamicDestination.decodeAddress([3, 3, 0x77, 0x65, 0x62, 0, 53]) != nil)
  }

  @Test func allowListRules() throws {
    let allow = try AllowList(parsing: "10.96.0.0/16, *.cluster.local, db.example.com:5432, [fd00::/8]:443, 192.0.2.7:8000-8100")
    #expect(allow.allows(name: "web.default.svc.cluster.local", addresses: [], port: 80))
    #expect(allow.allows(name: "web.default.svc.cluster.local.", addresses: [], port: 80), "a trailing dot is the same name")
    #expect(allow.allows(name: "db.example.com", addresses: [], port: 5432))
    #expect(!allow.allows(name: "db.example.com", addresses: [], port: 22))
    #expect(allow.allows(name: "anything", addresses: [[10, 96, 1, 2]], port: 9), "a name resolving into an allowed network")
    #expect(!allow.allows(name: "anything", addresses: [[10, 96, 1, 2], [8, 8, 8, 8]], port: 9), "every address must be allowed")
    #expect(!allow.allows(name: nil, addresses: [[203, 0, 113, 10]], port: 5432))
    #expect(allow.allows(name: nil, addresses: [[192, 0, 2, 7]], port: 8050))
    #expect(!allow.allows(name: nil, addresses: [[192, 0, 2, 7]], port: 8101))
    #expect(allow.allows(name: nil, addresses: [[0xfd, 0x12] + Array(repeating: 0, count: 14)], port: 443))
    // An IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
    let mapped: [UInt8] = Array(repeating: 0, count: 10) + [0xff, 0xff, 8, 8, 8, 8]
    #expect(!allow.allows(name: nil, addresses: [mapped], port: 53))
    #expect(allow.allows(name: nil, addresses: [Array(repeating: 0, count: 10) + [0xff, 0xff, 10, 96, 0, 1]], port: 53))
    #expect(try AllowList(parsing: "").allows(name: "x", addresses: [], port: 1), "no rules: everything")
  }

  @Test(arguments: ["10.0.0.0/33", "bad host!", "web:0", "web:90-80", "[fd00::/8", "*.x:99999"])
  func badRulesAreRefused(_ rule: String) {
    #expect(throws: AllowList.ParseError.self) { try AllowList(parsing: rule) }
  }

  @Test func dynamicModeNeedsNoTarget() throws {
    let configuration = try RelayConfiguration(
      environment: ["PROXY_TYPE": "dynamic", "LOCAL_PORT": "8080", "ALLOW": "*.cluster.local:80"])
    #expect(configuration.proxyType == .dynamic)
    #expect(configuration.allow.rules.map(\.text) == ["*.cluster.local:80"])
    #expect(throws: ConfigurationError.self) { try RelayConfiguration(environment: ["PROXY_TYPE": "dynamic", "LOCAL_PORT": "8080", "ALLOW": "x/y"]) }
  }
}
