import NIOCore
import NIOPosix

#if canImport(Glibc)
  import Glibc
#endif

/// Why a pod's port could not be reached; `description` goes verbatim into the error stream after
/// `error forwarding port P to pod <uid>, uid : `.
public struct PodDialError: Error, Sendable, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// Opens a TCP connection to a port of a pod, the way a container runtime does for `PortForward`.
public protocol PodPortDialer: Sendable {
  /// Connects to `port` of `pod` on `eventLoop` (the session's loop, so the two channels share one
  /// thread). `initializer` installs the session's handler before the connection becomes active.
  /// Fails with a `PodDialError` whose text reads like the runtime's.
  func dial(
    pod: KubeletPod, port: UInt16, on eventLoop: EventLoop,
    initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
  ) -> EventLoopFuture<Channel>
}

/// TEST AND STAND-IN ONLY: connects to `127.0.0.1:<port>` on the host, whatever the pod. There is no
/// isolation at all: every "pod" shares the host's loopback, which is why the SPDY server's tests run a
/// loopback server on a free port and call that port "the pod's port", and why the sandbox uses it only
/// for store pods that have no network namespace yet. Real pods are dialed by `NetnsPodPortDialer`.
public struct LoopbackPodPortDialer: PodPortDialer {
  public init() {}

  public func dial(
    pod: KubeletPod, port: UInt16, on eventLoop: EventLoop,
    initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
  ) -> EventLoopFuture<Channel> {
    let address: SocketAddress
    do {
      address = try SocketAddress(ipAddress: "127.0.0.1", port: Int(port))
    } catch {
      return eventLoop.makeFailedFuture(PodDialError("invalid port \(port)"))
    }
    return ClientBootstrap(group: eventLoop)
      .channelOption(.socketOption(.tcp_nodelay), value: 1)
      // Half-closes from the pod arrive as `inputClosed`, so the session can give the other
      // direction its second (containerd waits up to 1 s before closing the socket).
      .channelOption(.allowRemoteHalfClosure, value: true)
      .connectTimeout(.seconds(10))
      .channelInitializer(initializer)
      .connect(to: address)
      .flatMapErrorThrowing { error in
        // containerd's wording (`sandbox_portforward_linux.go`), with Go's text for the syscall error.
        throw PodDialError(
          "failed to connect to localhost:\(port) inside namespace \"\(pod.uid)\", IPv4: dial tcp4 "
            + "127.0.0.1:\(port): connect: \(Self.reason(error))")
      }
  }

  /// `connection refused` for ECONNREFUSED, as Go prints syscall errors (lowercase strerror).
  static func reason(_ error: Error) -> String {
    if let io = error as? IOError { return String(cString: strerror(io.errnoCode)).lowercased() }
    if error is ChannelError { return "i/o timeout" }
    return "\(error)"
  }
}
