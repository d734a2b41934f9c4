import NIOCore
import NIOPosix

#if canImport(Glibc)
  import Glibc
#endif

/// A pod as the kubelet knows it: enough to name it in error texts and to find its network.
public struct KubeletPod: Sendable, Equatable {
  public var namespace: String
  public var name: String
  public var uid: String

  public init(namespace: String, name: String, uid: String) {
    self.namespace = namespace
    self.name = name
    self.uid = uid
  }
}

/// The pods bound to this kubelet's node. The kubelet asks at upgrade time (unknown pod → 404) and again
/// before each forwarded connection: a pod deleted while a session is open must fail new connections,
/// as a runtime whose sandbox is gone does.
public protocol KubeletPodDirectory: Sendable {
  func pod(namespace: String, name: String) -> KubeletPod?
}

/// The in-process directory: reads the sandbox API server's store directly (pods whose `spec.nodeName`
/// is this node and that are not being deleted). The node agent will replace it with a pod cache fed
/// by a watch through the public API, as a kubelet has.
struct StorePodDirectory: KubeletPodDirectory {
  let store: ObjectStore
  let nodeName: String

  func pod(namespace: String, name: String) -> KubeletPod? {
    guard let pod = store.get(ObjectKey(resource: "pods", namespace: namespace, name: name)),
      pod["spec"]?["nodeName"]?.stringValue == nodeName,
      pod["metadata"]?["deletionTimestamp"] == nil
    else { return nil }
    return KubeletPod(namespace: namespace, name: name, uid: pod["metadata"]?["uid"]?.stringValue ?? "")
  }
}

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

/// STAND-IN until pods get network namespaces: connects to `127.0.0.1:<port>` on the host, whatever the
/// pod. There is no isolation at all: every "pod" shares the host's loopback, which is why the tests
/// run a loopback echo server on a free port and call that port "the pod's port". The real dialer
/// (next issue) enters the pod's network namespace and dials `localhost:<port>` there, as containerd
/// does; only this type changes, the session above it stays as it is.
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
