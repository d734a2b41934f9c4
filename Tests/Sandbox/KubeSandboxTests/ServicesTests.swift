import Foundation
import Testing
import TestSupport

/// The sandbox's read-only Services, through real kubectl: discovery (`svc`), the table, get, and
/// that writes are refused.
@Suite("sandbox Services")
struct ServicesTests {
  @Test func getServicesPrintsTheSeededServices() async throws {
    try await SandboxFixture.with { sandbox in
      let result = try sandbox.kubectl("get", "svc", "-A")
      #expect(result.status == 0, "\(result.stderr)")
      let rows = result.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
      #expect(rows.first == ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"])
      #expect(rows.contains { $0.prefix(6) == ["default", "kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"] })
      #expect(rows.contains { $0.prefix(6) == ["default", "echo", "ClusterIP", "10.96.0.11", "<none>", "7000/TCP"] })
      #expect(rows.contains { $0.prefix(6) == ["default", "udp-echo", "ClusterIP", "10.96.0.14", "<none>", "5353/UDP"] })
      #expect(!result.stdout.contains("internal-service"), "a DNS name without a Service name is not a Service")
      let port = try sandbox.kubectl("get", "service", "web", "-n", "default", "-o", "jsonpath={.spec.ports[0].port}")
      #expect(port.stdout == "80", "\(port.stderr)")
      let refused = try sandbox.kubectl("delete", "svc", "echo", "-n", "default")
      #expect(refused.status != 0)
    }
  }
}
