/// The dynamic mode's wire contract (`PROXY_TYPE=dynamic`, our relay only): every connection starts
/// with a header naming its destination, the relay answers with one status byte, then bytes flow as
/// in tcp mode. The status bytes are SOCKS5's reply codes (RFC 1928 §6), so a SOCKS front end passes
/// them on unchanged.
///
/// Request: `K F T 0x01` (magic and version), command (1 = connect, 3 = UDP associate), address
/// type (1 = IPv4, 3 = domain name, 4 = IPv6), the address (4 bytes, a length byte and the name, or
/// 16 bytes), the port (2 bytes, big-endian). Reply: one byte.
///
/// After a UDP associate (whose address is ignored) the stream carries datagrams both ways, each
/// `[length: UInt32 BE][address type, address, port][payload]` with the length covering the rest:
/// towards the relay the address is the destination, back from it the datagram's source.
public enum DynamicDestination {
  public static let magic: [UInt8] = [0x4B, 0x46, 0x54, 0x01]

  public enum Command: UInt8, Sendable { case connect = 1, udpAssociate = 3 }

  public enum Address: Sendable, Equatable, CustomStringConvertible {
    case ipv4([UInt8])
    case ipv6([UInt8])
    case name(String)

    public var description: String {
      switch self {
      case .ipv4(let b): return b.map(String.init).joined(separator: ".")
      case .ipv6(let b):
        return "[" + stride(from: 0, to: 16, by: 2).map { String(UInt16(b[$0]) << 8 | UInt16(b[$0 + 1]), radix: 16) }
          .joined(separator: ":") + "]"
      case .name(let n): return n
      }
    }

    /// The host as a resolver takes it (IPv6 without brackets).
    public var host: String {
      if case .ipv6 = self { return String(description.dropFirst().dropLast()) }
      return description
    }
  }

  public struct Request: Sendable, Equatable {
    public var command: Command
    public var address: Address
    public var port: UInt16

    public init(command: Command = .connect, address: Address, port: UInt16) {
      self.command = command
      self.address = address
      self.port = port
    }

    public func encoded() -> [UInt8] {
      DynamicDestination.magic + [command.rawValue] + DynamicDestination.encode(address, port: port)
    }
  }

  /// Address type, address and port, as in SOCKS5.
  public static func encode(_ address: Address, port: UInt16) -> [UInt8] {
    var bytes: [UInt8]
    switch address {
    case .ipv4(let b): bytes = [1] + b
    case .name(let n): bytes = [3, UInt8(min(255, n.utf8.count))] + Array(n.utf8.prefix(255))
    case .ipv6(let b): bytes = [4] + b
    }
    return bytes + [UInt8(port >> 8), UInt8(port & 0xff)]
  }

  /// Parses address type, address and port at the start of `bytes`; returns them and what follows.
  public static func decodeAddress(_ bytes: ArraySlice<UInt8>) -> (Address, UInt16, ArraySlice<UInt8>)? {
    guard let type = bytes.first else { return nil }
    var rest = bytes.dropFirst()
    let address: Address
    switch type {
    case 1:
      guard rest.count >= 4 else { return nil }
      address = .ipv4(Array(rest.prefix(4)))
      rest = rest.dropFirst(4)
    case 4:
      guard rest.count >= 16 else { return nil }
      address = .ipv6(Array(rest.prefix(16)))
      rest = rest.dropFirst(16)
    case 3:
      guard let length = rest.first, rest.count >= 1 + Int(length), isResolvableName(rest.dropFirst().prefix(Int(length))) else {
        return nil
      }
      address = .name(String(decoding: rest.dropFirst().prefix(Int(length)), as: UTF8.self))
      rest = rest.dropFirst(1 + Int(length))
    default:
      return nil
    }
    guard rest.count >= 2 else { return nil }
    let port = UInt16(rest[rest.startIndex]) << 8 | UInt16(rest[rest.startIndex + 1])
    return (address, port, rest.dropFirst(2))
  }

  /// One datagram on an associate stream.
  public static func datagramFrame(_ address: Address, port: UInt16, payload: some Collection<UInt8>) -> [UInt8] {
    let body = encode(address, port: port) + payload
    return UDPFraming.header(length: body.count) + body
  }

  /// SOCKS5 reply codes (RFC 1928 §6).
  public enum Reply: UInt8, Sendable, Equatable {
    case succeeded = 0
    case generalFailure = 1
    case notAllowed = 2
    case networkUnreachable = 3
    case hostUnreachable = 4
    case connectionRefused = 5
    case ttlExpired = 6
    case commandNotSupported = 7
    case addressTypeNotSupported = 8

