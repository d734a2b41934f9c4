import Testing

@testable import PortForward

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The forwarder loop's readiness queue (epoll on Linux) on a real socket pair: level-triggered
/// reports that follow the registered interest, hang-ups whatever the interest, nothing after
/// deregistering.
@Suite("Readiness queue")
struct ReadinessQueueTests {
  private func socketPair() -> (Int32, Int32) { DirectDeliveryTests.socketPair() }

  private func ready(_ queue: ReadinessQueue, timeout: Int32 = 0) -> [Int32: Readiness] {
    var events: [Readiness] = []
    queue.wait(timeout: timeout, into: &events)
    return Dictionary(events.map { ($0.fd, $0) }, uniquingKeysWith: { first, _ in first })
  }

  @Test func reportsFollowTheInterest() throws {
    let queue = try ReadinessQueue()
    let (a, b) = socketPair()
    defer {
      close(a)
      close(b)
    }
    queue.register(a, .read)
    #expect(ready(queue).isEmpty, "nothing to read yet, and writability was not asked for")

    var byte: UInt8 = 7
    #expect(write(b, &byte, 1) == 1)
    let first = try #require(ready(queue, timeout: 1000)[a])
    #expect(first.readable && !first.writable && !first.hangup)
    // Level-triggered: still reported while the byte is unread.
    #expect(ready(queue)[a]?.readable == true)

    queue.change(a, to: .write)
    let writable = try #require(ready(queue)[a])
    #expect(writable.writable && !writable.readable)

    queue.change(a, to: [])
    #expect(ready(queue).isEmpty, "no interest: an unread byte and a free buffer are not reported")

    queue.change(a, to: .read)
    #expect(read(a, &byte, 1) == 1)
    #expect(ready(queue).isEmpty, "read: nothing left to report")
  }

  @Test func hangupIsReportedWithoutInterestAndNothingAfterDeregistering() throws {
    let queue = try ReadinessQueue()
    let (a, b) = socketPair()
    defer { close(a) }
    queue.register(a, [])
    close(b)
    let gone = try #require(ready(queue, timeout: 1000)[a])
    #expect(gone.hangup)

    queue.deregister(a)
    #expect(ready(queue).isEmpty)
  }
}
