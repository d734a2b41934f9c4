import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// One-connection bulk throughput: our own sink/source instead of iperf3. iperf3 with `-n` ends
/// the test over its control channel once the CLIENT has written everything, and its server then
/// closes the data socket while megabytes are still buffered inside the forward (our send queue,
/// the API server, the kubelet, the relay): the tail is lost and the relay logs a broken pipe.
/// Here the receiver acknowledges the last byte, so the time covers every byte end to end.
///
/// Wire: the client sends 'U' or 'D' and the byte count (8 bytes, big-endian). 'U': the client
/// sends that many bytes, the server answers one byte after the last. 'D': the server sends
/// them, the client answers one byte after the last. Then both close.
public enum BulkTransfer {
  public struct Result: Codable, Sendable {
    public var direction: String
    public var bytes: Int
    public var seconds: Double
    public var bitsPerSecond: Double
    /// The probe's own CPU seconds during the transfer (connect to the last byte): the probe is on
    /// the measured path too.
    public var cpuSeconds: Double?
  }

  static let chunk = 256 * 1024

  /// Serves forever on the calling thread; `ready` gets the bound port first.
  public static func serve(port: UInt16, host: String = "127.0.0.1", ready: (UInt16) -> Void) throws(BenchError) -> Never {
    let (fd, bound) = try LoopbackSocket.listen(port: port, host: host)
    ready(bound)
    while true {
      let client = accept(fd, nil, nil)
      if client < 0 {
        if errno == EINTR || errno == ECONNABORTED { continue }
        throw BenchError("accept: \(LoopbackSocket.errnoText())")
      }
      let thread = Thread { serveOne(client) }
      thread.start()
    }
  }

  private static func serveOne(_ fd: Int32) {
    defer { close(fd) }
    var header = [UInt8](repeating: 0, count: 9)
    guard readFully(fd, &header, header.count) else { return }
    let count = header[1...].reduce(0) { $0 << 8 | Int($1) }
    if header[0] == UInt8(ascii: "U") {
      guard sink(fd, count) else { return }
      var ack: UInt8 = 1
      _ = send(fd, &ack, 1, Int32(MSG_NOSIGNAL))
    } else {
      guard source(fd, count) else { return }
      var ack: UInt8 = 0
      _ = recv(fd, &ack, 1, 0)
    }
    // Wait for the client's close so the last bytes are never cut by ours.
    var rest: UInt8 = 0
    _ = recv(fd, &rest, 1, 0)
  }

  public static func run(port: UInt16, bytes: Int, upload: Bool) throws(BenchError) -> Result {
    // The probe's CPU from here on: what moving the bytes costs it, not its own start.
    let cpuAtStart = ProcessStats.ownCPUSeconds()
    let fd = try LoopbackSocket.connect(port: port, timeoutSeconds: 120)
    defer { close(fd) }
    var header: [UInt8] = [upload ? UInt8(ascii: "U") : UInt8(ascii: "D")]
    for shift in stride(from: 56, through: 0, by: -8) { header.append(UInt8(truncatingIfNeeded: bytes >> shift)) }
    let start = ContinuousClock.now
    guard send(fd, header, header.count, Int32(MSG_NOSIGNAL)) == header.count else {
      throw BenchError("send: \(LoopbackSocket.errnoText())")
    }
    if upload {
      guard source(fd, bytes) else { throw BenchError("upload failed: \(LoopbackSocket.errnoText())") }
      var ack: UInt8 = 0
      guard recv(fd, &ack, 1, 0) == 1 else { throw BenchError("no acknowledgement after the upload") }
    } else {
      guard sink(fd, bytes) else { throw BenchError("download ended early: \(LoopbackSocket.errnoText())") }
    }
    let elapsed = ContinuousClock.now - start
    if !upload {
      var ack: UInt8 = 1
      _ = send(fd, &ack, 1, Int32(MSG_NOSIGNAL))
    }
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Result(
      direction: upload ? "to pod" : "from pod", bytes: bytes, seconds: seconds, bitsPerSecond: Double(bytes) * 8 / seconds,
      cpuSeconds: ProcessStats.ownCPUSeconds() - cpuAtStart)
  }

  private static func readFully(_ fd: Int32, _ buffer: inout [UInt8], _ count: Int) -> Bool {
    var got = 0
    while got < count {
      let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
      if n <= 0 { return false }
      got += n
    }
    return true
  }

  private static func sink(_ fd: Int32, _ count: Int) -> Bool {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
    defer { buffer.deallocate() }
    var left = count
    while left > 0 {
      let n = recv(fd, buffer.baseAddress, min(chunk, left), 0)
      if n <= 0 { return false }
      left -= n
    }
    return true
  }

  private static func source(_ fd: Int32, _ count: Int) -> Bool {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
    defer { buffer.deallocate() }
    // Not zeros: nothing on the path compresses, but random-looking bytes keep that honest.
    var x: UInt64 = 0x9E37_79B9_7F4A_7C15
    for i in stride(from: 0, to: chunk, by: 8) {
      x ^= x << 13; x ^= x >> 7; x ^= x << 17
      buffer.storeBytes(of: x, toByteOffset: i, as: UInt64.self)
    }
    var left = count
    while left > 0 {
      let n = send(fd, buffer.baseAddress, min(chunk, left), Int32(MSG_NOSIGNAL))
      if n <= 0 { return false }
      left -= n
    }
    return true
  }
}
