import Foundation
import KubeClient
import PortForward
import PortForwardCodecs
import Synchronization
import TestSupport

#if canImport(Glibc)
  import Glibc
#endif


/// The port a test's echo pod listens on. Any number works (the pod has its own network namespace);
/// a random one keeps a mix-up between tests visible.
struct EchoPort: Sendable {
  let port = UInt16.random(in: 20000...29999)
}

/// A port of the echo pod where nothing listens.
func closedPodPort(besides echo: EchoPort) -> UInt16 { echo.port == 7 ? 9 : 7 }

/// The sandbox pods for these tests: bound to the sandbox node, in namespace `dev`, as admin.
struct PodFixture {
  static let namespace = "dev"
  let api: KubeAPI

  static func shared() async throws -> PodFixture {
    PodFixture(api: try await SandboxCluster.shared.client(context: "sandbox-admin"))
  }

  /// A fresh pod named `prefix-xxxx` on `kftray-node` running the sandbox's TCP echo server on `port`
  /// (`kftray-testserver echo`), returned once the server listens (its log says so).
  func createPod(_ prefix: String, port: UInt16) async throws -> String {
    let name = "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    var container = Container(name: "c", image: "kftray-sandbox/testserver")
    container.args = ["echo", "--port", String(port)]
    container.ports = [ContainerPort(containerPort: Int(port))]
    var spec = PodSpec(containers: [container])
    spec.nodeName = "kftray-node"
    _ = try await api.createPod(Pod(metadata: ObjectMeta(name: name, namespace: Self.namespace), spec: spec), namespace: Self.namespace)
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline {
      if try await api.pod(name, namespace: Self.namespace).status?.phase == "Running" {
        var log = Data()
        for try await chunk in try await api.podLogs(name, namespace: Self.namespace) { log.append(chunk) }
        if String(decoding: log, as: UTF8.self).contains("listening") { return name }
      }
      try await Task.sleep(for: .milliseconds(100))
    }
    throw TestFailure("pod \(name) did not start its echo server within 60 s")
  }

  func deletePod(_ name: String) async {
    _ = try? await api.deletePod(name, namespace: Self.namespace, gracePeriodSeconds: 0)
  }
}

/// Collects forwarder events.
final class EventLog: Sendable {
  private let events = Mutex<[ForwardEvent]>([])
  var handler: @Sendable (ForwardEvent) -> Void { { [self] e in events.withLock { $0.append(e) } } }
  var all: [ForwardEvent] { events.withLock { $0 } }
  var failures: [ForwardedStreamError] {
    all.compactMap { if case .connectionFailed(_, _, let reason, _, _, _) = $0 { return reason } else { return nil } }
  }
}

// MARK: Blocking loopback clients (run on their own threads, never on the cooperative pool)


func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
  var off = 0
  while off < bytes.count {
    let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + off, min(bytes.count - off, 256 * 1024), Int32(MSG_NOSIGNAL)) }
    if n <= 0 { return false }
    off += n
  }
  return true
}

/// Reads until EOF (or error/timeout, reported as `eof: false`).
func readToEnd(_ fd: Int32) -> (bytes: [UInt8], eof: Bool) {
  var out: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 64 * 1024)
  while true {
    let n = recv(fd, &buffer, buffer.count, 0)
    if n == 0 { return (out, true) }
    if n < 0 { return (out, false) }
    out.append(contentsOf: buffer[..<n])
  }
}

/// Runs blocking work on a new thread and awaits its result.
func onThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
  await withCheckedContinuation { continuation in
    let thread = Thread { continuation.resume(returning: work()) }
    thread.stackSize = 1 << 20
    thread.start()
  }
}

struct Exchange: Sendable {
  var received: [UInt8]
  var eof: Bool
  var sentAll: Bool
}

/// Connects, sends `payload` while reading concurrently, and half-closes only once the whole echo
/// arrived, then reads until EOF. Half-closing earlier would race the server: like containerd, the
/// sandbox kubelet fully closes the pod socket at most 1 s after the client's FIN (spec §B.3), so on
/// a loaded machine the tail of a large echo could be cut off. With `halfCloseBeforeReading`, the
/// client shuts down its write side right after the last byte and only then starts reading.
func exchange(port: UInt16, payload: [UInt8], ipv6: Bool = false, halfCloseBeforeReading: Bool = false) async throws -> Exchange {
  let fd = try connectLoopback(port, ipv6: ipv6)
  defer { close(fd) }
  if halfCloseBeforeReading {
    return await onThread {
      let sent = sendAll(fd, payload)
      shutdown(fd, Int32(SHUT_WR))
      let (bytes, eof) = readToEnd(fd)
      return Exchange(received: bytes, eof: eof, sentAll: sent)
    }
  }
  async let sent = onThread { sendAll(fd, payload) }
  async let read = onThread { () -> ([UInt8], Bool) in
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while out.count < payload.count {
      let n = recv(fd, &buffer, buffer.count, 0)
      if n <= 0 { return (out, n == 0) }
      out.append(contentsOf: buffer[..<n])
    }
    shutdown(fd, Int32(SHUT_WR))
    let (rest, eof) = readToEnd(fd)
    return (out + rest, eof)
  }
  let (ok, (bytes, eof)) = await (sent, read)
  return Exchange(received: bytes, eof: eof, sentAll: ok)
}

func randomBytes(_ count: Int) -> [UInt8] {
  var rng = SystemRandomNumberGenerator()
  var out = [UInt8](repeating: 0, count: count)
  out.withUnsafeMutableBytes { raw in
    var i = 0
    while i + 8 <= raw.count {
      raw.storeBytes(of: rng.next() as UInt64, toByteOffset: i, as: UInt64.self)
      i += 8
    }
    while i < raw.count {
      raw[i] = UInt8.random(in: 0...255, using: &rng)
      i += 1
    }
  }
  return out
}

/// FNV-1a 64: a cheap checksum to report alongside byte equality.

/// Polls `condition` until true or the deadline.
func eventually(seconds: Double = 20, _ condition: () throws -> Bool) async throws -> Bool {
  let deadline = ContinuousClock.now + .seconds(seconds)
  while ContinuousClock.now < deadline {
    if try condition() { return true }
    try await Task.sleep(for: .milliseconds(20))
  }
  return try condition()
}

/// Byte equality as a plain Bool (so `#expect` never tries to diff megabytes).
func sameBytes(_ a: [UInt8], _ b: [UInt8]) -> Bool { a == b }

/// Count, checksum and first difference, for failure messages.
func describe(_ got: [UInt8], _ expected: [UInt8]) -> String {
  let firstDiff = zip(got, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
  return "got \(got.count) bytes (checksum \(checksum(got))), expected \(expected.count) (checksum \(checksum(expected))), first difference at \(firstDiff.map(String.init) ?? "none")"
}
