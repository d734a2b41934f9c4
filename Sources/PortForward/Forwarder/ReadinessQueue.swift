import KubeClient
import Synchronization

#if canImport(Glibc)
  import CEpoll
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// What the forwarder loop wants to hear about a descriptor. Hang-ups and errors are always
/// reported, whatever the interest (as poll(2) and epoll do).
struct Interest: OptionSet, Sendable, Equatable {
  let rawValue: UInt8
  static let read = Interest(rawValue: 1)
  static let write = Interest(rawValue: 2)
}

/// One descriptor's state from `ReadinessQueue.wait`.
struct Readiness: Sendable {
  var fd: Int32
  var readable: Bool
  var writable: Bool
  /// POLLHUP/EPOLLHUP or an error on the socket.
  var hangup: Bool
}

/// Level-triggered readiness of many descriptors, for the forwarder loop's thread.
///
/// On Linux it is epoll: a wait costs what is ready, not what is registered. With 500 local
/// connections open, poll(2) over all of them on every wake-up was a fifth of the client's CPU
/// (sock_poll, fdget, tcp_poll per descriptor per call). Elsewhere it is poll(2) over the
/// registered set, which costs what the loop paid before on every platform.
///
/// Interest changes are syscalls on Linux and a locked table elsewhere, so the queue is Sendable
/// as it stands; only the loop thread changes or waits on it.
final class ReadinessQueue: Sendable {
  #if os(Linux)
    private let epollFD: Int32

    init() throws(PortForwarderError) {
      epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
      guard epollFD >= 0 else {
        throw .socket("cannot create an epoll instance: \(String(cString: strerror(errno)))")
      }
    }

    deinit { closeDescriptor(epollFD) }

    func register(_ fd: Int32, _ interest: Interest) { control(EPOLL_CTL_ADD, fd, interest) }

    func change(_ fd: Int32, to interest: Interest) { control(EPOLL_CTL_MOD, fd, interest) }

    /// Before the descriptor is closed (closing would drop it anyway, unless a duplicate lives).
    func deregister(_ fd: Int32) {
      var event = epoll_event()
      _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, &event)
    }

    /// Waits up to `timeout` ms (-1: no limit) and replaces `ready` with what is ready.
    func wait(timeout: Int32, into ready: inout [Readiness]) {
      ready.removeAll(keepingCapacity: true)
      withUnsafeTemporaryAllocation(of: epoll_event.self, capacity: 256) { events in
        let n = epoll_wait(epollFD, events.baseAddress, Int32(events.count), timeout)
        guard n > 0 else { return }
        let hangup = EPOLLHUP.rawValue | EPOLLERR.rawValue
        for event in events[..<Int(n)] {
          ready.append(
            Readiness(
              fd: event.data.fd, readable: event.events & EPOLLIN.rawValue != 0,
              writable: event.events & EPOLLOUT.rawValue != 0, hangup: event.events & hangup != 0))
        }
      }
    }

    private func control(_ operation: Int32, _ fd: Int32, _ interest: Interest) {
      var event = epoll_event()
      event.events = (interest.contains(.read) ? EPOLLIN.rawValue : 0) | (interest.contains(.write) ? EPOLLOUT.rawValue : 0)
      event.data.fd = fd
      _ = epoll_ctl(epollFD, operation, fd, &event)
    }
  #else
    private let registered = Mutex<[Int32: Interest]>([:])

    init() throws(PortForwarderError) {}

    func register(_ fd: Int32, _ interest: Interest) { registered.withLock { $0[fd] = interest } }

    func change(_ fd: Int32, to interest: Interest) { registered.withLock { $0[fd] = interest } }

    func deregister(_ fd: Int32) { _ = registered.withLock { $0.removeValue(forKey: fd) } }

    func wait(timeout: Int32, into ready: inout [Readiness]) {
      ready.removeAll(keepingCapacity: true)
      var fds = registered.withLock { table in
        table.map { fd, interest in
          pollfd(
            fd: fd,
            events: (interest.contains(.read) ? Int16(POLLIN) : 0) | (interest.contains(.write) ? Int16(POLLOUT) : 0),
            revents: 0)
        }
      }
      guard poll(&fds, nfds_t(fds.count), timeout) > 0 else { return }
      for entry in fds where entry.revents != 0 {
        ready.append(
          Readiness(
            fd: entry.fd, readable: entry.revents & Int16(POLLIN) != 0, writable: entry.revents & Int16(POLLOUT) != 0,
            hangup: entry.revents & Int16(POLLHUP | POLLERR) != 0))
      }
    }
  #endif
}