    public var description: String {
      switch self {
      case .succeeded: return "connected"
      case .generalFailure: return "general failure"
      case .notAllowed: return "not allowed by the allow-list"
      case .networkUnreachable: return "network unreachable"
      case .hostUnreachable: return "host unreachable (the name does not resolve in the cluster)"
      case .connectionRefused: return "connection refused"
      case .ttlExpired: return "timed out"
      case .commandNotSupported: return "command not supported"
      case .addressTypeNotSupported: return "address type not supported"
      }
    }
  }

  public enum DecodeError: Error, Sendable, Equatable {
    case badMagic, unknownCommand(UInt8), unknownAddressType(UInt8), truncated
    /// A name the resolver would not see as the allow-list does (see `isResolvableName`).
    case unresolvableName
  }

  /// Whether a destination name can be passed to the resolver as it is. The allow-list judges the whole
  /// name but getaddrinfo reads a C string, so a NUL would let `evil.example\0.cluster.local` pass a
  /// `*.cluster.local` rule and resolve `evil.example`; bytes that are not UTF-8 would be replaced on
  /// the way (and a 255-byte name grow past what the header can carry). Such names, empty ones and
  /// ones longer than the header's 255 bytes (which `encode` would cut) are refused.
  public static func isResolvableName(_ bytes: some Collection<UInt8>) -> Bool {
    !bytes.isEmpty && bytes.count <= 255 && !bytes.contains(0) && String(validating: bytes, as: UTF8.self) != nil
  }

  /// Reads a request through `read` (which returns exactly the bytes asked for, or nil at the end).
  public static func decode(_ read: (Int) -> [UInt8]?) throws(DecodeError) -> Request {
    guard let head = read(6) else { throw .truncated }
    guard Array(head[0..<4]) == magic else { throw .badMagic }
    guard let command = Command(rawValue: head[4]) else { throw .unknownCommand(head[4]) }
    let address: Address
    switch head[5] {
    case 1:
      guard let b = read(4) else { throw .truncated }
      address = .ipv4(b)
    case 4:
      guard let b = read(16) else { throw .truncated }
      address = .ipv6(b)
    case 3:
      guard let length = read(1), let name = read(Int(length[0])), !name.isEmpty else { throw .truncated }
      guard isResolvableName(name) else { throw .unresolvableName }
      address = .name(String(decoding: name, as: UTF8.self))
    default:
      throw .unknownAddressType(head[5])
    }
    guard let port = read(2) else { throw .truncated }
    return Request(command: command, address: address, port: UInt16(port[0]) << 8 | UInt16(port[1]))
  }
}

/// Which destinations the dynamic mode may reach: `--allow` on the plugin, `ALLOW` in the relay's
/// environment (comma-separated), so a hand-made client cannot get around it. A rule is a CIDR
/// (`10.0.0.0/8`, `fd00::/8`), a host name, or `*.suffix`, optionally followed by `:PORT` or
/// `:LOW-HIGH` (IPv6 CIDRs in brackets then: `[fd00::/8]:443`). No rules: everything is allowed.
public struct AllowList: Sendable, Equatable, CustomStringConvertible {
  public struct Rule: Sendable, Equatable {
    public enum Scope: Sendable, Equatable {
      case network(bytes: [UInt8], prefix: Int)
      case host(String)
      case suffix(String)
    }
    public var scope: Scope
    public var ports: ClosedRange<UInt16>
    public var text: String
  }

  public var rules: [Rule]
  public var allowsEverything: Bool { rules.isEmpty }
  public var description: String { rules.isEmpty ? "everything" : rules.map(\.text).joined(separator: ",") }

  public init(rules: [Rule] = []) { self.rules = rules }

