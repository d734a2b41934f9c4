import Foundation
import KFTrayRelay
import Testing

private func frame(_ payload: [UInt8]) -> [UInt8] { UDPFraming.header(length: payload.count) + payload }

private func readFrame(_ connection: TestConnection) throws -> [UInt8] {
  let length = Int(UDPFraming.length(header: try connection.read(exactly: 4)))
  return try connection.read(exactly: length)
}

@Suite struct UDPRelayTests {
  @Test func requestGetsItsReplyFramed() throws {
    let server = try TestUDPServer(.reply)
    defer { server.stop(.reply) }
    let relay = try startRelay(.udp, targetPort: server.port)
    defer { relay.shutdown(grace: .zero) }  // teardown only: nothing to wait for

    let connection = try TestConnection(port: relay.port)
    let query = pseudoRandomBytes(count: 1200, seed: 3)
    try connection.send(frame(query))
    #expect(try readFrame(connection) == [UInt8(ascii: "R")] + query)
    #expect(server.receivedSizes == [1200])
  }

  @Test func zeroLengthFrameSendsAnEmptyDatagram() throws {
    let server = try TestUDPServer(.reply)
    defer { server.stop(.reply) }
    let relay = try startRelay(.udp, targetPort: server.port)
    defer { relay.shutdown(grace: .zero) }  // teardown only: nothing to wait for

    let connection = try TestConnection(port: relay.port)
    try connection.send(UDPFraming.emptyFrame)
    // The server answers an empty datagram with "R", so this reply cannot be a timeout frame.
    #expect(try readFrame(connection) == [UInt8(ascii: "R")])
    #expect(server.receivedSizes == [0])
  }

  @Test func noReplyWithinTheTimeoutGivesAnEmptyFrameAndTheConnectionStaysOpen() throws {
    let silent = try TestUDPServer(.silent)
    defer { silent.stop(.silent) }
    let logs = LogCapture()
    let relay = try startRelay(.udp, targetPort: silent.port, udpReplyTimeout: .milliseconds(150), log: logs.log)

    let connection = try TestConnection(port: relay.port)
    for _ in 0..<2 {
      try connection.send(frame(Array("anyone?".utf8)))
      #expect(try connection.read(exactly: 4) == UDPFraming.emptyFrame)
    }
    connection.shutdownWrite()
    let (rest, end) = connection.readToEnd()
    #expect(rest.isEmpty)
    #expect(end == .eof)
    relay.shutdown()
    #expect(logs.all.contains { $0.contains("udp close:") && $0.contains("2 datagrams (14 bytes) sent") && $0.contains("2 timeouts") })
  }

  @Test func oversizedFrameGetsAnEmptyFrameThenClose() throws {
    let server = try TestUDPServer(.reply)
    defer { server.stop(.reply) }
    let relay = try startRelay(.udp, targetPort: server.port)
    defer { relay.shutdown(grace: .zero) }  // teardown only: nothing to wait for

    let connection = try TestConnection(port: relay.port)
    try connection.send(UDPFraming.header(length: UDPFraming.maximumPayload + 1))
    let (bytes, end) = connection.readToEnd()
    #expect(bytes == UDPFraming.emptyFrame)
    #expect(end == .eof || end == .reset)
    #expect(server.receivedSizes.isEmpty)
  }

  @Test func framesStayInLockstepOnOneConnection() throws {
    let server = try TestUDPServer(.reply)
    defer { server.stop(.reply) }
    let relay = try startRelay(.udp, targetPort: server.port)
    defer { relay.shutdown(grace: .zero) }  // teardown only: nothing to wait for

    let connection = try TestConnection(port: relay.port)
    let payloads = (0..<20).map { pseudoRandomBytes(count: 1 + $0 * 997, seed: UInt64($0 + 100)) }
    // One at a time, then pipelined: the relay reads the next frame only after writing the
    // previous reply, so replies come back in request order either way.
    for payload in payloads.prefix(10) {
      try connection.send(frame(payload))
      #expect(try readFrame(connection) == [UInt8(ascii: "R")] + payload)
    }
    try connection.send(payloads.suffix(10).flatMap(frame))
    for payload in payloads.suffix(10) {
      #expect(try readFrame(connection) == [UInt8(ascii: "R")] + payload)
    }
    #expect(server.receivedSizes == payloads.map(\.count))
  }

  @Test func unreachableTargetClosesTheConnection() throws {
    // Nothing bound on this UDP port: the kernel answers with ICMP port-unreachable, which the
    // connected UDP socket reports as ECONNREFUSED.
    let closedPort = try unusedLoopbackPort(type: Int32(SOCK_DGRAM.rawValue))
    let logs = LogCapture()
    let relay = try startRelay(.udp, targetPort: closedPort, udpReplyTimeout: .seconds(5), log: logs.log)

    let connection = try TestConnection(port: relay.port)
    try connection.send(frame([1, 2, 3]))
    let (bytes, end) = connection.readToEnd()
    #expect(bytes.isEmpty)  // not a timeout frame: the connection ends
    #expect(end == .eof || end == .reset)
    relay.shutdown()
    #expect(logs.all.contains { $0.contains("udp close:") && $0.contains("refused") })
  }
}
