#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Pod → local bytes taken from a stream and not yet accepted by the local socket: the received
/// DATA payloads themselves (slices, not copies), sent together with one `sendmsg`.
struct OutboundSlices {
  /// Enough to fill a loopback socket's buffer in one call without holding many frames.
  static let maxBytes = 256 * 1024
  static let maxSlices = 16

  private var slices: [ArraySlice<UInt8>] = []
  /// Bytes of `slices[0]` already sent.
  private var sentOfFirst = 0
  private(set) var count = 0

  var isEmpty: Bool { count == 0 }
  var canTakeMore: Bool { count < Self.maxBytes && slices.count < Self.maxSlices }
  var room: Int { Self.maxBytes - count }

  mutating func append(_ bytes: ArraySlice<UInt8>) {
    guard !bytes.isEmpty else { return }
    slices.append(bytes)
    count += bytes.count
  }

  /// One `sendmsg` of everything held (MSG_NOSIGNAL: a closed peer is an error, not a signal).
  /// Returns what `sendmsg` returned; sent bytes are dropped from the front.
  mutating func send(to fd: Int32) -> Int {
    var vectors: [iovec] = []
    vectors.reserveCapacity(slices.count)
    let sent = Self.withVectors(slices[...], skipping: sentOfFirst, &vectors) { vectors in
      var vectors = vectors
      return vectors.withUnsafeMutableBufferPointer { iov -> Int in
        var message = msghdr()
        message.msg_iov = iov.baseAddress
        message.msg_iovlen = numericCast(iov.count)
        return sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
      }
    }
    if sent > 0 { consume(sent) }
    return sent
  }

  private mutating func consume(_ n: Int) {
    count -= n
    var left = n
    var drop = 0
    while left > 0 {
      let remaining = slices[drop].count - sentOfFirst
      if left < remaining {
        sentOfFirst += left
        break
      }
      left -= remaining
      sentOfFirst = 0
      drop += 1
    }
    slices.removeFirst(drop)
  }

  /// Pins each slice's memory for the duration of `body` (nested, one level per slice; at most
  /// `maxSlices` deep) instead of letting pointers escape their closures.
  private static func withVectors<R>(
    _ rest: ArraySlice<ArraySlice<UInt8>>, skipping skip: Int, _ vectors: inout [iovec], _ body: ([iovec]) -> R
  ) -> R {
    guard let first = rest.first else { return body(vectors) }
    return first.withUnsafeBytes { raw in
      vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress! + skip), iov_len: raw.count - skip))
      return withVectors(rest.dropFirst(), skipping: 0, &vectors, body)
    }
  }
}
