import Foundation
import PortForwardCodecs
import Testing

@Suite struct WebSocketFramingTests {
  let hello = Array("Hello".utf8)

  // RFC 6455 §5.7 examples.
  @Test func rfcMaskedHelloAndPong() throws {
    var text: [UInt8] = []
    try WebSocketFrameEncoder.encodeFrame(opcode: .text, payload: hello[...], maskingKey: 0x37FA_213D, into: &text)
    #expect(text == hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"))
    var pong: [UInt8] = []
    try WebSocketFrameEncoder.encodePong(hello[...], maskingKey: 0x37FA_213D, into: &pong)
    #expect(pong == hex("8a 85 37 fa 21 3d 7f 9f 4d 51 58"))
  }

  @Test func rfcUnmaskedTextIsRejectedForTheTunnel() {
    var decoder = WebSocketFrameDecoder()
    decoder.append(hex("81 05 48 65 6c 6c 6f"))
    #expect(drain(&decoder).error == .textMessageNotAllowed)
    var fragmented = WebSocketFrameDecoder()
    fragmented.append(hex("01 03 48 65 6c 80 02 6c 6f"))
    #expect(drain(&fragmented).error == .textMessageNotAllowed)
  }

  @Test func maskedServerFrameIsRejected() {
    var decoder = WebSocketFrameDecoder()
    decoder.append(hex("82 85 37 fa 21 3d 7f 9f 4d 51 58"))
    #expect(drain(&decoder).error == .maskedServerFrame)
  }

  @Test func fragmentedBinaryWithInterleavedPing() {
    var decoder = WebSocketFrameDecoder()
    // "Hel" (binary, no FIN), ping "Hello", "lo" (continuation, FIN): RFC §5.4 allows the ping.
    decoder.append(hex("02 03 48 65 6c") + hex("89 05 48 65 6c 6c 6f") + hex("80 02 6c 6f"))
    let (events, error) = drain(&decoder)
    #expect(error == nil)
    #expect(events == [.ping(hello[...]), .binary(hello[...])])
  }

  @Test func pingPongEventsAndAnswer() throws {
    var decoder = WebSocketFrameDecoder()
    decoder.append(hex("89 05 48 65 6c 6c 6f") + hex("8a 00"))
    let (events, error) = drain(&decoder)
    #expect(error == nil)
    #expect(events == [.ping(hello[...]), .pong([])])
    guard case .ping(let payload) = events[0] else { Issue.record(); return }
    var answer: [UInt8] = []
    try WebSocketFrameEncoder.encodePong(payload, maskingKey: 0x0102_0304, into: &answer)
    let parsed = try #require(parseClientFrame(answer))
    #expect(parsed.opcode == 0xA)
    #expect(parsed.payload == hello)
  }

  @Test func lengthForms256And64KiB() throws {
    let p256 = [UInt8](repeating: 0x5A, count: 256)
    var frame: [UInt8] = []
    try WebSocketFrameEncoder.encodeFrame(opcode: .binary, payload: p256[...], maskingKey: nil, into: &frame)
    #expect(Array(frame.prefix(4)) == hex("82 7e 01 00"))
    #expect(frame.count == 4 + 256)
    let p64k = [UInt8](repeating: 0xA5, count: 65536)
    var big: [UInt8] = []
    try WebSocketFrameEncoder.encodeFrame(opcode: .binary, payload: p64k[...], maskingKey: nil, into: &big)
    #expect(Array(big.prefix(10)) == hex("82 7f 00 00 00 00 00 01 00 00"))
    var decoder = WebSocketFrameDecoder()
    decoder.append(frame)
    decoder.append(big)
    let (events, error) = drain(&decoder)
    #expect(error == nil)
    #expect(events == [.binary(p256[...]), .binary(p64k[...])])
    // Client (masked) encodings of the same sizes carry the same length forms.
    for (payload, header) in [(p256, hex("82 fe 01 00")), (p64k, hex("82 ff 00 00 00 00 00 01 00 00"))] {
      var masked: [UInt8] = []
      WebSocketFrameEncoder.encodeBinary(payload, maskingKey: 0xDEAD_BEEF, into: &masked)
      #expect(Array(masked.prefix(header.count)) == header)
      #expect(parseClientFrame(masked)?.payload == payload)
    }
    // 125 is the last 7-bit length, 126 the first 16-bit one.
    var b125: [UInt8] = []
    WebSocketFrameEncoder.encodeBinary([UInt8](repeating: 1, count: 125), maskingKey: 1, into: &b125)
    #expect(b125[1] == 0x80 | 125)
    var b126: [UInt8] = []
    WebSocketFrameEncoder.encodeBinary([UInt8](repeating: 1, count: 126), maskingKey: 1, into: &b126)
    #expect(Array(b126.prefix(4)) == hex("82 fe 00 7e"))
  }

