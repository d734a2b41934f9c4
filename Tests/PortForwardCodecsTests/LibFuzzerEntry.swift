// Optional libFuzzer entry point for both decoders. Compiled to nothing in the test target
// (the flag below is never set by SwiftPM); build and run it by hand:
//
//   SRC=Sources/PortForward
//   swiftc -sanitize=fuzzer,address -parse-as-library -O -D PORTFORWARD_LIBFUZZER \
//     -module-name PortForwardFuzz -I Sources/CZlib -lz \
//     $(ls $SRC/*.swift | grep -v WebSocketHandshake) Tests/PortForwardTests/LibFuzzerEntry.swift \
//     -o /tmp/fuzz-pf
//   mkdir -p /tmp/fuzz-corpus && /tmp/fuzz-pf /tmp/fuzz-corpus -max_total_time=120 -max_len=4096
//
// (WebSocketHandshake.swift is left out only because it needs swift-crypto.)
// The first input byte picks the decoder (bit 0) and the chunk size (bits 1…7); the rest is fed in
// chunks, frames are pulled until nil or a typed error. A crash, hang or precondition is a bug.
#if PORTFORWARD_LIBFUZZER
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size > 0 else { return 0 }
  let mode = data[0]
  let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
  let chunk = Int(mode >> 1) + 1
  if mode & 1 == 0 {
    let decoder = SPDYFrameDecoder(maxHeaderBlockSize: 1 << 16)
    var offset = 0
    var frames = 0
    outer: while offset < bytes.count {
      let end = min(bytes.count, offset + chunk)
      decoder.append(bytes[offset..<end])
      offset = end
      do {
        while let _ = try decoder.nextFrame() { frames += 1; precondition(frames <= bytes.count / 8) }
      } catch { break outer }
    }
  } else {
    var decoder = WebSocketFrameDecoder(maxMessageSize: 1 << 16)
    var offset = 0
    outer: while offset < bytes.count {
      let end = min(bytes.count, offset + chunk)
      decoder.append(bytes[offset..<end])
      offset = end
      do {
        while let _ = try decoder.nextEvent() {}
      } catch { break outer }
    }
  }
  return 0
}
#endif
