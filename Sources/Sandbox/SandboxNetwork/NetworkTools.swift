import Foundation

/// Where the programs the network runs are. Debian paths by default; `kftray-testserver` is found
/// in `KFTRAY_BIN_DIR` or beside the running executable (both are built into the same directory).
public struct NetworkTools: Sendable, Equatable {
  public var ip: String
  public var dnsmasq: String
  public var iperf3: String
  public var busybox: String
  public var testServer: String

  public init(ip: String, dnsmasq: String, iperf3: String, busybox: String, testServer: String) {
    self.ip = ip
    self.dnsmasq = dnsmasq
    self.iperf3 = iperf3
    self.busybox = busybox
    self.testServer = testServer
  }

  /// The Debian locations, with `testServer` at the given path.
  public static func debian(testServer: String) -> NetworkTools {
    let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/ip"
    return NetworkTools(ip: ip, dnsmasq: "/usr/sbin/dnsmasq", iperf3: "/usr/bin/iperf3", busybox: "/usr/bin/busybox", testServer: testServer)
  }

  /// The Debian locations, and `kftray-testserver` from `KFTRAY_BIN_DIR` or beside this executable.
  public static var standard: NetworkTools {
    let directory: String
    if let bin = ProcessInfo.processInfo.environment["KFTRAY_BIN_DIR"], !bin.isEmpty {
      directory = bin
    } else {
      let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
      directory = URL(fileURLWithPath: executable).deletingLastPathComponent().path
    }
    return debian(testServer: directory + "/kftray-testserver")
  }

  /// Every program with the package that provides it, the first missing one as an error.
  func verify() throws(NetworkError) {
    let required = [
      (ip, "iproute2"), (dnsmasq, "dnsmasq-base"), (iperf3, "iperf3"), (busybox, "busybox"),
      (testServer, "kubectl-kftray's kftray-testserver (swift build --product kftray-testserver)"),
    ]
    for (path, package) in required where !FileManager.default.isExecutableFile(atPath: path) {
      throw .toolMissing(path: path, debianPackage: package)
    }
  }
}