  @Test func maskingMatchesAReferenceForManySizes() {
    var rng = SplitMix64(seed: 42)
    for size in Array(0...40) + [63, 64, 65, 1000, 4099, 70_001] {
      let payload = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
      let key = UInt32.random(in: .min ... .max, using: &rng)
      var frame: [UInt8] = [0xEE]  // appending after existing bytes must not disturb them
      WebSocketFrameEncoder.encodeBinary(payload, maskingKey: key, into: &frame)
      #expect(frame[0] == 0xEE)
      let parsed = parseClientFrame(Array(frame.dropFirst()))
      #expect(parsed?.payload == payload, "size \(size)")
      #expect(parsed?.key == be32(key))
      #expect(parsed?.fin == true)
    }
  }

  @Test func randomMaskingKeysDiffer() {
    var a: [UInt8] = []
    var b: [UInt8] = []
    WebSocketFrameEncoder.encodeBinary(hello, into: &a)
    WebSocketFrameEncoder.encodeBinary(hello, into: &b)
    #expect(a[1] == 0x85)
    #expect(Array(a[2..<6]) != Array(b[2..<6]))  // 2^-32 chance of a false failure
    #expect(parseClientFrame(a)?.payload == hello)
  }

  @Test func closeFrames() throws {
    var close: [UInt8] = []
    try WebSocketFrameEncoder.encodeClose(reason: "bye", maskingKey: 0, into: &close)
    #expect(close == hex("88 85 00 00 00 00 03 e8 62 79 65"))
    var decoder = WebSocketFrameDecoder()
    decoder.append(hex("82 01 01") + hex("88 05 03 e8 62 79 65") + hex("82 01 02"))
    let (events, error) = drain(&decoder)
    #expect(error == nil)
    #expect(events == [.binary([1]), .close(code: 1000, reason: "bye")])
    #expect(decoder.isClosed)
    decoder.append(hex("82 01 03"))
    #expect(try decoder.nextEvent() == nil)
    var empty = WebSocketFrameDecoder()
    empty.append(hex("88 00"))
    #expect(try empty.nextEvent() == .close(code: nil, reason: ""))
    var oneByte = WebSocketFrameDecoder()
    oneByte.append(hex("88 01 03"))
    #expect(drain(&oneByte).error == .invalidClosePayload)
    var badUTF8 = WebSocketFrameDecoder()
    badUTF8.append(hex("88 03 03 e8 ff"))
    #expect(drain(&badUTF8).error == .invalidClosePayload)
  }

  @Test func emptyMessagesAndEmptyFragments() {
    var decoder = WebSocketFrameDecoder()
    decoder.append(hex("82 00") + hex("02 00 00 00 80 00") + hex("82 00"))
    let (events, error) = drain(&decoder)
    #expect(error == nil)
    #expect(events == [.binary([]), .binary([]), .binary([])])
  }

