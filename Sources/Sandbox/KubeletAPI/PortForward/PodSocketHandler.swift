import NIOCore

/// Connects a pod socket to its session.
final class PodSocketHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer

  private let session: NIOLoopBound<KubeletPortForwardSession>
  private let forward: NIOLoopBound<ForwardedConnection>

  init(session: NIOLoopBound<KubeletPortForwardSession>, forward: NIOLoopBound<ForwardedConnection>) {
    self.session = session
    self.forward = forward
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    var buffer = unwrapInboundIn(data)
    session.value.podRead(forward.value, &buffer)
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    session.value.podReadComplete()
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if case ChannelEvent.inputClosed = event {
      session.value.podInputClosed(forward.value)
    }
    context.fireUserInboundEventTriggered(event)
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    session.value.podWritabilityChanged(forward.value, writable: context.channel.isWritable)
  }

  func channelInactive(context: ChannelHandlerContext) {
    session.value.podClosed(forward.value)
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    context.close(promise: nil)
  }
}
