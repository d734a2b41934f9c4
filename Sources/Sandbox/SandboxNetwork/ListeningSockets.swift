import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Tells whether something listens on an address inside a namespace by reading the kernel's socket
/// table through a process in it (/proc/<pid>/net/tcp and udp show that process's namespace). No
/// packet is sent and no namespace is entered.
enum ListeningSockets {
  enum Transport: String { case tcp, udp }

  static func isListening(pid: pid_t, transport: Transport, ipv4: String, port: UInt16) -> Bool {
    guard let table = try? String(contentsOfFile: "/proc/\(pid)/net/\(transport.rawValue)", encoding: .utf8) else { return false }
    var address = in_addr()
    guard inet_pton(AF_INET, ipv4, &address) == 1 else { return false }
    // The table prints the address as the native-endian u32 of the network-order bytes.
    let wanted = String(format: "%08X:%04X", address.s_addr, port)
    let wildcard = String(format: "%08X:%04X", UInt32(0), port)
    // TCP LISTEN is state 0A; an unconnected UDP socket is 07.
    let state = transport == .tcp ? "0A" : "07"
    for line in table.split(separator: "\n").dropFirst() {
      let fields = line.split(separator: " ")
      guard fields.count > 3 else { continue }
      if (fields[1] == wanted || fields[1] == wildcard) && fields[3] == state { return true }
    }
    return false
  }

  /// Waits until `pid` listens, or it exited, or the timeout passed. True when listening.
  static func waitUntilListening(
    pid: pid_t, transport: Transport, ipv4: String, port: UInt16, timeout: Duration = .seconds(10)
  ) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
      if isListening(pid: pid, transport: transport, ipv4: ipv4, port: port) { return true }
      guard ProcessTerminator.isRunning(pid) else { return false }
      usleep(20_000)
    }
    return false
  }
}
