import Foundation

/// What a busybox `nslookup` printed, read by its text: its exit status says little (busybox exits
/// 0 with "Can't find ... No answer" for a missing AAAA record).
public enum LookupOutcome: Sendable, Equatable {
  case resolved([String])
  case notFound
  case serverUnreachable
  case failed(String)

  public init(_ record: ProbeRecord) {
    var addresses: [String] = []
    var seenName = false
    for line in record.output {
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      if trimmed.hasPrefix("Name:") { seenName = true }
      // Before the first "Name:" an "Address:" line is the DNS server's.
      guard seenName, trimmed.hasPrefix("Address") , let colon = trimmed.firstIndex(of: ":") else { continue }
      let value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
      // busybox 1.28 wrote "Address 1: 10.0.0.1 name".
      if let first = value.split(separator: " ").first, !addresses.contains(String(first)) { addresses.append(String(first)) }
    }
    let text = record.text
    if !addresses.isEmpty {
      self = .resolved(addresses)
    } else if text.contains("NXDOMAIN") || text.contains("can't find") || text.contains("Can't find") {
      self = .notFound
    } else if text.contains("timed out") || text.contains("no servers could be reached") {
      self = .serverUnreachable
    } else {
      self = .failed(ProbeVerdicts.oneLine(text, fallback: "exit status \(record.exitCode.map(String.init) ?? "unknown")"))
    }
  }
}

/// How a connection attempt from the pod ended.
public enum ConnectOutcome: String, Sendable, Equatable, Codable {
  case open, refused, timeout
  case noRoute = "no route"
  case dnsFailure = "DNS failure"
  case error

  /// busybox `nc -w T HOST PORT -e true`: exit 0 once connected; otherwise the error text names the
  /// cause, and a connect that ran into the `-w` limit is a timeout whatever it printed.
  public init(tcp record: ProbeRecord, timeoutSeconds: Int) {
    let text = record.text
    if record.exitCode == 0 {
      self = .open
    } else if text.contains("bad address") || text.contains("Name or service not known") {
      self = .dnsFailure
    } else if text.contains("Connection refused") {
      self = .refused
    } else if text.contains("No route to host") || text.contains("Network is unreachable") || text.contains("Host is unreachable") {
      self = .noRoute
    } else if text.contains("timed out") || (record.elapsedCentiseconds ?? 0) >= timeoutSeconds * 100 - 20 {
      self = .timeout
    } else {
      self = .error
    }
  }
}

/// How the UDP probe (a datagram through `nslookup -port=`) ended.
public enum DatagramOutcome: String, Sendable, Equatable {
  case reply
  case noReply = "no reply"
  case refused
  case dnsFailure = "DNS failure"

  public init(_ record: ProbeRecord) {
    let text = record.text
    if text.contains("bad address") || text.contains("can't resolve") {
      self = .dnsFailure
    } else if text.contains("Connection refused") {
      self = .refused
    } else if text.contains("timed out") || text.contains("no servers could be reached") || record.output.isEmpty {
      self = .noReply
    } else {
      // Anything nslookup could print after receiving a datagram, even an answer it cannot parse.
      self = .reply
    }
  }
}

/// Turns the probe log into checks, with the hints the product's users know from troubleshooting.
public struct ProbeVerdicts: Sendable {
  public var script: ProbeScript
  public var log: ProbeLog
  public var namespace: String
  /// The result of a check whose probe has no record (the pod did not run, or stopped early).
  public var notMeasured: String

  public init(
    script: ProbeScript, log: ProbeLog, namespace: String, notMeasured: String = "not measured: the probe script did not get this far"
  ) {
    self.script = script
    self.log = log
    self.namespace = namespace
    self.notMeasured = notMeasured
  }

  static let hostNotFoundHint =
    "host not found: the name does not resolve from the cluster. Check the spelling; a Service needs its namespace "
    + "(NAME.NAMESPACE.svc.cluster.local); a private DNS zone must be attached to the cluster's network (VPC)."

