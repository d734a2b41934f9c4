import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import Testing

/// The echo upgrade, with a raw TLS client (HTTP/1.1 by ALPN) so the bytes around the 101 are visible.
@Suite("echo upgrade")
struct EchoUpgradeTests {
  final class Collector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let received = NIOLockedValueBox<[UInt8]>([])

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
      let buffer = unwrapInboundIn(data)
      received.withLockedValue { $0 += Array(buffer.readableBytesView) }
    }
  }

  static func connect(_ sandbox: SandboxFixture, group: EventLoopGroup) async throws -> (Channel, Collector) {
    var configuration = TLSConfiguration.makeClientConfiguration()
    configuration.trustRoots = .file(sandbox.sandbox.files.caCertificate.path)
    configuration.applicationProtocols = ["http/1.1"]
    let context = try NIOSSLContext(configuration: configuration)
    let collector = Collector()
    let channel = try await ClientBootstrap(group: group)
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandlers([
            try NIOSSLClientHandler(context: context, serverHostname: "localhost"), collector,
          ])
        }
      }
      .connect(host: "127.0.0.1", port: sandbox.sandbox.port).get()
    return (channel, collector)
  }

  static func request(_ query: String, token: String?) -> String {
    var text = "GET /sandbox/echo-upgrade\(query) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: kftray-echo\r\n"
    if let token { text += "Authorization: Bearer \(token)\r\n" }
    return text + "\r\n"
  }

  @Test func greetingBurstAndEcho() async throws {
    try await SandboxFixture.with { sandbox in
      let group = MultiThreadedEventLoopGroup.singleton
      let (channel, collector) = try await Self.connect(sandbox, group: group)
      // Bytes sent right behind the request must be echoed too (the decoder forwards what it read ahead).
      let request = Self.request("?greeting=hello%20there&burst=1000", token: try sandbox.token("sandbox-readonly"))
      try await channel.writeAndFlush(channel.allocator.buffer(string: request + "early")).get()

      let head = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: kftray-echo\r\n\r\n"
      let burst = (0..<1000).map { UInt8($0 % 251) }
      let expected = Array(head.utf8) + Array("hello there".utf8) + burst + Array("early".utf8)
      #expect(try await eventually { collector.received.withLockedValue { $0.count } >= expected.count })
      #expect(collector.received.withLockedValue { $0 } == expected)

      try await channel.writeAndFlush(channel.allocator.buffer(string: "ping")).get()
      #expect(try await eventually { collector.received.withLockedValue { $0.count } == expected.count + 4 })
      #expect(collector.received.withLockedValue { Array($0.suffix(4)) } == Array("ping".utf8))
      try await channel.close()
    }
  }

  @Test func unauthenticatedUpgradeIs401() async throws {
    try await SandboxFixture.with { sandbox in
      let group = MultiThreadedEventLoopGroup.singleton
      let (channel, collector) = try await Self.connect(sandbox, group: group)
      try await channel.writeAndFlush(channel.allocator.buffer(string: Self.request("", token: nil))).get()
      #expect(try await eventually {
        String(decoding: collector.received.withLockedValue { $0 }, as: UTF8.self).contains("\"code\":401")
      })
      #expect(String(decoding: collector.received.withLockedValue { $0 }, as: UTF8.self).hasPrefix("HTTP/1.1 401 Unauthorized"))
      try await channel.close()
    }
  }

  @Test func upgradeOverHTTP2IsRefused() async throws {
    try await SandboxFixture.with { sandbox in
      let result = try sandbox.curl("/sandbox/echo-upgrade")
      #expect(result.httpVersion == "2")
      #expect(result.status == 400)
    }
  }
}
