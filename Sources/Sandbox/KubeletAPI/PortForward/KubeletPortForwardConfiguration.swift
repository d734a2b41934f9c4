import NIOCore

/// Timing and sizing of a port-forward session; defaults are the real ones.
public struct KubeletPortForwardConfiguration: Sendable {
  /// Both streams of a request id must arrive within this (`DefaultStreamCreationTimeout`, 30 s).
  public var streamCreationTimeout: TimeAmount = .seconds(30)
  /// After one direction of a forwarded connection ends, the other gets this long before the pod socket
  /// is closed (containerd's `PortForward` waits at most 1 s).
  public var halfCloseGrace: TimeAmount = .seconds(1)
  /// Largest DATA payload sent towards the client (Go's `io.Copy` buffer is 32 KiB).
  public var maximumDataFrame = 32 * 1024

  public init() {}
}
