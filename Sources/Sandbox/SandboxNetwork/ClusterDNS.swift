/// The cluster DNS server's configuration (dnsmasq) and the files pods see as /etc/resolv.conf and
/// /etc/hosts.
enum ClusterDNS {
  /// dnsmasq answers only the seeded names and never forwards: no upstream `server=`, no
  /// resolv.conf (`no-resolv`), no /etc/hosts of the host (`no-hosts`), and `local=/#/` marks every
  /// domain as local, so an unknown name is NXDOMAIN from here rather than "no servers" (REFUSED).
  /// `host-record` answers the exact name only (`address=` would also answer every subdomain).
  /// `log-queries` shows each answer's source ("config ... is"), never "forwarded".
  static func dnsmasqConfiguration(services: [SeededService], logPath: String) -> String {
    var lines = [
      "# kftray sandbox cluster DNS: seeded names only, never forwards.",
      "no-resolv",
      "no-hosts",
      "no-poll",
      "keep-in-foreground",
      "pid-file=",
      "listen-address=\(ClusterAddressing.dnsServer)",
      "bind-interfaces",
      "except-interface=lo",
      "local=/#/",
      "log-queries",
      "log-facility=\(logPath)",
    ]
    lines += services.map { "host-record=\($0.hostname),\($0.ipv4)" }
    return lines.joined(separator: "\n") + "\n"
  }

  /// A pod's resolv.conf, as the kubelet writes it for ClusterFirst pods.
  static func resolvConf(namespace: String) -> String {
    """
    nameserver \(ClusterAddressing.dnsServer)
    search \(namespace).svc.cluster.local svc.cluster.local cluster.local
    options ndots:5

    """
  }

  /// A pod's /etc/hosts, as the kubelet writes it.
  static func hosts(ipv4: String, podName: String) -> String {
    """
    # Kubernetes-managed hosts file.
    127.0.0.1\tlocalhost
    ::1\tlocalhost ip6-localhost ip6-loopback
    fe00::0\tip6-localnet
    fe00::0\tip6-mcastprefix
    fe00::1\tip6-allnodes
    fe00::2\tip6-allrouters
    \(ipv4)\t\(podName)

    """
  }
}
