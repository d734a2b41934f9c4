import Foundation
import KubeClient
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The wake-up pipe of the I/O loops: a signal writes only while the loop waits, and no signal is
/// lost between a loop looking at its state and blocking.
@Suite("Wake-up pipe")
struct WakeupTests {
  /// poll on the read end alone: is a byte there?
  private func pipeHasByte(_ wakeup: Wakeup, waitingMs: Int32 = 0) -> Bool {
    var fd = pollfd(fd: wakeup.readFD, events: Int16(POLLIN), revents: 0)
    return poll(&fd, 1, waitingMs) > 0
  }

  @Test func aSignalWhileRunningWritesNothingAndTheNextWaitDoesNotBlock() throws {
    let wakeup = try Wakeup()
    wakeup.signal()
    wakeup.signal()
    #expect(!pipeHasByte(wakeup), "the loop was running: no syscall for its signallers")
    #expect(!wakeup.beginWait(), "a signal came since the last look: the wait must not block")
    wakeup.endWait(readable: false)
    #expect(wakeup.beginWait(), "nothing new since: it may block")
    wakeup.endWait(readable: false)
  }

  @Test func aSignalWhileWaitingWritesOneByteThatEndWaitReads() throws {
    let wakeup = try Wakeup()
    #expect(wakeup.beginWait())
    wakeup.signal()
    wakeup.signal()
    #expect(pipeHasByte(wakeup))
    wakeup.endWait(readable: true)
    #expect(!pipeHasByte(wakeup), "one read emptied the pipe")
  }

  /// One thread changes a counter, signals, and waits until the loop has seen the change; the
  /// loop looks at the counter, then waits (blocking, up to 5 s) unless told not to. Every round is
  /// a chance for the signal to land between the look and the wait; a lost one leaves the loop
  /// asleep with a change it has not seen, which the 5 s limit turns into a failure.
  /// Both sides spin on their own threads: on the test process's cooperative pool (two threads on a
  /// two-core machine) the consumer's loop would starve every other suite while it runs.
  @Test func noSignalIsLostAcrossThreads() async throws {
    let wakeup = try Wakeup()
    let counter = Atomic<Int>(0)
    let acknowledged = Atomic<Int>(0)
    let rounds = 20_000
    let producer = Thread {
      for i in 1...rounds {
        counter.store(i, ordering: .releasing)
        wakeup.signal()
        while acknowledged.load(ordering: .acquiring) < i { sched_yield() }
      }
    }
    producer.start()
    let (seen, stalled) = try await Binaries.offPool { () -> (Int, Bool) in
      var seen = 0
      var stalled = false
      while seen < rounds {
        let now = counter.load(ordering: .acquiring)
        if now != seen {
          seen = now
          acknowledged.store(seen, ordering: .releasing)
          continue
        }
        var fd = pollfd(fd: wakeup.readFD, events: Int16(POLLIN), revents: 0)
        let mayBlock = wakeup.beginWait()
        let ready = poll(&fd, 1, mayBlock ? 5000 : 0)
        wakeup.endWait(readable: fd.revents != 0)
        if mayBlock && ready == 0 {
          stalled = true
          break
        }
      }
      return (seen, stalled)
    }
    acknowledged.store(rounds, ordering: .releasing)
    #expect(!stalled, "the loop slept 5 s through a change it had not seen (round \(seen + 1))")
    #expect(seen == rounds)
  }
}
