import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Creating a wake-up pipe failed (EMFILE, ENFILE): the caller reports it instead of crashing.
public struct WakeupError: Error, Sendable, Equatable, CustomStringConvertible {
  public var errno: Int32
  public var description: String { "cannot create a wake-up pipe: \(String(cString: strerror(errno)))" }
}

/// Lets any thread wake an I/O thread blocked in poll: the I/O thread polls `readFD`, others call
/// `signal()`. A pipe rather than eventfd so that the same code runs on macOS.
///
/// The I/O thread brackets each poll with `beginWait()` and `endWait(readable:)`, and looks at
/// its shared state after every `endWait`. A signal writes to the pipe only while the thread is
/// in (or entering) its poll; a signal while it runs only makes its next `beginWait()` say "do not
/// block". A busy I/O thread (a bulk transfer: the forwarder queues while the connection's thread
/// sends, and the other way round) then costs its signallers no syscall, and itself no extra
/// poll round and pipe read per signal.
///
/// The descriptors are closed when the last reference goes, never earlier: a descriptor closed
/// while another thread may still signal could be reused by an unrelated file, and a late wake-up
/// byte would land in it.
public final class Wakeup: Sendable {
  public let readFD: Int32
  private let writeFD: Int32
  private let state = Atomic<UInt8>(Phase.running)

  /// The I/O thread's phase, as signallers see it.
  private enum Phase {
    /// Running: a signal only sets `notified`.
    static let running: UInt8 = 0
    /// Signalled while running: the next wait must not block.
    static let notified: UInt8 = 1
    /// In (or entering) poll: a signal writes a byte.
    static let waiting: UInt8 = 2
    /// A byte was written (or is being written) for this wait: later signals are free.
    static let written: UInt8 = 3
  }

  public init() throws(WakeupError) {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw WakeupError(errno: errno) }
    for fd in fds {
      _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
      _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }
    readFD = fds[0]
    writeFD = fds[1]
  }

  /// Called after changing state the I/O thread must look at. A full pipe already means "wake
  /// up", so EAGAIN is ignored.
  public func signal() {
    var current = state.load(ordering: .acquiring)
    while true {
      let next: UInt8
      switch current {
      case Phase.running: next = Phase.notified
      case Phase.waiting: next = Phase.written
      default: return
      }
      let (exchanged, actual) = state.compareExchange(
        expected: current, desired: next, ordering: .acquiringAndReleasing)
      if exchanged {
        if next == Phase.written {
          var byte: UInt8 = 1
          _ = write(writeFD, &byte, 1)
        }
        return
      }
      current = actual
    }
  }

  /// The I/O thread, right before its poll (with `readFD` in it): true if the poll may block;
  /// false if a signal came since the last `endWait`, so that the thread polls without waiting and
  /// looks at its state again.
  public func beginWait() -> Bool {
    let (exchanged, _) = state.compareExchange(
      expected: Phase.running, desired: Phase.waiting, ordering: .acquiringAndReleasing)
    if exchanged { return true }
    state.store(Phase.running, ordering: .releasing)
    return false
  }

  /// The I/O thread, after its poll; `readable`: the poll reported `readFD`. A byte can arrive
  /// after the poll returned (its signal saw the thread still waiting): it is read after the next
  /// poll, which it ends at once.
  public func endWait(readable: Bool) {
    _ = state.exchange(Phase.running, ordering: .acquiringAndReleasing)
    guard readable else { return }
    // Signals write one byte per wait, so one read empties the pipe.
    var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
    _ = withUnsafeMutableBytes(of: &buffer) { read(readFD, $0.baseAddress, $0.count) }
  }

  deinit {
    closeDescriptor(readFD)
    closeDescriptor(writeFD)
  }
}

/// `close` is shadowed by methods named close in our types; this calls the C library's. `package`:
/// the engine's listeners and forwarded sockets close through it too.
package func closeDescriptor(_ fd: Int32) {
  #if canImport(Glibc)
    _ = Glibc.close(fd)
  #else
    _ = Darwin.close(fd)
  #endif
}
