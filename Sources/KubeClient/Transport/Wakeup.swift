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
/// The descriptors are closed when the last reference goes, never earlier: a descriptor closed
/// while another thread may still signal could be reused by an unrelated file, and a late wake-up
/// byte would land in it.
public final class Wakeup: Sendable {
  public let readFD: Int32
  private let writeFD: Int32
  /// A byte is in the pipe (or about to be): further signals are free until the next drain. The
  /// session reader signals once per received frame, so this saves a syscall per frame under load.
  private let pending = Atomic<Bool>(false)

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

  /// A full pipe already means "wake up", so EAGAIN is ignored.
  public func signal() {
    guard !pending.exchange(true, ordering: .acquiringAndReleasing) else { return }
    var byte: UInt8 = 1
    _ = write(writeFD, &byte, 1)
  }

  /// Empties the pipe (the reader calls it after poll reported `readFD`).
  public func drain() {
    var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
    while withUnsafeMutableBytes(of: &buffer, { read(readFD, $0.baseAddress, $0.count) }) > 0 {}
    // Cleared only after the pipe is empty. Clearing first loses wake-ups: a signal between the
    // clear and the read writes a byte the read then swallows, leaving "pending" set on an empty
    // pipe, so every later signal is skipped. A signal that sees "pending" before this clear
    // changed state before it, and the caller looks at the state after draining.
    pending.store(false, ordering: .releasing)
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
