import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Runs programs inside a pod's network namespace (`ip netns exec`, which also gives them the
/// pod's resolv.conf and hosts), bounded by busybox `timeout` so a broken network fails a test
/// instead of hanging it. Every packet these commands send starts inside the cluster network.
struct PodShell {
  static let ip = "/usr/sbin/ip"
  static let busybox = "/usr/bin/busybox"
  let netns: String

  func run(_ arguments: [String], seconds: Int = 20) throws -> Binaries.Result {
    try Binaries.run(Self.ip, ["netns", "exec", netns, Self.busybox, "timeout", String(seconds)] + arguments)
  }

  /// busybox applet, e.g. `busybox("nslookup", "web")`.
  func busybox(_ arguments: String...) throws -> Binaries.Result {
    try run([Self.busybox] + arguments)
  }

  /// A shell pipeline inside the pod (for feeding stdin to nc).
  func shell(_ script: String) throws -> Binaries.Result {
    try run([Self.busybox, "sh", "-c", script])
  }

  /// Sends `payload` to host:port with busybox nc and returns what came back before the server
  /// closed (the echo server closes after the client's end of stream).
  func tcpRoundTrip(host: String, port: UInt16, payload: String) throws -> Binaries.Result {
    try shell("printf '%s' '\(payload)' | \(Self.busybox) nc \(host) \(port)")
  }
}

/// The host namespace's view, read from the routing table and resolver files only: nothing here
/// sends a packet.
enum HostView {
  /// `ip route get <address>` in the host namespace.
  static func routeGet(_ address: String) throws -> Binaries.Result {
    try Binaries.run(PodShell.ip, ["route", "get", address])
  }

  /// The host's default route as `via <gateway> dev <device>` (or `dev <device>`), if it has one.
  static func defaultRoute() throws -> String? {
    let out = try Binaries.run(PodShell.ip, ["-4", "route", "show", "default"]).stdout
    guard let line = out.split(separator: "\n").first else { return nil }
    let words = line.split(separator: " ").map(String.init)
    var parts: [String] = []
    if let via = words.firstIndex(of: "via"), via + 1 < words.count { parts += ["via", words[via + 1]] }
    if let dev = words.firstIndex(of: "dev"), dev + 1 < words.count { parts += ["dev", words[dev + 1]] }
    return parts.joined(separator: " ")
  }

  /// Names of the host namespace's links.
  static func links() throws -> Set<String> {
    let out = try Binaries.run(PodShell.ip, ["-o", "link", "show"]).stdout
    return Set(out.split(separator: "\n").compactMap { line in
      let fields = line.split(separator: ":", maxSplits: 2)
      guard fields.count >= 2 else { return nil }
      return fields[1].trimmingCharacters(in: .whitespaces).split(separator: "@").first.map(String.init)
    })
  }

  static func namespaces(prefix: String) throws -> [String] {
    let out = try Binaries.run(PodShell.ip, ["netns", "list"]).stdout
    return out.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }.filter { $0.hasPrefix(prefix) }
  }

  static func pids(inNamespace name: String) throws -> [pid_t] {
    try Binaries.run(PodShell.ip, ["netns", "pids", name]).stdout.split(whereSeparator: \.isWhitespace).compactMap { pid_t($0) }
  }

  /// The inode that identifies a named network namespace (what /proc/<pid>/ns/net points to).
  static func namespaceInode(_ name: String) -> UInt64? {
    var info = stat()
    guard stat("/run/netns/\(name)", &info) == 0 else { return nil }
    return UInt64(info.st_ino)
  }

  /// Every live process whose network namespace is one of `inodes`, named or not.
  static func processes(inNamespaces inodes: [UInt64]) -> [pid_t] {
    let wanted = Set(inodes.map { "net:[\($0)]" })
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(pid_t.init).filter { pid in
      guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net") else { return false }
      return wanted.contains(link) && isAlive(pid)
    }
  }

  /// True while the process exists and is not a zombie.
  static func isAlive(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { return false }
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
    return state != "Z" && state != "X"
  }
}

/// A UDP exchange from inside a namespace. busybox's nc in Debian has no UDP mode, so the test
/// opens the socket itself: a fresh thread enters the namespace with setns(2) and creates the
/// socket there (a socket stays in the namespace it was created in), then sends and receives.
/// setns is looked up with dlsym because Glibc's Swift module hides the _GNU_SOURCE declarations.
enum NamespacedUDP {
  struct Failure: Error, CustomStringConvertible { var description: String }

  static func roundTrip(netnsPath: String, host: String, port: UInt16, payload: [UInt8]) async throws -> [UInt8] {
    let result: Result<[UInt8], Failure> = await withCheckedContinuation { continuation in
      Thread.detachNewThread {
        continuation.resume(returning: exchange(netnsPath: netnsPath, host: host, port: port, payload: payload))
      }
    }
    return try result.get()
  }

  private static func exchange(netnsPath: String, host: String, port: UInt16, payload: [UInt8]) -> Result<[UInt8], Failure> {
    typealias SetNS = @convention(c) (Int32, Int32) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "setns") else { return .failure(Failure(description: "no setns")) }
    let setns = unsafeBitCast(symbol, to: SetNS.self)
    let nsFD = open(netnsPath, O_RDONLY | O_CLOEXEC)
    guard nsFD >= 0 else { return .failure(Failure(description: "open \(netnsPath): \(String(cString: strerror(errno)))")) }
    defer { close(nsFD) }
    let cloneNewNet: Int32 = 0x4000_0000
    guard setns(nsFD, cloneNewNet) == 0 else { return .failure(Failure(description: "setns: \(String(cString: strerror(errno)))")) }
    // This thread now lives in the pod's namespace and ends with this function.
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return .failure(Failure(description: "socket: \(String(cString: strerror(errno)))")) }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return .failure(Failure(description: "bad address \(host)")) }
    let sent = payload.withUnsafeBytes { bytes in
      withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
      }
    }
    guard sent == payload.count else { return .failure(Failure(description: "sendto: \(String(cString: strerror(errno)))")) }
    var buffer = [UInt8](repeating: 0, count: 65536)
    let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    guard received >= 0 else { return .failure(Failure(description: "recv: \(String(cString: strerror(errno)))")) }
    return .success(Array(buffer[0..<received]))
  }
}

/// A network id no other test (or earlier run) uses.
func uniqueNetworkID(_ prefix: String) -> String {
  prefix + String(UInt32.random(in: 0...UInt32.max), radix: 36)
}

/// The tests build real namespaces: root on Linux only.
let canBuildNamespaces: Bool = {
  #if os(Linux)
    return geteuid() == 0
  #else
    return false
  #endif
}()