  @Test func protocolViolations() {
    func fails(_ bytes: [UInt8], _ expected: WebSocketError, max: Int = 1 << 20, sourceLocation: SourceLocation = #_sourceLocation) {
      var decoder = WebSocketFrameDecoder(maxMessageSize: max)
      decoder.append(bytes)
      #expect(drain(&decoder).error == expected, sourceLocation: sourceLocation)
      #expect(throws: (any Error).self, sourceLocation: sourceLocation) { try decoder.nextEvent() }  // sticky
    }
    fails(hex("c2 00"), .reservedBitsSet(0x40))
    fails(hex("83 00"), .unknownOpcode(3))
    fails(hex("8b 00"), .unknownOpcode(0xB))
    fails(hex("09 00"), .fragmentedControlFrame(.ping))
    fails(hex("89 7e 00 7e") + [UInt8](repeating: 0, count: 126), .controlFrameTooLong(126))
    fails(hex("80 01 00"), .unexpectedContinuation)
    fails(hex("02 01 00 82 01 00"), .expectedContinuation(.binary))
    fails(hex("02 01 00 01 01 00"), .textMessageNotAllowed)
    fails(hex("82 7f 80 00 00 00 00 00 00 00"), .invalidPayloadLength)
    // Size guard: from the header alone (no payload buffered), and across fragments.
    fails(hex("82 7f 00 00 00 01 00 00 00 00"), .messageTooLarge(length: 1 << 32, limit: 1 << 20))
    fails(hex("82 7e 01 01"), .messageTooLarge(length: 257, limit: 256), max: 256)
    fails(hex("02 7e 00 c8") + [UInt8](repeating: 0, count: 200) + hex("80 7e 00 c8"), .messageTooLarge(length: 400, limit: 256), max: 256)
  }

  /// The sandbox's API server reads the client's side of the tunnel with the same decoder.
  @Test func clientFramesAreUnmaskedAndMustBeMasked() throws {
    var decoder = WebSocketFrameDecoder(framesFrom: .client)
    var bytes: [UInt8] = []
    // A binary message in two fragments, an empty one, a ping; all masked, as a client sends them.
    try WebSocketFrameEncoder.encodeFrame(opcode: .binary, payload: [1, 2, 3][...], fin: false, into: &bytes)
    try WebSocketFrameEncoder.encodeFrame(opcode: .continuation, payload: [4][...], fin: true, into: &bytes)
    WebSocketFrameEncoder.encodeBinary([], into: &bytes)
    try WebSocketFrameEncoder.encodePing([9][...], into: &bytes)
    // Fed one byte at a time, as TLS records may split them.
    var events: [WebSocketEvent] = []
    for byte in bytes {
      decoder.append([byte])
      while let event = try decoder.nextEvent() { events.append(event) }
    }
    #expect(events == [.binary([1, 2, 3, 4]), .binary([]), .ping([9])])

    var text: [UInt8] = []
    try WebSocketFrameEncoder.encodeFrame(opcode: .text, payload: Array("hi".utf8)[...], into: &text)
    var textDecoder = WebSocketFrameDecoder(framesFrom: .client)
    textDecoder.append(text)
    #expect(throws: WebSocketError.textMessageNotAllowed) { try textDecoder.nextEvent() }

    var unmasked: [UInt8] = []
    try WebSocketFrameEncoder.encodeFrame(opcode: .binary, payload: [1][...], maskingKey: nil, into: &unmasked)
    var unmaskedDecoder = WebSocketFrameDecoder(framesFrom: .client)
    unmaskedDecoder.append(unmasked)
    #expect(throws: WebSocketError.unmaskedClientFrame) { try unmaskedDecoder.nextEvent() }
  }

