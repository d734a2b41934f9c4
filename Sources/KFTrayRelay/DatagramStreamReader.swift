/// Splits a UDP associate stream (`DynamicDestination`) into its frames, `[length: UInt32 BE][body]`,
/// as bytes arrive in pieces of any size. Both ends of the stream use it: the relay for what the
/// plugin sends, the plugin's SOCKS front end for what the relay sends back.
///
/// A frame longer than the largest datagram plus its address ends the stream: waiting for it would
/// let a broken peer make us buffer up to 4 GiB.
public struct DatagramStreamReader: Sendable {
  /// The largest body: a datagram's payload plus the longest address (type, length byte, a 255-byte
  /// name, port).
  public static let maximumBodyLength = UDPFraming.maximumPayload + 1 + 1 + 255 + 2

  public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
    case frameTooLong(length: Int, limit: Int)
    public var description: String {
      guard case .frameTooLong(let length, let limit) = self else { return "" }
      return "datagram frame of \(length) bytes exceeds \(limit)"
    }
  }

  public let maximumBodyLength: Int
  private var buffer: [UInt8] = []
  /// Start of the first byte not yet returned; the consumed prefix is dropped once it is the larger
  /// half, so splitting n frames costs O(total bytes), not O(n × buffered).
  private var offset = 0
  private var failure: Failure?

  public init(maximumBodyLength: Int = DatagramStreamReader.maximumBodyLength) {
    self.maximumBodyLength = max(0, maximumBodyLength)
  }

  /// Bytes received but not yet returned as frames.
  public var bufferedByteCount: Int { buffer.count - offset }

  public mutating func append(_ bytes: some Collection<UInt8>) {
    if offset > 0, offset >= buffer.count / 2 {
      buffer.removeFirst(offset)
      offset = 0
    }
    buffer.append(contentsOf: bytes)
  }

  /// The next frame's body (address, port and payload, undecoded), nil until one is complete. After
  /// a failure it keeps throwing it.
  public mutating func next() throws(Failure) -> ArraySlice<UInt8>? {
    if let failure { throw failure }
    guard bufferedByteCount >= 4 else { return nil }
    let length = Int(UDPFraming.length(header: buffer[offset..<offset + 4]))
    guard length <= maximumBodyLength else {
      failure = .frameTooLong(length: length, limit: maximumBodyLength)
      throw failure!
    }
    guard bufferedByteCount >= 4 + length else { return nil }
    let body = buffer[offset + 4..<offset + 4 + length]
    offset += 4 + length
    return body
  }
}