  public var checks: [DoctorCheck] {
    var checks = [resolvConf, clusterDNS]
    for (index, target) in script.targets.enumerated() {
      checks += targetChecks(index: index, target: target)
    }
    if log.began && !log.completed {
      checks.append(
        .fail(
          "network.script", .network, "the probe script stopped before its end (deadline or eviction)",
          hint: "run again with a longer --timeout budget, or check the node (kubectl describe pod)",
          detail: log.stray.isEmpty ? nil : log.stray.joined(separator: "\n")))
    }
    return checks
  }

  var resolvConf: DoctorCheck {
    let id = "network.resolv-conf"
    guard let record = log["resolv", "conf"], record.finished else {
      return .skip(id, .network, notMeasured)
    }
    let lines = record.output.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
    func values(_ key: String) -> [String] {
      lines.filter { $0.hasPrefix(key + " ") || $0.hasPrefix(key + "\t") }
        .flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().map(String.init) }
    }
    let nameservers = values("nameserver")
    let search = values("search")
    let options = values("options")
    let detail = record.output.joined(separator: "\n")
    guard record.exitCode == 0, !nameservers.isEmpty else {
      return .fail(
        id, .network, "the pod has no nameserver in /etc/resolv.conf",
        hint: "pods here get no cluster DNS: check the kubelet's clusterDNS setting and the pod's dnsPolicy", detail: detail)
    }
    var summary = "nameserver \(nameservers.joined(separator: ", "))"
    if !search.isEmpty { summary += "; search \(search.joined(separator: " "))" }
    if !options.isEmpty { summary += "; options \(options.joined(separator: " "))" }
    return .pass(id, .network, summary, detail: detail)
  }

  var clusterDNS: DoctorCheck {
    let id = "network.cluster-dns"
    let name = ProbeScript.clusterDNSName
    guard let record = log["dns", "cluster"], record.finished else {
      return .skip(id, .network, notMeasured)
    }
    switch LookupOutcome(record) {
    case .resolved(let addresses):
      return .pass(id, .network, "\(name) resolves to \(addresses.joined(separator: ", "))")
    case .notFound:
      // The server answered, so DNS works; only this record is missing.
      return .warn(
        id, .network, "the cluster DNS answers, but not for \(name) (NXDOMAIN)",
        hint: "the cluster domain may not be cluster.local (see the search line of resolv.conf), or CoreDNS is misconfigured: "
          + "check its Corefile (kubectl -n kube-system get configmap coredns -o yaml)")
    case .serverUnreachable:
      return .fail(
        id, .network, "the cluster DNS server does not answer",
        hint: "check the DNS pods (kubectl -n kube-system get pods -l k8s-app=kube-dns) and that no NetworkPolicy in "
          + "\(namespace) blocks egress to port 53 (UDP and TCP)")
    case .failed(let text):
      return .fail(id, .network, "lookup of \(name) failed: \(text)", hint: "check the DNS pods (kubectl -n kube-system get pods -l k8s-app=kube-dns)")
    }
  }

  func targetChecks(index: Int, target: ProbeTarget) -> [DoctorCheck] {
    var checks: [DoctorCheck] = []
    let proto = target.transport.rawValue
    let connect = log[proto, String(index)]
    // nc and nslookup -port resolve through libc (search path included): a name they found exists
    // even when busybox's nslookup, which skips the search path, says otherwise.
    let connectResolved: Bool? = connect.flatMap { record in
      guard record.finished else { return nil }
      return target.transport == .tcp
        ? ConnectOutcome(tcp: record, timeoutSeconds: script.timeoutSeconds) != .dnsFailure
        : DatagramOutcome(record) != .dnsFailure
    }
    if !target.isAddress && script.lookupIndex(of: target.host) == index {
      let id = "network.dns/\(target.host)"
      if let record = log["dns", String(index)], record.finished {
        switch LookupOutcome(record) {
        case .resolved(let addresses):
          checks.append(.pass(id, .network, "\(target.host) resolves to \(addresses.joined(separator: ", "))"))
        case .notFound where connectResolved == true:
          checks.append(
            .pass(id, .network, "\(target.host) resolves through the search path (nslookup without it found nothing)"))
        case .notFound:
          checks.append(.fail(id, .network, "host not found: \(target.host) does not resolve from the cluster (NXDOMAIN)", hint: Self.hostNotFoundHint))
        case .serverUnreachable:
          checks.append(
            .fail(
              id, .network, "no DNS answer for \(target.host): the DNS server timed out",
              hint: "the cluster DNS (or the upstream server it forwards to) does not answer: check the DNS pods and NetworkPolicies on port 53"))
        case .failed(let text):
          checks.append(.fail(id, .network, "lookup of \(target.host) failed: \(text)", hint: Self.hostNotFoundHint))
        }
      } else {
        checks.append(.skip(id, .network, notMeasured))
      }
    }
    let id = "network.\(proto)/\(target.endpoint)"
    guard let connect, connect.finished else {
      checks.append(.skip(id, .network, notMeasured))
      return checks
    }
    let seconds = connect.elapsedCentiseconds.map { String(format: " in %.2fs", Double($0) / 100) } ?? ""
    let via = connect.via.flatMap { $0.isEmpty || $0 == target.host ? nil : $0 }.map { "\($0), " } ?? ""
    switch target.transport {
    case .tcp:
      let outcome = ConnectOutcome(tcp: connect, timeoutSeconds: script.timeoutSeconds)
      let head = "\(target.endpoint): \(outcome.rawValue)"
      switch outcome {
      case .open:
        checks.append(.pass(id, .network, "\(head) (\(via)connected\(seconds))"))
      case .refused:
        checks.append(
          .fail(
            id, .network, "\(head) (\(via)connection refused\(seconds))",
            hint: "connection refused: nothing listens on \(target.endpoint), or a security group or firewall rejects it. "
              + "Check the port and that the service runs (for a Service: kubectl get endpoints)."))
      case .timeout:
        checks.append(
          .fail(
            id, .network, "\(head) (\(via)no answer within \(script.timeoutSeconds)s)",
            hint: "timeout: a firewall, security group or NetworkPolicy drops the traffic. Check NetworkPolicies "
              + "(kubectl get networkpolicy -n \(namespace)) and that the target allows inbound traffic from the cluster's pods and nodes."))
      case .noRoute:
        checks.append(
          .fail(
            id, .network, "\(head) (\(Self.oneLine(connect.text, fallback: "unreachable")))",
            hint: "no route: the cluster's network has no path to that address. Check peering, VPN or route tables between the cluster and the target."))
      case .dnsFailure:
        checks.append(.fail(id, .network, "\(head) (host not found)", hint: Self.hostNotFoundHint))
      case .error:
        checks.append(
          .fail(
            id, .network, "\(target.endpoint): \(Self.oneLine(connect.text, fallback: "exit status \(connect.exitCode ?? -1)"))",
            hint: "the connection failed in an unexpected way: run the probe by hand (kubectl run -it --rm --image=busybox:1.36.1 probe -- nc -w 3 \(target.host) \(target.port))"))
      }
    case .udp:
      let outcome = DatagramOutcome(connect)
      let head = "\(target.endpoint)/udp: \(outcome.rawValue)"
      switch outcome {
      case .reply:
        checks.append(.pass(id, .network, "\(head) (\(via)the probe datagram was answered\(seconds))"))
      case .noReply:
        checks.append(
          .warn(
            id, .network, "\(head) (\(via)within \(script.timeoutSeconds)s)",
            hint: "UDP has no handshake: a service that ignores the probe (a DNS query) looks like a firewall that drops it. "
              + "If the service should answer, check NetworkPolicies and the target's inbound rules for UDP \(target.port)."))
      case .refused:
        checks.append(
          .fail(
            id, .network, "\(head) (ICMP port unreachable)",
            hint: "nothing listens on UDP \(target.endpoint) (the host answered ICMP port unreachable), or a firewall rejects it"))
      case .dnsFailure:
        checks.append(.fail(id, .network, "\(head) (host not found)", hint: Self.hostNotFoundHint))
      }
    }
    return checks
  }

  /// The last meaningful line of a command's output, for a one-line result.
  static func oneLine(_ text: String, fallback: String) -> String {
    let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    return lines.last.map { $0.hasPrefix("nc: ") ? String($0.dropFirst(4)) : $0 } ?? fallback
  }
}
