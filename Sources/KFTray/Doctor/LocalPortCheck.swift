import PortForward

#if canImport(Glibc)
  import Glibc
#endif

/// Whether the local ports `proxy` would listen on are free: bound and released at once on
/// loopback, exactly as `proxy` binds them (no packet leaves the machine).
enum LocalPortCheck {
  static func checks(_ targets: [ProxyTarget]) -> [DoctorCheck] {
    var seen = Set<String>()
    var checks: [DoctorCheck] = []
    for target in targets {
      let port = target.localPort ?? target.remotePort
      let key = "\(port)/\(target.transport.rawValue)"
      guard seen.insert(key).inserted else { continue }
      let id = "local.port/\(key)"
      if port == 0 {
        checks.append(.skip(id, .local, "local port 0: proxy picks a free port"))
        continue
      }
      let problem: String? =
        switch target.transport {
        case .tcp: tcpProblem(port)
        case .udp: udpProblem(port)
        }
      if let problem {
        checks.append(
          .warn(
            id, .local, "local port \(port)/\(target.transport.rawValue) is not free: \(problem)",
            hint: "something already listens there (perhaps a running proxy): choose another local port, "
              + "e.g. \(port == 65535 ? 0 : port + 10000 <= 65535 ? port + 10000 : 0):\(target.remote)"))
      } else {
        checks.append(.pass(id, .local, "local port \(port)/\(target.transport.rawValue) is free on 127.0.0.1 and ::1"))
      }
    }
    return checks
  }

  static func tcpProblem(_ port: UInt16) -> String? {
    do throws(PortForwarderError) {
      _ = try LocalListeners(port: port)  // closed again when released here
      return nil
    } catch {
      return error.description
    }
  }

  /// The UDP forwarder binds 127.0.0.1 (and ::1 when it can): the IPv4 side decides.
  static func udpProblem(_ port: UInt16) -> String? {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { return "socket(): \(String(cString: strerror(errno)))" }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = port.bigEndian
    let ok = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    return ok ? nil : "cannot bind 127.0.0.1:\(port): \(String(cString: strerror(errno)))"
  }
}
