import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// What the real node needs from the machine, checked by `up` before it starts anything, so the user
/// reads one plain sentence instead of a server log.
public enum ClusterRequirements {
  /// Why a cluster sandbox cannot run here, or nil when it can.
  public static func problem() -> String? {
    #if !os(Linux)
      return "the sandbox cluster needs Linux (network namespaces, veth, bridge); use --api-only for the API server alone"
    #else
      if geteuid() != 0 {
        return "the sandbox cluster needs root to create network namespaces and links; run it as root (e.g. sudo), "
          + "or use --api-only for the API server alone"
      }
      let programs = [
        ("/usr/sbin/ip", "iproute2"), ("/usr/sbin/dnsmasq", "dnsmasq-base"), ("/usr/bin/busybox", "busybox"),
        ("/usr/bin/iperf3", "iperf3"), ("/usr/bin/setpriv", "util-linux"),
      ]
      for (path, package) in programs where !FileManager.default.isExecutableFile(atPath: path) {
        return "\(path) is missing; install the Debian package \(package) (scripts/install-deps.sh installs it)"
      }
      return nil
    #endif
  }
}
