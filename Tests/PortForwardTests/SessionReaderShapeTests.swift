import Foundation
import Synchronization
import Testing

@testable import PortForward
import PortForwardCodecs
import TestSupport

/// The session reader under a real API server's wire shape: a DATA frame cut into several WebSocket
/// messages and frames arrives whole and in order, and each consumer is woken once per received
/// chunk, however many pieces the chunk carried for it.
@Suite struct SessionReaderShapeTests {
  static func realServerMessages(_ spdy: [UInt8], cuts: [Int]) -> [UInt8] {
    GorillaFraming.messages(spdy, cuts: cuts)
  }

  @Test(arguments: [false, true])
  func aCutUpFrameArrivesWholeWithOneWakeupPerChunk(tunnel: Bool) throws {
    let core = SessionCore(tunnel: tunnel, options: PortForwardSessionOptions())
    let stream = try core.openStreamPair(port: 80)
    let wakeups = Counter()
    stream.onReadable { wakeups.add() }
    let encoder = SPDYFrameEncoder()
    let payload = (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    var spdy = try encoder.encode(.synReply(SPDYSynReply(streamID: stream.dataStreamID)))
    spdy += try encoder.encode(.data(SPDYDataFrame(streamID: stream.dataStreamID, payload: payload[..<32768])))
    spdy += try encoder.encode(.data(SPDYDataFrame(streamID: stream.dataStreamID, payload: payload[32768...])))
    // SPDY: records as the API server relays them (4, 4, 16 KiB, ...); the tunnel: messages.
    let wire = tunnel ? Self.realServerMessages(spdy, cuts: [spdy.count - 2 * 32776, 4, 4, 16384, 8000]) : spdy
    // First chunk: up to the middle of the first DATA payload; second: the rest.
    let cut = wire.count / 3
    SessionReaderTests.feed(core, Array(wire[..<cut]))
    let afterFirst = wakeups.value
    SessionReaderTests.feed(core, Array(wire[cut...]))
    let afterSecond = wakeups.value
    #expect(afterFirst == 1 && afterSecond == 2, "\(afterFirst), \(afterSecond)")
    var got: [UInt8] = []
    while case .bytes(let bytes) = stream.read() { got += bytes }
    #expect(got == payload)
    #expect(core.state == .open)
    stream.close()
  }
}

private final class Counter: Sendable {
  private let count = Mutex(0)
  func add() { count.withLock { $0 += 1 } }
  var value: Int { count.withLock { $0 } }
}
