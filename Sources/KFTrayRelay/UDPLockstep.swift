#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// kftray's UDP-over-TCP framing (spec §1.4): `[length: UInt32 big-endian][payload]` both ways.
public enum UDPFraming {
  /// The largest UDP payload over IPv4 (65535 − 8 − 20); kftray-server rejects longer frames.
  public static let maximumPayload = 65507

  /// The frame the relay writes for "no reply within the timeout" and before closing on an
  /// oversized frame. Clients must not deliver it as a datagram.
  public static let emptyFrame: [UInt8] = [0, 0, 0, 0]

  public static func header(length: Int) -> [UInt8] {
    let value = UInt32(length)
    return [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
  }

  public static func length(header: some Collection<UInt8>) -> UInt32 {
    header.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
  }
}

/// One TCP connection in UDP mode: strict request/reply lockstep over one connected UDP socket.
/// The next frame is not read before the previous reply (or the empty timeout frame) is written,
/// exactly like kftray-server, so the client's own framing stays aligned.
enum UDPLockstep {
  struct Outcome: Sendable, Equatable {
    var requests: UInt64 = 0
    var replies: UInt64 = 0
    var timeouts: UInt64 = 0
    var bytesSent: UInt64 = 0
    var bytesReceived: UInt64 = 0
    var failure: String?
  }

  /// Runs until the client ends the stream or something fails, then closes both sockets.
  static func run(client: Socket, target: Socket, replyTimeout: Duration) -> Outcome {
    var outcome = Outcome()
    // One buffer for both directions: a reply is received at offset 4, after its length prefix, so
    // header and payload go out in a single send.
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 + UDPFraming.maximumPayload, alignment: 16)
    defer {
      buffer.deallocate()
      target.close()
      client.close(abortive: outcome.failure != nil)
    }
    do throws(SocketError) {
      while true {
        let headerBytes = try client.receiveExactly(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<4]))
        if headerBytes == 0 { return outcome }  // clean end between frames
        guard headerBytes == 4 else {
          outcome.failure = "client closed inside a frame header"
          return outcome
        }
        let length = UDPFraming.length(header: buffer[..<4])
        guard length <= UDPFraming.maximumPayload else {
          try client.sendAll(UDPFraming.emptyFrame)
          outcome.failure = "frame length \(length) exceeds \(UDPFraming.maximumPayload)"
          return outcome
        }
        let payload = UnsafeMutableRawBufferPointer(rebasing: buffer[4..<(4 + Int(length))])
        guard try client.receiveExactly(into: payload) == payload.count else {
          outcome.failure = "client closed inside a frame of \(length) bytes"
          return outcome
        }
        // A zero-length frame sends an empty datagram, as kftray-server does.
        var sent: Int
        repeat { sent = send(target.fd, payload.baseAddress, payload.count, 0) } while sent < 0 && errno == EINTR
        guard sent == payload.count else {
          throw SocketError.system(operation: "send datagram", errno: sent < 0 ? errno : EMSGSIZE)
        }
        outcome.requests += 1
        outcome.bytesSent += UInt64(length)

        switch try awaitReply(client: client, target: target, timeout: replyTimeout) {
        case .timedOut:
          try client.sendAll(UDPFraming.emptyFrame)
          outcome.timeouts += 1
        case .clientGone:
          outcome.failure = "client connection closed while waiting for a reply"
          return outcome
        case .readable:
          // Exactly one datagram; a larger one is truncated to the buffer, as in kftray-server.
          let count = try target.receive(into: UnsafeMutableRawBufferPointer(rebasing: buffer[4...]))
          let header = UDPFraming.header(length: count)
          for index in 0..<4 { buffer[index] = header[index] }
          try client.sendAll(UnsafeRawBufferPointer(rebasing: buffer[..<(4 + count)]))
          outcome.replies += 1
          outcome.bytesReceived += UInt64(count)
        }
      }
    } catch {
      // Includes ECONNREFUSED from an ICMP port-unreachable on the connected UDP socket.
      outcome.failure = "\(error)"
      return outcome
    }
  }

  private enum Wait { case readable, timedOut, clientGone }

  /// Waits for the target's datagram. The client socket is watched for hang-up/error only (not for
  /// input: a pipelining client may already have sent the next frame), so that a connection ended
  /// by the server's shutdown does not sit out the whole timeout.
  private static func awaitReply(client: Socket, target: Socket, timeout: Duration) throws(SocketError) -> Wait {
    var descriptors = [
      pollfd(fd: target.fd, events: Int16(POLLIN), revents: 0),
      pollfd(fd: client.fd, events: 0, revents: 0),
    ]
    let ready = pollRetrying(&descriptors, count: 2, timeout: timeout)
    if ready < 0 { throw .system(operation: "poll", errno: errno) }
    if ready == 0 { return .timedOut }
    // POLLERR on the target is a pending ICMP error: the receive reports it.
    if descriptors[0].revents != 0 { return .readable }
    return .clientGone
  }
}
