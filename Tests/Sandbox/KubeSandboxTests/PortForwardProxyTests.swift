import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import PortForwardCodecs
import Testing
import TestSupport

@testable import KubeSandbox

/// The API server side of pods/portforward: authorization, the refusals, the client-frame decoder, and
/// the WebSocket tunnel frame by frame (a raw WebSocket client through the real API server and kubelet).
@Suite("sandbox API server: pods/portforward proxy", .serialized)
struct PortForwardProxyTests {
  /// A router whose only user `u` has the given verbs on pods/portforward, and a bound pod `p`.
  private func router(verbs: [String]) throws -> Router {
    let store = ObjectStore(historyLimit: 100)
    _ = try store.create(
      resource: "nodes", namespace: "", object: NodeRegistration.nodeObject(name: "kftray-node", kubeletPort: 1))
    _ = try store.create(
      resource: "pods", namespace: "default",
      object: ["metadata": ["name": "p", "namespace": "default", "uid": "u-1"], "spec": ["nodeName": "kftray-node"]])
    let authorizer = Authorizer(bindings: [
      Binding(
        name: "pf", namespace: nil, subjects: [.user("u")],
        rules: [PolicyRule(verbs: verbs, apiGroups: [""], resources: ["pods/portforward"])]),
      Binding(
        name: "cluster-admin", namespace: nil, subjects: [.group("system:masters")],
        rules: [PolicyRule(verbs: ["*"], apiGroups: ["*"], resources: ["*"])]),
    ])
    let proxy = KubeletProxy(
      store: store, dialer: try KubeletDialer(pki: try PKI.generate()), group: MultiThreadedEventLoopGroup.singleton)
    return Router(
      authenticator: Authenticator(tokens: []), authorizer: authorizer,
      resources: ResourceAPI(store: store, authorizer: authorizer, nodeStreams: proxy), version: VersionInfo())
  }

  private func request(_ method: HTTPMethod, headers: [(String, String)], user: UserInfo) -> APIRequest {
    APIRequest(
      method: method, uri: "/api/v1/namespaces/default/pods/p/portforward", headers: HTTPHeaders(headers), body: [],
      isHTTP2: false, certificateUser: user)
  }

  private static let webSocketHeaders = [
    ("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Protocol", "SPDY/3.1+portforward.k8s.io"),
  ]

  private func status(_ response: APIResponse) -> (Int, String)? {
    guard case .full(let status, _, let body) = response else { return nil }
    return (Int(status.code), String(decoding: body, as: UTF8.self))
  }

  @Test func webSocketGetAlsoNeedsCreate() throws {
    let user = UserInfo(name: "u", groups: [])
    let getOnly = try router(verbs: ["get"]).handle(request(.GET, headers: Self.webSocketHeaders, user: user))
    let refused = try #require(status(getOnly))
    #expect(refused.0 == 403)
    #expect(refused.1.contains(#"User \"u\" cannot create resource \"pods/portforward\" in API group \"\" in the namespace \"default\""#), "\(refused.1)")
    let both = try router(verbs: ["get", "create"]).handle(request(.GET, headers: Self.webSocketHeaders, user: user))
    guard case .upgrade(let upgrade) = both else {
      Issue.record("expected the tunnel, got \(both)")
      return
    }
    #expect(upgrade.head == nil)  // the 101 waits for the kubelet's answer
    // The SPDY POST needs only create.
    let spdy = try router(verbs: ["create"]).handle(
      request(.POST, headers: [("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1"), ("X-Stream-Protocol-Version", "portforward.k8s.io")], user: user))
    guard case .upgrade = spdy else {
      Issue.record("expected the SPDY proxy, got \(spdy)")
      return
    }
  }

  @Test func legacyWebSocketAndPlainRequestsAreBadRequests() throws {
    let admin = UserInfo(name: "admin", groups: ["system:masters"])
    let router = try router(verbs: [])
    var legacy = Self.webSocketHeaders
    legacy[4] = ("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
    let legacyAnswer = try #require(status(router.handle(request(.GET, headers: legacy, user: admin))))
    #expect(legacyAnswer.0 == 400)
    #expect(legacyAnswer.1.contains("not the legacy WebSocket channel protocol"), "\(legacyAnswer.1)")
    let plain = try #require(status(router.handle(request(.POST, headers: [], user: admin))))
    #expect(plain.0 == 400 && plain.1.contains("Upgrade request required"), "\(plain)")
  }

  @Test func webSocketTunnelCarriesSPDYAndPolicesMessages() async throws {
    try await PortForwardCluster.with { cluster in
      _ = try cluster.createPod("p", port: 80)
      let key = WebSocketHandshake.makeKey()
      let (channel, inbox) = try await cluster.rawTLSConnection()
      defer { channel.close(promise: nil) }
      try await channel.writeAndFlush(
        ByteBuffer(
          string: "GET /api/v1/namespaces/default/pods/p/portforward HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: \(key)\r\n"
            + "Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io\r\n\r\n")
      ).get()
      let head = try await waitForResponseHead(inbox)
      let (status, headers) = WebSocketTunnel.parseHead(Array(head.utf8))
      #expect(status == 101, "\(head)")
      try WebSocketHandshake.validateResponse(status: status, headers: headers, key: key)

      var server = WebSocketFrameDecoder()
      // A WebSocket ping is answered with a pong.
      var out: [UInt8] = []
      try WebSocketFrameEncoder.encodePing([7][...], into: &out)
      // A SPDY PING inside binary messages, split across two of them, reaches the kubelet and comes back.
      let spdyPing = try SPDYFrameEncoder().encode(.ping(SPDYPing(id: 5)))
      WebSocketFrameEncoder.encodeBinary(spdyPing[..<3], into: &out)
      WebSocketFrameEncoder.encodeBinary(spdyPing[3...], into: &out)
      try await channel.writeAndFlush(ByteBuffer(bytes: out)).get()
      var events: [WebSocketEvent] = []
      var tunnelBytes: [UInt8] = []
      let deadline = Date().addingTimeInterval(10)
      while tunnelBytes.count < spdyPing.count || events.isEmpty, Date() < deadline {
        let bytes = inbox.withLockedValue { box -> [UInt8] in
          defer { box = [] }
          return box
        }
        server.append(bytes)
        while let event = try server.nextEvent() {
          if case .binary(let payload) = event { tunnelBytes += payload } else { events.append(event) }
        }
        try await Task.sleep(nanoseconds: 20_000_000)
      }
      #expect(events == [.pong([7])])
      #expect(tunnelBytes == spdyPing)

      // A text message ends the tunnel: close 1003, then the connection closes.
      var text: [UInt8] = []
      try WebSocketFrameEncoder.encodeFrame(opcode: .text, payload: Array("x".utf8)[...], into: &text)
      try await channel.writeAndFlush(ByteBuffer(bytes: text)).get()
      try await channel.closeFuture.get()
      server.append(inbox.withLockedValue { $0 })
      #expect(try server.nextEvent() == .close(code: 1003, reason: "invalid message type received"))
    }
  }
}
