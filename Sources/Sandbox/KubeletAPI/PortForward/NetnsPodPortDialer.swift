import CNetns
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
  import Glibc
#endif

/// Connects to a pod's port the way containerd's `PortForward` does: inside the pod's network
/// namespace, to `localhost:<port>` (IPv4), so the pod is reached on its own loopback and nothing on
/// the host's loopback ever answers for it.
///
/// The socket is made and connected on a dedicated, short-lived thread that first enters the pod's
/// namespace with setns(2) (a socket stays in the namespace it was created in, whatever thread uses it
/// later); the connected socket is then handed to NIO with the same options as every pod socket. The
/// thread ends after one dial, so a namespace switch can never leak into a thread that does other work
/// (the same reason containerd runs `NetNS.Do` on a locked OS thread).
///
/// Hand-written because no library on the machine offers it: swift-nio connects only in the caller's
/// namespace, and swift-system / Foundation do not wrap setns(2).
public struct NetnsPodPortDialer: PodPortDialer {
  /// Bound on the connect inside the namespace (a listener with a full backlog drops SYNs).
  public var connectTimeout: TimeAmount

  public init(connectTimeout: TimeAmount = .seconds(10)) {
    self.connectTimeout = connectTimeout
  }

  public func dial(
    pod: KubeletPod, port: UInt16, on eventLoop: EventLoop,
    initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
  ) -> EventLoopFuture<Channel> {
    guard let netnsPath = pod.netnsPath else {
      // containerd's answer for a pod whose sandbox it does not have.
      return eventLoop.makeFailedFuture(PodDialError("failed to find sandbox \"\(pod.uid)\" in store: not found"))
    }
    let promise = eventLoop.makePromise(of: CInt.self)
    let timeoutMilliseconds = Int32(clamping: connectTimeout.nanoseconds / 1_000_000)
    let uid = pod.uid
    Thread.detachNewThread {
      switch NamespacedConnect.connect(netnsPath: netnsPath, port: port, timeoutMilliseconds: timeoutMilliseconds) {
      case .success(let descriptor): promise.succeed(descriptor)
      case .failure(let failure): promise.fail(PodDialError(failure.message(port: port, sandbox: uid)))
      }
    }
    return promise.futureResult.flatMap { descriptor in
      ClientBootstrap(group: eventLoop)
        .channelOption(.socketOption(.tcp_nodelay), value: 1)
        // Half-closes from the pod arrive as `inputClosed` (see LoopbackPodPortDialer).
        .channelOption(.allowRemoteHalfClosure, value: true)
        .channelInitializer(initializer)
        .withConnectedSocket(descriptor)
    }
  }
}

/// One blocking connect to 127.0.0.1:port inside a network namespace, on the calling thread (which it
/// moves into that namespace: call it only on a thread made for it).
public enum NamespacedConnect {
  public enum Failure: Error {
    /// The namespace could not be entered (gone, or no privilege): the pod's sandbox is unusable.
    case namespace(path: String, errno: Int32)
    case connect(errno: Int32)
    case timedOut

    /// containerd's wording (`sandbox_portforward_linux.go`), with Go's text for the syscall error.
    func message(port: UInt16, sandbox: String) -> String {
      switch self {
      case .namespace(let path, let code):
        // A namespace file that is gone is containerd's closed namespace; anything else (no privilege)
        // is the sandbox's own problem, named so it can be fixed.
        if code == ENOENT { return "network namespace for sandbox \"\(sandbox)\" is closed" }
        return "cannot enter network namespace \(path) of sandbox \"\(sandbox)\": \(NamespacedConnect.errnoText(code))"
      case .connect(let code):
        return "failed to connect to localhost:\(port) inside namespace \"\(sandbox)\", IPv4: dial tcp4 "
          + "127.0.0.1:\(port): connect: \(NamespacedConnect.errnoText(code))"
      case .timedOut:
        return "failed to connect to localhost:\(port) inside namespace \"\(sandbox)\", IPv4: dial tcp4 "
          + "127.0.0.1:\(port): i/o timeout"
      }
    }
  }

  /// Go prints syscall errors as lowercase strerror (`connection refused`).
  static func errnoText(_ code: Int32) -> String { String(cString: strerror(code)).lowercased() }

  public static func connect(netnsPath: String, port: UInt16, timeoutMilliseconds: Int32) -> Result<CInt, Failure> {
    let namespace = open(netnsPath, O_RDONLY | O_CLOEXEC)
    guard namespace >= 0 else { return .failure(.namespace(path: netnsPath, errno: errno)) }
    let entered = cnetns_enter_network_namespace(namespace)
    let enterError = errno
    close(namespace)
    guard entered == 0 else { return .failure(.namespace(path: netnsPath, errno: enterError)) }

    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    guard descriptor >= 0 else { return .failure(.connect(errno: errno)) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    let started = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    if started == 0 { return .success(descriptor) }
    guard errno == EINPROGRESS else {
      let code = errno
      close(descriptor)
      return .failure(.connect(errno: code))
    }
    var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
    var ready: Int32
    repeat { ready = poll(&poller, 1, timeoutMilliseconds) } while ready < 0 && errno == EINTR
    guard ready > 0 else {
      close(descriptor)
      return .failure(.timedOut)
    }
    var socketError: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &socketError, &length)
    guard socketError == 0 else {
      close(descriptor)
      return .failure(.connect(errno: socketError))
    }
    return .success(descriptor)
  }
}