  public enum ParseError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalid(String, String)
    public var description: String {
      guard case .invalid(let rule, let why) = self else { return "" }
      return "invalid allow rule \"\(rule)\": \(why) (use a CIDR, a host name or *.suffix, optionally :PORT or :LOW-HIGH)"
    }
  }

  /// Parses comma-separated rules.
  public init(parsing text: String) throws(ParseError) {
    var rules: [Rule] = []
    for raw in text.split(separator: ",") {
      let item = raw.trimmingWhitespace()
      if item.isEmpty { continue }
      rules.append(try Self.rule(item))
    }
    self.init(rules: rules)
  }

  static func rule(_ text: String) throws(ParseError) -> Rule {
    var scopeText = Substring(text)
    var ports: ClosedRange<UInt16> = 1...65535
    // A port suffix: after "]" for bracketed IPv6, else after the last ":" when there is exactly one.
    if text.hasPrefix("[") {
      guard let close = text.firstIndex(of: "]") else { throw .invalid(text, "no closing bracket") }
      scopeText = text[text.index(after: text.startIndex)..<close]
      let rest = text[text.index(after: close)...]
      if rest.hasPrefix(":") { ports = try Self.ports(rest.dropFirst(), rule: text) } else if !rest.isEmpty {
        throw .invalid(text, "unexpected text after the bracket")
      }
    } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
      scopeText = text[..<colon]
      ports = try Self.ports(text[text.index(after: colon)...], rule: text)
    }
    let scope: Rule.Scope
    if let slash = scopeText.firstIndex(of: "/") {
      guard let bytes = IPBytes.parse(String(scopeText[..<slash])), let prefix = Int(scopeText[scopeText.index(after: slash)...]),
        prefix >= 0, prefix <= bytes.count * 8
      else { throw .invalid(text, "not a CIDR") }
      scope = .network(bytes: bytes, prefix: prefix)
    } else if let bytes = IPBytes.parse(String(scopeText)) {
      scope = .network(bytes: bytes, prefix: bytes.count * 8)
    } else if scopeText.hasPrefix("*.") {
      scope = .suffix(String(scopeText.dropFirst(1)).lowercased())
    } else if !scopeText.isEmpty, scopeText.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_" }) {
      scope = .host(scopeText.lowercased())
    } else {
      throw .invalid(text, "not a CIDR, host name or *.suffix")
    }
    return Rule(scope: scope, ports: ports, text: text)
  }

  static func ports(_ text: Substring, rule: String) throws(ParseError) -> ClosedRange<UInt16> {
    let parts = text.split(separator: "-", omittingEmptySubsequences: false)
    guard parts.count <= 2, let low = UInt16(parts[0]), low > 0, let high = parts.count == 2 ? UInt16(parts[1]) : low,
      high >= low
    else { throw .invalid(rule, "bad port or port range") }
    return low...high
  }

  /// Whether a destination given by name may be reached before resolving it (host and suffix rules).
  public func allowsName(_ name: String, port: UInt16) -> Bool {
    let name = name.lowercased().hasSuffix(".") ? String(name.lowercased().dropLast()) : name.lowercased()
    return rules.contains { rule in
      guard rule.ports.contains(port) else { return false }
      switch rule.scope {
      case .host(let host): return host == name
      case .suffix(let suffix): return name.hasSuffix(suffix)
      case .network: return false
      }
    }
  }

  /// Whether an address may be reached (network rules). IPv4-mapped IPv6 addresses count as IPv4.
  public func allowsAddress(_ bytes: [UInt8], port: UInt16) -> Bool {
    let address = IPBytes.unmapped(bytes)
    return rules.contains { rule in
      guard rule.ports.contains(port), case .network(let network, let prefix) = rule.scope, network.count == address.count
      else { return false }
      var remaining = prefix
      for i in 0..<network.count where remaining > 0 {
        let bits = min(8, remaining)
        let mask = UInt8(truncatingIfNeeded: 0xff << (8 - bits))
        if network[i] & mask != address[i] & mask { return false }
        remaining -= bits
      }
      return true
    }
  }

  /// A name is allowed by a host rule, or when every address it resolves to is allowed; an address
  /// literal only by network rules.
  public func allows(name: String?, addresses: [[UInt8]], port: UInt16) -> Bool {
    if allowsEverything { return true }
    if let name, allowsName(name, port: port) { return true }
    return !addresses.isEmpty && addresses.allSatisfy { allowsAddress($0, port: port) }
  }
}

/// IP literals as bytes, without Foundation.
enum IPBytes {
  static func parse(_ text: String) -> [UInt8]? {
    var v4 = in_addr()
    if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
    var v6 = in6_addr()
    if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
    return nil
  }

  /// `::ffff:a.b.c.d` as the four IPv4 bytes, so an IPv4 rule cannot be dodged with the mapped form.
  static func unmapped(_ bytes: [UInt8]) -> [UInt8] {
    if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
      return Array(bytes[12...])
    }
    return bytes
  }
}

extension Substring {
  func trimmingWhitespace() -> String {
    String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
  }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
