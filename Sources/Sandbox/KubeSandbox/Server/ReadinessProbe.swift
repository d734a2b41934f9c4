import NIOCore
import NIOPosix
import NIOSSL

/// Asks `GET /readyz` over TLS (verifying the server against the sandbox CA, by the `localhost` SAN) and
/// reports whether it answered `200`. Used by `kftray-sandbox up` before it declares the sandbox ready.
public enum ReadinessProbe {
  public static func isReady(port: Int, caPEM: String, timeout: TimeAmount = .seconds(2)) async -> Bool {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    defer { group.shutdownGracefully { _ in } }
    let response = group.next().makePromise(of: String.self)
    do {
      var configuration = TLSConfiguration.makeClientConfiguration()
      configuration.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(caPEM.utf8), format: .pem)])
      configuration.applicationProtocols = ["http/1.1"]
      let context = try NIOSSLContext(configuration: configuration)
      let channel = try await ClientBootstrap(group: group)
        .connectTimeout(timeout)
        .channelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandlers([
              try NIOSSLClientHandler(context: context, serverHostname: "localhost"), ResponseCollector(response),
            ])
          }
        }
        .connect(host: "127.0.0.1", port: port).get()
      let request = "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n"
      try await channel.writeAndFlush(channel.allocator.buffer(string: request)).get()
      let deadline = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
      try? await channel.closeFuture.get()
      deadline.cancel()
      return try await response.futureResult.get().hasPrefix("HTTP/1.1 200")
    } catch {
      response.fail(error)  // a promise must be completed even when the connection never happened
      return false
    }
  }

  /// Collects the whole response and hands it over when the connection closes.
  private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private var received = ""
    private let promise: EventLoopPromise<String>

    init(_ promise: EventLoopPromise<String>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
      var buffer = unwrapInboundIn(data)
      received += buffer.readString(length: buffer.readableBytes) ?? ""
    }

    func channelInactive(context: ChannelHandlerContext) {
      promise.succeed(received)
      context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
  }
}
