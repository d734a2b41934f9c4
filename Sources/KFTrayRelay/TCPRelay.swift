#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A full-duplex byte relay between two connected stream sockets, with half-close (spec §1.5, like
/// tokio's copy_bidirectional): each direction runs on its own thread with a fixed buffer and
/// blocking writes, so a slow reader stops the other side from being read (bounded memory).
/// - End of stream on one side → shutdown(SHUT_WR) of the other, and the other direction goes on.
/// - An error on either side → both sockets are shut down, and closed with a reset.
public enum TCPRelay {
  public struct Outcome: Sendable, Equatable {
    /// Bytes read from the first socket and written to the second.
    public var forwarded: UInt64
    /// Bytes read from the second socket and written to the first.
    public var returned: UInt64
    /// The first failure, if the relay ended with an error rather than end of stream both ways.
    public var failure: String?
  }

  /// 64 KiB per direction: large enough to keep a fast link busy, small enough for many connections.
  static let bufferSize = 64 * 1024

  /// Relays until both directions end, then closes both sockets. Blocks the calling thread, which
  /// carries the first→second direction; a second thread carries the other one.
  package static func run(_ first: Socket, _ second: Socket, firstName: String, secondName: String) -> Outcome {
    let failure = Mutex<String?>(nil)
    let fail: @Sendable (String) -> Void = { message in
      let isFirst = failure.withLock { current in
        if current == nil { current = message; return true }
        return false
      }
      // Shutting both sockets down wakes the other direction (its recv returns 0, its send fails).
      if isFirst {
        first.shutdown(.both)
        second.shutdown(.both)
      }
    }
    let returned = Mutex<UInt64>(0)
    let backward: pthread_t
    do {
      backward = try Threads.start(detached: false) {
        let count = pump(from: second, fromName: secondName, to: first, toName: firstName, fail: fail)
        returned.withLock { $0 = count }
      }
    } catch {
      first.close(abortive: true)
      second.close(abortive: true)
      return Outcome(forwarded: 0, returned: 0, failure: "\(error)")
    }
    let forwarded = pump(from: first, fromName: firstName, to: second, toName: secondName, fail: fail)
    Threads.join(backward)
    let failed = failure.withLock { $0 }
    first.close(abortive: failed != nil)
    second.close(abortive: failed != nil)
    return Outcome(forwarded: forwarded, returned: returned.withLock { $0 }, failure: failed)
  }

  /// Copies `source` to `destination` until end of stream (then half-closes `destination`) or error.
  private static func pump(
    from source: Socket, fromName: String, to destination: Socket, toName: String,
    fail: @Sendable (String) -> Void
  ) -> UInt64 {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
    defer { buffer.deallocate() }
    var total: UInt64 = 0
    while true {
      let count: Int
      do {
        count = try source.receive(into: buffer)
      } catch {
        fail("\(fromName) \(error)")
        return total
      }
      if count == 0 {
        destination.shutdown(.write)
        return total
      }
      do {
        try destination.sendAll(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
      } catch {
        fail("\(toName) \(error)")
        return total
      }
      total += UInt64(count)
    }
  }
}
