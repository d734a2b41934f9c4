import Foundation
@testable import KubeSandbox
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import TestSupport

extension PortForwardCluster {
  /// A TLS connection as the sandbox's admin to `port` (the API server's by default, or a tap in
  /// front of it), for tests that write requests and read answers as raw bytes (in the inbox).
  func rawTLSConnection(port: Int? = nil) async throws -> (Channel, NIOLockedValueBox<[UInt8]>) {
    let files = sandbox.files
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.certificateChain = try NIOSSLCertificate.fromPEMFile(files.adminCertificate.path).map { .certificate($0) }
    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: files.adminKey.path, format: .pem))
    tls.trustRoots = .file(files.caCertificate.path)
    tls.applicationProtocols = ["http/1.1"]
    return try await connectRawTLS(group: group, port: port ?? sandbox.port, tls: tls)
  }
}

/// A TLS connection to 127.0.0.1 (server name `localhost`) whose received bytes land in the returned inbox.
func connectRawTLS(
  group: EventLoopGroup, port: Int, tls: TLSConfiguration
) async throws -> (Channel, NIOLockedValueBox<[UInt8]>) {
  let context = try NIOSSLContext(configuration: tls)
  let inbox = NIOLockedValueBox<[UInt8]>([])
  let channel = try await ClientBootstrap(group: group)
    .channelInitializer { channel in
      channel.eventLoop.makeCompletedFuture {
        try channel.pipeline.syncOperations.addHandlers([
          NIOSSLClientHandler(context: context, serverHostname: "localhost"), InboxHandler(inbox),
        ])
      }
    }
    .connect(host: "127.0.0.1", port: port).get()
  return (channel, inbox)
}

/// Reads an HTTP response head from a raw connection's inbox and leaves the bytes after it there.
func waitForResponseHead(_ inbox: NIOLockedValueBox<[UInt8]>) async throws -> String {
  let deadline = Date().addingTimeInterval(10)
  while Date() < deadline {
    let head: String? = inbox.withLockedValue { bytes in
      guard let end = WebSocketTunnel.headEnd(bytes) else { return nil }
      defer { bytes.removeFirst(end) }
      return String(decoding: bytes[..<end], as: UTF8.self)
    }
    if let head { return head }
    try await Task.sleep(nanoseconds: 20_000_000)
  }
  throw TestFailure("no response head")
}
