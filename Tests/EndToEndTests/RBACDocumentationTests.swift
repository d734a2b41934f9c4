import Foundation
import TestSupport
import Testing
import Yams

/// docs/rbac.yaml is the Role the sandbox's `sandbox-dev` user holds in `dev`, rule for rule, so the
/// proxy, cleanup and doctor tests that run as that user prove the documented Role is enough; and
/// nothing it does not grant is allowed to that user there.
@Suite struct RBACDocumentationTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  @Test func theDocumentedRoleIsTheDevUsersRole() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let text = try String(contentsOf: Self.root.appendingPathComponent("docs/rbac.yaml"), encoding: .utf8)
    let role = try #require(try Yams.load(yaml: text) as? [String: Any])
    #expect(role["kind"] as? String == "Role")
    let rules = try #require(role["rules"] as? [[String: Any]])
    var granted: [(verb: String, resource: String, group: String)] = []
    for rule in rules {
      for group in rule["apiGroups"] as? [String] ?? [] {
        for resource in rule["resources"] as? [String] ?? [] {
          for verb in rule["verbs"] as? [String] ?? [] { granted.append((verb, resource, group)) }
        }
      }
    }
    // `kubectl auth can-i VERB pods/x` asks about the pod named x: subresources go in --subresource.
    func canI(_ verb: String, _ resource: String, _ group: String) throws -> Bool {
      let parts = resource.split(separator: "/").map(String.init)
      var arguments = ["auth", "can-i", verb, group.isEmpty ? parts[0] : "\(parts[0]).\(group)", "-n", "dev", "--context", "sandbox-dev"]
      if parts.count == 2 { arguments += ["--subresource", parts[1]] }
      let r = try ClusterTests.kubectl(sandbox, arguments)
      return r.stdout.hasPrefix("yes")
    }
    for (verb, resource, group) in granted {
      #expect(try canI(verb, resource, group), "docs/rbac.yaml grants \(verb) \(resource) (group \"\(group)\") but sandbox-dev may not")
    }
    // What the Role leaves out, the dev user may not do either.
    let verbs = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
    for resource in ["pods", "pods/log", "pods/portforward", "events", "services", "secrets", "pods/exec"] {
      for verb in verbs where !granted.contains(where: { $0.verb == verb && $0.resource == resource && $0.group == "" }) {
        #expect(!(try canI(verb, resource, "")), "sandbox-dev may \(verb) \(resource) in dev, which docs/rbac.yaml does not grant")
      }
    }
  }
}
