#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A non-blocking pipe that lets any thread wake an I/O thread blocked in poll. A pipe rather
/// than eventfd so that the same code runs on macOS.
struct WakeupPipe: Sendable {
  let readFD: Int32
  let writeFD: Int32

  init() {
    var fds: [Int32] = [0, 0]
    let rc = pipe(&fds)
    precondition(rc == 0, "pipe() failed: errno \(errno)")
    for fd in fds {
      _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
      _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }
    readFD = fds[0]
    writeFD = fds[1]
  }

  /// A full pipe already means "wake up", so EAGAIN is ignored.
  func signal() {
    var byte: UInt8 = 1
    _ = write(writeFD, &byte, 1)
  }

  func drain() {
    var buffer = [UInt8](repeating: 0, count: 256)
    while read(readFD, &buffer, buffer.count) > 0 {}
  }

  func close() {
    closeDescriptor(readFD)
    closeDescriptor(writeFD)
  }
}

/// `close` is shadowed by methods named close in our types; this calls the C library's.
func closeDescriptor(_ fd: Int32) {
  #if canImport(Glibc)
    _ = Glibc.close(fd)
  #else
    _ = Darwin.close(fd)
  #endif
}
