/// One name the cluster DNS answers, the address it resolves to, and what (if anything) serves it.
public struct SeededService: Sendable, Equatable {
  /// What listens behind the name.
  public enum Behavior: Sendable, Equatable {
    /// `kftray-testserver echo`.
    case tcpEcho
    /// `kftray-testserver http --name <name>`: `GET /` answers `hello from <name>`.
    case http(name: String)
    /// `kftray-testserver udp-echo`.
    case udpEcho
    /// `iperf3 -s`.
    case iperf3
    /// `kftray-testserver reset`: accepts, reads once, then resets the connection (RST).
    case tcpReset
    /// The address exists, nothing listens: a connect is refused (RST).
    case closed
    /// The address is a blackhole route in the node namespace: SYNs vanish, a connect times out.
    case firewalled
  }

  /// Where the address lives.
  public enum Placement: Sendable, Equatable {
    /// The services namespace (the cluster's Service IPs).
    case services
    /// The "external" namespace: an address outside the cluster that only the cluster can reach.
    case external
  }

  public var hostname: String
  public var ipv4: String
  public var port: UInt16
  public var behavior: Behavior
  public var placement: Placement

  public init(hostname: String, ipv4: String, port: UInt16, behavior: Behavior, placement: Placement) {
    self.hostname = hostname
    self.ipv4 = ipv4
    self.port = port
    self.behavior = behavior
    self.placement = placement
  }
}

/// The cluster's addresses. Every range is private to the namespaces; the host namespace has no
/// route to any of them (packets from the host would follow its default route, so nothing here
/// may ever be addressed from the host).
public enum ClusterAddressing {
  /// Pod addresses, on the node's bridge.
  public static let podCIDR = "10.244.0.0/24"
  public static let podGateway = "10.244.0.1"
  /// The bridge's own MAC (locally administered, the gateway's address in hex): see ClusterNetwork.buildNode.
  public static let podGatewayMAC = "02:42:0a:f4:00:01"
  static let podPrefix = "10.244.0."
  static let podHosts: ClosedRange<Int> = 2...254
  /// Service addresses, in the services namespace.
  public static let serviceCIDR = "10.96.0.0/24"
  static let serviceGateway = "10.96.0.1"
  /// The cluster DNS server (dnsmasq), as kube-dns's usual 10.96.0.10.
  public static let dnsServer = "10.96.0.10"
  /// The "external" network. TEST-NET-3 rather than TEST-NET-1 (192.0.2.0/24), which some hosts,
  /// this build machine included, use for their own uplink.
  public static let externalCIDR = "203.0.113.0/24"
  static let externalGateway = "203.0.113.1"

  /// The names `kftray-sandbox up` seeds. Every other name is NXDOMAIN.
  public static let seededServices: [SeededService] = [
    SeededService(hostname: "echo.default.svc.cluster.local", ipv4: "10.96.0.11", port: 7000, behavior: .tcpEcho, placement: .services),
    SeededService(hostname: "web.default.svc.cluster.local", ipv4: "10.96.0.12", port: 80, behavior: .http(name: "web"), placement: .services),
    SeededService(
      hostname: "internal-service.cluster.local", ipv4: "10.96.0.13", port: 80, behavior: .http(name: "internal-service"), placement: .services),
    SeededService(hostname: "udp-echo.default.svc.cluster.local", ipv4: "10.96.0.14", port: 5353, behavior: .udpEcho, placement: .services),
    SeededService(hostname: "closed.default.svc.cluster.local", ipv4: "10.96.0.15", port: 7001, behavior: .closed, placement: .services),
    SeededService(hostname: "firewalled.default.svc.cluster.local", ipv4: "10.96.0.16", port: 7002, behavior: .firewalled, placement: .services),
    SeededService(hostname: "bulk.default.svc.cluster.local", ipv4: "10.96.0.17", port: 5201, behavior: .iperf3, placement: .services),
    SeededService(hostname: "reset.default.svc.cluster.local", ipv4: "10.96.0.18", port: 7003, behavior: .tcpReset, placement: .services),
    SeededService(hostname: "database.region.rds.amazonaws.com", ipv4: "203.0.113.10", port: 5432, behavior: .tcpEcho, placement: .external),
  ]
}
