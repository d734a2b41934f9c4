import NIOCore
import PortForwardCodecs

/// One forwarded TCP connection: a complete error/data pair and its pod socket. Confined to the
/// session's event loop, like everything the session owns.
final class ForwardedConnection {
  let errorStream: SPDYStreamID
  let dataStream: SPDYStreamID
  let port: UInt16
  /// Set by the channel initializer, before the socket connects.
  var channel: Channel?
  var connected = false
  /// Client bytes that arrived before the pod socket was connected.
  var pending: [ByteBuffer] = []
  var outputShutDown = false
  var closeTimer: Scheduled<Void>?
  var podWritable = true
  /// No more work: the pair failed or the pod socket closed.
  var done = false

  init(errorStream: SPDYStreamID, dataStream: SPDYStreamID, port: UInt16) {
    self.errorStream = errorStream
    self.dataStream = dataStream
    self.port = port
  }
}
