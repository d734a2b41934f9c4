import PortForwardCodecs
import Testing

/// The example frames of spec §A.3 and the verified compressed frames of §A.4.
@Suite struct SPDYGoldenTests {
  let synStream1 = hex(
    """
    80 03 00 01 00 00 00 3d 00 00 00 01 00 00 00 00 00 00 78 f9 e3 c6 a7 c2 02 25 3a 70 3a 2b 29 4a 4d cc 85 16 25 ac
    a9 a0 80 86 14 cb 45 e0 1c 60 61 60 61 00 a4 39 8b 20 d1 98 09 4a de 8c 06 00 00 00 00 ff ff
    """)
  let synStream3 = hex("80 03 00 01 00 00 00 18 00 00 00 03 00 00 00 00 00 00 c2 aa 19 54 0e 25 12 d6 0b 00 00 00 ff ff")
  let synReply1 = hex("80 03 00 02 00 00 00 14 00 00 00 01 78 f9 e3 c6 a7 c2 02 a6 23 06 00 00 00 00 ff ff")

  let errorHeaders: SPDYHeaderBlock = ["streamtype": "error", "port": "8080", "requestid": "0"]
  let dataHeaders: SPDYHeaderBlock = ["streamtype": "data", "port": "8080", "requestid": "0"]

  @Test func simpleFramesEncodeExactly() throws {
    let encoder = SPDYFrameEncoder()
    #expect(try encoder.encode(.ping(SPDYPing(id: 1))) == hex("80 03 00 06 00 00 00 04 00 00 00 01"))
    #expect(try encoder.encode(.data(SPDYDataFrame(streamID: 1, flags: .fin))) == hex("00 00 00 01 01 00 00 00"))
    #expect(try encoder.encode(.rstStream(SPDYRstStream(streamID: 3, status: .cancel))) == hex("80 03 00 03 00 00 00 08 00 00 00 03 00 00 00 05"))
    #expect(try encoder.encode(.goAway(SPDYGoAway(lastGoodStreamID: 0, status: .ok))) == hex("80 03 00 07 00 00 00 08 00 00 00 00 00 00 00 00"))
  }

  @Test func simpleFramesDecode() throws {
    let bytes =
      hex("80 03 00 06 00 00 00 04 00 00 00 01") + hex("00 00 00 01 01 00 00 00")
      + hex("80 03 00 03 00 00 00 08 00 00 00 03 00 00 00 05") + hex("80 03 00 07 00 00 00 08 00 00 00 00 00 00 00 00")
    let (frames, error) = decodeAll(bytes)
    #expect(error == nil)
    #expect(frames == [
        .ping(SPDYPing(id: 1)),
        .data(SPDYDataFrame(streamID: 1, flags: .fin, payload: [])),
        .rstStream(SPDYRstStream(streamID: 3, status: .cancel)),
        .goAway(SPDYGoAway(lastGoodStreamID: 0, status: .ok)),
      ])
  }

  @Test func clientSynStreamsMatchSpecBytes() throws {
    // A fresh client context, level 9, sync flush: byte-identical to Go's spdystream.
    let encoder = SPDYFrameEncoder()
    var wire: [UInt8] = []
    try encoder.encode(.synStream(SPDYSynStream(streamID: 1, headers: errorHeaders)), into: &wire)
    #expect(hexString(wire) == hexString(synStream1))
    let second = try encoder.encode(.synStream(SPDYSynStream(streamID: 3, headers: dataHeaders)))
    #expect(hexString(second) == hexString(synStream3))
  }

  @Test func serverSynReplyMatchesSpecBytes() throws {
    let serverEncoder = SPDYFrameEncoder()
    let reply = try serverEncoder.encode(.synReply(SPDYSynReply(streamID: 1)))
    #expect(hexString(reply) == hexString(synReply1))
  }

  @Test func goldenHeaderFramesDecodeToOriginalHeaders() throws {
    // Server side: one decompression context across both SYN_STREAMs.
    let server = SPDYFrameDecoder()
    let (frames, error) = decodeAll(synStream1 + synStream3, decoder: server)
    #expect(error == nil)
    #expect(frames == [
        .synStream(SPDYSynStream(streamID: 1, headers: errorHeaders)),
        .synStream(SPDYSynStream(streamID: 3, headers: dataHeaders)),
      ])
    if case .synStream(let syn) = frames.first {
      #expect(syn.headers.value(for: "streamtype") == "error")
      #expect(syn.headers.value(for: "Port") == "8080")
    }
    // Client side: the server's reply with an empty (but compressed) block.
    let (replies, replyError) = decodeAll(synReply1)
    #expect(replyError == nil)
    #expect(replies == [.synReply(SPDYSynReply(streamID: 1, headers: SPDYHeaderBlock()))])
  }

  @Test func secondSynStreamAloneFailsWithoutTheSharedContext() {
    // The id=3 block relies on the context primed by id=1; on its own it cannot decode.
    let (frames, error) = decodeAll(synStream3)
    #expect(frames.isEmpty)
    #expect(error != nil)
  }
}
