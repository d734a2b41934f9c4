import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// An IP address with Go's `net.IP` comparisons: an IPv4 address and its IPv4-mapped IPv6 form are
/// the same address, and an IPv4 CIDR only contains IPv4 addresses.
public struct IPAddress: Sendable, Equatable {
  /// Always 16 bytes (IPv4 stored IPv4-mapped, as Go does).
  public let bytes: [UInt8]

  public init?(_ text: String) {
    var v4 = in_addr()
    if inet_pton(AF_INET, text, &v4) == 1 {
      let b = withUnsafeBytes(of: &v4) { Array($0) }
      bytes = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] + b
      return
    }
    var v6 = in6_addr()
    if inet_pton(AF_INET6, text, &v6) == 1 {
      bytes = withUnsafeBytes(of: &v6) { Array($0) }
      return
    }
    return nil
  }

  /// The 4-byte form when this is an IPv4 (or IPv4-mapped) address: Go's `To4`.
  var ipv4: [UInt8]? {
    bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff ? Array(bytes[12...]) : nil
  }

  public var isLoopback: Bool {
    if let v4 = ipv4 { return v4[0] == 127 }
    return bytes == [UInt8](repeating: 0, count: 15) + [1]
  }
}

/// `a.b.c.d/n` or `x::/n`, with Go's `IPNet.Contains` rule that the families must match.
struct IPNetwork: Sendable, Equatable {
  let base: [UInt8]
  let prefix: Int

  init?(_ text: String) {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, let ip = IPAddress(String(parts[0])), let bits = Int(parts[1]), !parts[1].hasPrefix("+")
    else { return nil }
    // Go's ParseCIDR keeps the family of the text: "1.2.3.4/8" is IPv4 even though we store it mapped.
    if !parts[0].contains(":"), let v4 = ip.ipv4 {
      guard (0...32).contains(bits) else { return nil }
      base = v4
    } else {
      guard (0...128).contains(bits) else { return nil }
      base = ip.bytes
    }
    prefix = bits
  }

  func contains(_ ip: IPAddress) -> Bool {
    let candidate: [UInt8]
    if let v4 = ip.ipv4 { candidate = v4 } else { candidate = ip.bytes }
    guard candidate.count == base.count else { return false }
    var remaining = prefix
    for i in 0..<base.count where remaining > 0 {
      let bits = min(8, remaining)
      let mask = UInt8(truncatingIfNeeded: 0xff << (8 - bits))
      if candidate[i] & mask != base[i] & mask { return false }
      remaining -= bits
    }
    return true
  }
}
