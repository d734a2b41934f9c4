import Foundation

/// One address the in-cluster probe dials: what the relay would dial for a target.
public struct ProbeTarget: Sendable, Equatable, Hashable {
  public var host: String
  public var port: UInt16
  public var transport: TransportProtocol

  public init(host: String, port: UInt16, transport: TransportProtocol) {
    self.host = host
    self.port = port
    self.transport = transport
  }

  public init(_ target: ProxyTarget) {
    self.init(host: target.remoteAddress, port: target.remotePort, transport: target.transport)
  }

  /// An IP literal needs no lookup.
  public var isAddress: Bool { host.contains(":") || host.split(separator: ".").allSatisfy { Int($0) != nil } }

  public var endpoint: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }
}

/// The `sh` script the doctor pod runs. It only measures: each probe's output, exit status and
/// duration go to the log as `##kftray|KIND|ID|...` lines, and `ProbeLog` + `ProbeVerdicts` judge
/// them in Swift, where the rules can be tested. Works with Debian's busybox (whose `nc` has no
/// `-u` and no `-z`) as with the busybox image: `nc -e true` ends right after the connect, and UDP
/// goes through `nslookup -port=`, which sends a datagram and reports a reply, a refusal (ICMP port
/// unreachable) or a timeout.
public struct ProbeScript: Sendable, Equatable {
  /// Queried with a trailing dot so busybox's search-path handling (NXDOMAIN for short names since
  /// 1.29) cannot get in the way.
  public static let clusterDNSName = "kubernetes.default.svc.cluster.local."
  /// The name sent in the UDP probe datagram (a DNS query: the only UDP sender busybox has everywhere).
  public static let udpProbeName = "kftray-doctor-probe."
  public static let marker = "##kftray"
  public static let version = 1

  public var targets: [ProbeTarget]
  /// Seconds a TCP connect, a DNS query or a UDP reply may take.
  public var timeoutSeconds: Int

  public init(targets: [ProbeTarget], timeoutSeconds: Int = 3) {
    self.targets = targets
    self.timeoutSeconds = timeoutSeconds
  }

  /// An upper bound of the script's running time, for the pod's deadline.
  public var budgetSeconds: Int { 10 + 2 * (timeoutSeconds + 1) + targets.count * (3 * (timeoutSeconds + 1) + 2) }

  /// The name a target's lookup asks for: FQDNs get the trailing dot, short names go through the search path.
  static func lookupName(_ host: String) -> String {
    host.contains(".") && !host.hasSuffix(".") ? host + "." : host
  }

  public var text: String {
    let t = timeoutSeconds
    var lines = [
      "# kubectl kftray doctor: in-cluster probes. Every result is a '\(Self.marker)|KIND|ID|...' line.",
      "now() { if read -r up rest </proc/uptime 2>/dev/null; then echo \"${up%.*}${up#*.}\"; else echo 0; fi; }",
      "probe() {",
      "  key=$1; shift",
      "  t0=$(now)",
      "  out=$(\"$@\" 2>&1); rc=$?",
      "  t1=$(now)",
      "  printf '%s\\n' \"$out\" | while IFS= read -r line; do printf '\(Self.marker)|%s|out|%s\\n' \"$key\" \"$line\"; done",
      "  printf '\(Self.marker)|%s|end|%s|%s\\n' \"$key\" \"$rc\" \"$((t1 - t0))\"",
      "}",
      // The first address of the last lookup (IPv4 preferred): connects then measure the network
      // alone, not the resolver a second time under nc's own -w alarm.
      "addr() { all=$(printf '%s\\n' \"$out\" | sed -n '/^Name:/,$ s/^Address[^:]*:[[:space:]]*\\([^[:space:]]*\\).*/\\1/p'); "
        + "v4=$(printf '%s\\n' \"$all\" | grep -v : | head -n 1); [ -n \"$v4\" ] && echo \"$v4\" || printf '%s\\n' \"$all\" | head -n 1; }",
      "echo '\(Self.marker)|begin|\(Self.version)'",
      "probe 'resolv|conf' cat /etc/resolv.conf",
      "probe 'dns|cluster' nslookup -timeout=\(t) -retry=3 \(Self.clusterDNSName)",
    ]
    for (index, target) in targets.enumerated() {
      var host = Self.quote(target.host)
      if !target.isAddress, let lookup = lookupIndex(of: target.host) {
        if lookup == index {
          lines.append("probe 'dns|\(index)' nslookup -timeout=\(t) -retry=3 \(Self.quote(Self.lookupName(target.host)))")
          lines.append("a\(index)=$(addr)")
        }
        // Without an address from the lookup the name goes to nc, whose libc resolver (search path
        // included) then tells whether it exists.
        host = "\"${a\(lookup):-\(target.host)}\""
        lines.append("printf '\(Self.marker)|\(target.transport.rawValue)|\(index)|via|%s\\n' \(host)")
      }
      switch target.transport {
      case .tcp:
        lines.append("probe 'tcp|\(index)' nc -w \(t) \(host) \(target.port) -e true")
      case .udp:
        lines.append("probe 'udp|\(index)' nslookup -port=\(target.port) -timeout=\(t) -retry=3 \(Self.udpProbeName) \(host)")
      }
    }
    lines.append("echo '\(Self.marker)|done'")
    return lines.joined(separator: "\n") + "\n"
  }

  /// A name is looked up once, under the index of the first target that names it.
  public func lookupIndex(of host: String) -> Int? { targets.firstIndex { $0.host == host } }

  /// Single quotes for sh. Targets are already restricted to host-name characters; this is the backstop.
  static func quote(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }
}