  @Test func encoderRejectsBadControlFrames() {
    var buffer: [UInt8] = []
    #expect(throws: WebSocketError.invalidControlFrame(.ping, payloadLength: 126)) { try WebSocketFrameEncoder.encodePing([UInt8](repeating: 0, count: 126)[...], into: &buffer) }
    #expect(throws: (any Error).self) { try WebSocketFrameEncoder.encodeFrame(opcode: .close, payload: [][...], fin: false, into: &buffer) }
    #expect(throws: (any Error).self) { try WebSocketFrameEncoder.encodeClose(reason: String(repeating: "x", count: 124), into: &buffer) }
    #expect(buffer == [])
    #expect(throws: Never.self) { try WebSocketFrameEncoder.encodeClose(reason: String(repeating: "x", count: 123), into: &buffer) }
  }

  @Test func unfragmentedPayloadIsNotCopied() throws {
    var server: [UInt8] = []
    try WebSocketFrameEncoder.encodeFrame(opcode: .binary, payload: [UInt8](repeating: 3, count: 300)[...], maskingKey: nil, into: &server)
    var decoder = WebSocketFrameDecoder()
    decoder.append(server)
    guard case .binary(let payload)? = try decoder.nextEvent() else { Issue.record(); return }
    let base = server.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
    #expect(payload.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } == base + 4)
  }
}

@Suite struct WebSocketHandshakeTests {
  @Test func rfcAcceptVector() {
    // RFC 6455 §1.3. (The brief quoted "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", which decodes to 17 bytes and
    // cannot be a SHA-1; the RFC's value below is also what Python's hashlib gives.)
    #expect(WebSocketHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
  }

  @Test func keysAre16RandomBytesInBase64() {
    let a = WebSocketHandshake.makeKey()
    let b = WebSocketHandshake.makeKey()
    #expect(Data(base64Encoded: a)?.count == 16)
    #expect(a.count == 24)
    #expect(a != b)
    var rng1 = SplitMix64(seed: 1)
    var rng2 = SplitMix64(seed: 1)
    #expect(WebSocketHandshake.makeKey(using: &rng1) == WebSocketHandshake.makeKey(using: &rng2))
  }

  @Test func validateResponse() throws {
    let key = "dGhlIHNhbXBsZSBub25jZQ=="
    let good: [(name: String, value: String)] = [
      ("Upgrade", "websocket"), ("connection", "Upgrade"), ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
      ("Sec-WebSocket-Protocol", "SPDY/3.1+portforward.k8s.io"),
    ]
    #expect(throws: Never.self) { try WebSocketHandshake.validateResponse(status: 101, headers: good, key: key) }
    func fails(status: Int = 101, _ headers: [(name: String, value: String)], _ expected: WebSocketHandshakeError, sourceLocation: SourceLocation = #_sourceLocation) {
      #expect(throws: expected, sourceLocation: sourceLocation) { try WebSocketHandshake.validateResponse(status: status, headers: headers, key: key) }
    }
    fails(status: 400, good, .notSwitchingProtocols(status: 400))
    fails(good.filter { $0.name != "Upgrade" }, .missingOrInvalidUpgrade(nil))
    fails(good.filter { $0.name != "connection" } + [("Connection", "keep-alive")], .missingOrInvalidConnection("keep-alive"))
    fails(
      good.filter { $0.name != "Sec-WebSocket-Accept" } + [("Sec-WebSocket-Accept", "AAAA")],
      .acceptMismatch(expected: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", received: "AAAA"))
    fails(
      good.filter { $0.name != "Sec-WebSocket-Protocol" },
      .subprotocolMismatch(requested: "SPDY/3.1+portforward.k8s.io", received: nil))
    fails(
      good.filter { $0.name != "Sec-WebSocket-Protocol" } + [("sec-websocket-protocol", "v4.channel.k8s.io")],
      .subprotocolMismatch(requested: "SPDY/3.1+portforward.k8s.io", received: "v4.channel.k8s.io"))
    fails(good + [("Sec-WebSocket-Extensions", "permessage-deflate")], .unexpectedExtensions("permessage-deflate"))
  }
}
