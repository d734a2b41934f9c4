import Foundation
import KubeClient
import PortForwardCodecs
import Synchronization
import Testing

@testable import PortForward

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The session reader writing received bytes to the local socket itself (no hand-over to the
/// forwarder's thread), on a real socket pair: only while the consumer holds nothing, never
/// overtaking bytes the consumer took, and handing what the socket refuses back to the consumer in
/// order.
@Suite("Direct delivery to the local socket")
struct DirectDeliveryTests {
  /// Both ends non-blocking, as the forwarder's sockets are.
  static func socketPair(sendBuffer: Int32? = nil) -> (local: Int32, peer: Int32) {
    var fds: [Int32] = [-1, -1]
    #if canImport(Glibc)
      let type = Int32(SOCK_STREAM.rawValue)
    #else
      let type = SOCK_STREAM
    #endif
    precondition(socketpair(AF_UNIX, type, 0, &fds) == 0)
    _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
    _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
    if var size = sendBuffer {
      setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
    return (fds[0], fds[1])
  }

  /// Everything the peer can read now.
  private static func readAll(_ fd: Int32) -> [UInt8] {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
      let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n <= 0 { return out }
      out += buffer[..<n]
    }
  }

  /// A session (no connection: its reader is fed by hand), one stream pair and a socket pair whose
  /// `local` end plays the forwarder's socket.
  private struct Fixture {
    let core = SessionCore(tunnel: false, options: PortForwardSessionOptions())
    let stream: ForwardedStream
    let local: Int32
    let peer: Int32

    init(sendBuffer: Int32? = nil) throws {
      stream = try core.openStreamPair(port: 80)
      (local, peer) = DirectDeliveryTests.socketPair(sendBuffer: sendBuffer)
    }

    func feed(_ bytes: [UInt8]) { SessionReaderTests.feed(core, DirectDeliveryTests.data(stream, bytes)) }

    func release() {
      stream.close()
      closeDescriptor(local)
      closeDescriptor(peer)
    }
  }

  private static func data(_ stream: ForwardedStream, _ bytes: [UInt8]) -> [UInt8] {
    SessionReaderTests.FakeServer(tunnel: false).bytes([
      .data(SPDYDataFrame(streamID: stream.dataStreamID, payload: bytes[...]))
    ])
  }

  @Test func theReaderWritesWhenTheConsumerHoldsNothing() throws {
    let f = try Fixture()
    defer { f.release() }
    let (core, stream, local, peer) = (f.core, f.stream, f.local, f.peer)
    let counted = Atomic<Int>(0)
    let wakes = Atomic<Int>(0)
    stream.deliverDirectly(to: local) { counted.add($0, ordering: .relaxed) }
    stream.onReadable { wakes.add(1, ordering: .relaxed) }

    f.feed(Array("hello".utf8))
    #expect(Self.readAll(peer) == Array("hello".utf8))
    #expect(stream.read(holdingNone: true) == .pending)
    #expect(stream.bytesDeliveredDirectly == 5 && counted.load(ordering: .relaxed) == 5)
    #expect(wakes.load(ordering: .relaxed) == 0, "written by the reader: nothing for the consumer to do")
    #expect(core.streams.statistics.bytesReceived == 5)
  }

  @Test func bytesTheConsumerTookAreNeverOvertaken() throws {
    let f = try Fixture()
    defer { f.release() }
    let (stream, local, peer) = (f.stream, f.local, f.peer)
    let wakes = Atomic<Int>(0)
    stream.onReadable { wakes.add(1, ordering: .relaxed) }
    f.feed(Array("abc".utf8))
    // The consumer takes "abc" and has not written it yet when direct delivery starts.
    #expect(stream.read() == .bytes(Array("abc".utf8)[...]))
    stream.deliverDirectly(to: local) { _ in }

    f.feed(Array("def".utf8))
    #expect(Self.readAll(peer).isEmpty, "the consumer still holds \"abc\": \"def\" must wait behind it")
    #expect(wakes.load(ordering: .relaxed) == 2)
    #expect(stream.read() == .bytes(Array("def".utf8)[...]))
    // The consumer wrote both and finds nothing more: the reader may write again.
    #expect(stream.read(holdingNone: true) == .pending)
    f.feed(Array("ghi".utf8))
    #expect(Self.readAll(peer) == Array("ghi".utf8))
    #expect(stream.bytesDeliveredDirectly == 3)
  }

  @Test func whatAFullSocketRefusesGoesToTheConsumerInOrder() throws {
    let f = try Fixture(sendBuffer: 4096)
    defer { f.release() }
    let (stream, local, peer) = (f.stream, f.local, f.peer)
    let wakes = Atomic<Int>(0)
    stream.deliverDirectly(to: local) { _ in }
    stream.onReadable { wakes.add(1, ordering: .relaxed) }
    let sent = (0..<(256 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
    for start in stride(from: 0, to: sent.count, by: 32 * 1024) {
      f.feed(Array(sent[start..<(start + 32 * 1024)]))
    }
    let direct = stream.bytesDeliveredDirectly
    #expect(direct > 0 && direct < sent.count, "the socket took part: \(direct) bytes")
    #expect(wakes.load(ordering: .relaxed) > 0, "the rest is the consumer's")
    // The peer reads what the socket took; the consumer's bytes follow, in order.
    var received = Self.readAll(peer)
    #expect(received.count == direct)
    while case .bytes(let bytes) = stream.read() { received += bytes }
    #expect(received == sent)
  }
}
