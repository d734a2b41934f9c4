import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL

/// TLS listener on loopback with ALPN `h2` and `http/1.1`; both protocols reach the same
/// `HTTPConnectionHandler` (HTTP/2 streams through `HTTP2FramePayloadToHTTP1ServerCodec`).
///
/// Client certificates are requested and, when presented, verified against the sandbox CA
/// (`.optionalVerification`): a client without one still connects and is then authenticated by token or
/// answered 401, as kube-apiserver does with `VerifyClientCertIfGiven`.
struct HTTPSServer {
  let channel: Channel

  static func start(
    host: String, port: Int, pki: PKI, router: Router, group: EventLoopGroup
  ) async throws -> HTTPSServer {
    let certificate = try NIOSSLCertificate(bytes: Array(pki.server.certificatePEM.utf8), format: .pem)
    let key = try NIOSSLPrivateKey(bytes: Array(pki.server.keyPEM.utf8), format: .pem)
    let ca = try NIOSSLCertificate(bytes: Array(pki.ca.certificatePEM.utf8), format: .pem)
    var configuration = TLSConfiguration.makeServerConfiguration(
      certificateChain: [.certificate(certificate)], privateKey: .privateKey(key))
    configuration.applicationProtocols = ["h2", "http/1.1"]
    configuration.certificateVerification = .optionalVerification
    configuration.trustRoots = .certificates([ca])
    configuration.minimumTLSVersion = .tlsv12
    let context = try NIOSSLContext(configuration: configuration)

    let bootstrap = ServerBootstrap(group: group)
      .serverChannelOption(.backlog, value: 256)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
        }.flatMap {
          channel.configureHTTP2SecureUpgrade(
            h2ChannelConfigurator: { channel in
              let user = Self.certificateUser(of: channel)
              return channel.configureHTTP2Pipeline(mode: .server) { stream in
                stream.eventLoop.makeCompletedFuture {
                  try stream.pipeline.syncOperations.addHandlers([
                    HTTP2FramePayloadToHTTP1ServerCodec(),
                    HTTPConnectionHandler(router: router, isHTTP2: true, certificateUser: user, http1Codec: nil),
                  ])
                }
              }.flatMap { _ in
                channel.eventLoop.makeCompletedFuture {
                  try channel.pipeline.syncOperations.addHandler(CloseOnErrorHandler())
                }
              }
            },
            http1ChannelConfigurator: { channel in
              let user = Self.certificateUser(of: channel)
              return channel.eventLoop.makeCompletedFuture {
                let encoder = HTTPResponseEncoder()
                let decoder = ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes))
                try channel.pipeline.syncOperations.addHandlers([
                  decoder, encoder,
                  HTTPConnectionHandler(
                    router: router, isHTTP2: false, certificateUser: user,
                    http1Codec: .init(encoder: encoder, decoder: decoder)),
                ])
              }
            })
        }
      }
    let channel = try await bootstrap.bind(host: host, port: port).get()
    return HTTPSServer(channel: channel)
  }

  /// The user named by the connection's verified client certificate. Called once the handshake is done
  /// (ALPN resolution happens after it).
  private static func certificateUser(of channel: Channel) -> UserInfo? {
    guard let handler = try? channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
      let certificate = handler.peerCertificate
    else { return nil }
    return Authenticator.user(fromCertificate: certificate)
  }

  var port: Int { channel.localAddress?.port ?? 0 }

  func close() async {
    try? await channel.close()
  }
}

/// Closes an HTTP/2 connection on any error that reaches the end of its pipeline (a TLS shutdown without
/// close_notify, a protocol error). Nothing else would: the HTTP/2 handler reports errors but leaves the
/// connection, and its streams (with their watches), open.
final class CloseOnErrorHandler: ChannelInboundHandler {
  typealias InboundIn = Any

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    context.close(promise: nil)
  }
}
