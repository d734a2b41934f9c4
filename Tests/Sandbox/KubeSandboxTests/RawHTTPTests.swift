import Foundation
import Testing

/// Raw HTTP checks with curl: protocol negotiation, authentication, Status bodies, watch streams.
@Suite("HTTP API")
struct RawHTTPTests {
  @Test func servesHTTP2AndHTTP11() async throws {
    try await SandboxFixture.with { sandbox in
      let h2 = try sandbox.curl("/version")
      #expect(h2.status == 200)
      #expect(h2.httpVersion == "2")
      let h1 = try sandbox.curl("/version", http1: true)
      #expect(h1.status == 200)
      #expect(h1.httpVersion == "1.1")
      let version = try parseJSON(h1.body)
      #expect(version["gitVersion"] as? String == "v1.32.0-kftray-sandbox")
      #expect(version["major"] as? String == "1")
      #expect(version["minor"] as? String == "32")
    }
  }

  @Test func answersExpectContinueAtOnce() async throws {
    try await SandboxFixture.with { sandbox in
      let started = Date()
      let result = try sandbox.curl(
        "/api/v1/namespaces/default/pods", method: "POST",
        body: #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"e"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}"#,
        http1: true, extraArguments: ["-H", "Expect: 100-continue"])
      #expect(result.status == 201)
      // curl waits a full second for a `100 Continue` that never comes.
      #expect(Date().timeIntervalSince(started) < 0.9)
    }
  }

  @Test func anonymousRequestsGetOnlyPublicEndpoints() async throws {
    try await SandboxFixture.with { sandbox in
      for path in ["/version", "/healthz", "/readyz", "/livez", "/api", "/apis"] {
        #expect(try sandbox.curl(path, credentials: .none).status == 200, "\(path)")
      }
      #expect(try sandbox.curl("/readyz", credentials: .none).body == "ok")
      let denied = try sandbox.curl("/api/v1/pods", credentials: .none)
      #expect(denied.status == 401)
      let status = try parseJSON(denied.body)
      #expect(status["kind"] as? String == "Status")
      #expect(status["status"] as? String == "Failure")
      #expect(status["reason"] as? String == "Unauthorized")
      #expect(status["code"] as? Int == 401)
      let badToken = try sandbox.curl("/api/v1/pods", credentials: .token("nope"))
      #expect(badToken.status == 401)
      let goodToken = try sandbox.curl("/api/v1/pods", credentials: .token(try sandbox.token("sandbox-readonly")))
      #expect(goodToken.status == 200)
    }
  }

  @Test func statusErrorBodies() async throws {
    try await SandboxFixture.with { sandbox in
      let missing = try parseJSON(try sandbox.curl("/api/v1/namespaces/default/pods/nope").body)
      #expect(missing["reason"] as? String == "NotFound")
      #expect(missing["code"] as? Int == 404)
      #expect(missing["message"] as? String == "pods \"nope\" not found")
      #expect((missing["details"] as? [String: Any])?["kind"] as? String == "pods")
      let forbidden = try sandbox.curl(
        "/api/v1/namespaces/default/pods/x/portforward", method: "POST",
        credentials: .token(try sandbox.token("sandbox-dev")), http1: true)
      #expect(forbidden.status == 403)
      #expect(
        try parseJSON(forbidden.body)["message"] as? String
          == "pods \"x\" is forbidden: User \"sandbox-dev\" cannot create resource \"pods/portforward\" in API group \"\" in the namespace \"default\""
      )
      let notAllowed = try sandbox.curl("/api/v1/namespaces/default/pods", method: "PUT", body: "{}")
      #expect(notAllowed.status == 405)
      #expect(try parseJSON(notAllowed.body)["reason"] as? String == "MethodNotAllowed")
      let unknown = try sandbox.curl("/api/v1/configmaps")  // a resource the sandbox does not serve
      #expect(unknown.status == 404)
      let invalid = try sandbox.curl(
        "/api/v1/namespaces/default/pods", method: "POST",
        body: #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[{"name":"c"}]}}"#)
      #expect(invalid.status == 422)
      let body = try parseJSON(invalid.body)
      #expect(body["message"] as? String == "Pod \"a\" is invalid: spec.containers[0].image: Required value")
      let causes = try #require((body["details"] as? [String: Any])?["causes"] as? [[String: Any]])
      #expect(causes.first?["field"] as? String == "spec.containers[0].image")
      #expect(causes.first?["reason"] as? String == "FieldValueRequired")
    }
  }

  @Test func dryRunValidatesAndDefaultsWithoutStoring() async throws {
    try await SandboxFixture.with { sandbox in
      let result = try sandbox.curl(
        "/api/v1/namespaces/default/pods?dryRun=All", method: "POST",
        body: #"{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"gen-"},"spec":{"containers":[{"name":"c","image":"nginx:1.25"}]}}"#)
      #expect(result.status == 201)
      let pod = try parseJSON(result.body)
      let metadata = try #require(pod["metadata"] as? [String: Any])
      let name = try #require(metadata["name"] as? String)
      #expect(name.hasPrefix("gen-") && name.count == 9)
      #expect(metadata["uid"] != nil)
      #expect(metadata["resourceVersion"] == nil)
      let container = try #require(((pod["spec"] as? [String: Any])?["containers"] as? [[String: Any]])?.first)
      #expect(container["imagePullPolicy"] as? String == "IfNotPresent")
      #expect(try sandbox.curl("/api/v1/namespaces/default/pods/\(name)").status == 404)
    }
  }

  @Test func createIgnoresClientStatusAndKeepsUnknownFieldsInIgnoreMode() async throws {
    try await SandboxFixture.with { sandbox in
      let created = try sandbox.curl(
        "/api/v1/namespaces/default/pods?fieldValidation=Ignore", method: "POST",
        body: #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"s","annotations":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"busybox","stdin":true}],"nodeName":"node-9"},"status":{"phase":"Running","podIP":"1.2.3.4"}}"#)
      #expect(created.status == 201)
      let pod = try parseJSON(created.body)
      #expect(pod["status"] as? [String: String] == ["phase": "Pending", "qosClass": "BestEffort"])
      // Everything a client sends in spec and metadata survives the round trip.
      let spec = try #require(pod["spec"] as? [String: Any])
      #expect(spec["nodeName"] as? String == "node-9")
      #expect((spec["containers"] as? [[String: Any]])?.first?["stdin"] as? Bool == true)
      #expect(((pod["metadata"] as? [String: Any])?["annotations"] as? [String: String]) == ["a": "b"])
    }
  }

  @Test func boundPodsAreDeletedGracefully() async throws {
    try await SandboxFixture.with { sandbox in
      try sandbox.kubectl("create", "-f", "-", input: podManifest)
      let binding = try sandbox.curl(
        "/api/v1/namespaces/default/pods/x/binding", method: "POST",
        body: #"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"x"},"target":{"kind":"Node","name":"node-1"}}"#)
      #expect(binding.status == 201)
      let again = try sandbox.curl(
        "/api/v1/namespaces/default/pods/x/binding", method: "POST",
        body: #"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"x"},"target":{"kind":"Node","name":"node-2"}}"#)
      #expect(again.status == 409)
      #expect(try sandbox.kubectl("get", "pod", "x", "-o", "jsonpath={.spec.nodeName}").stdout == "node-1")

      let deleted = try sandbox.curl("/api/v1/namespaces/default/pods/x", method: "DELETE")
      #expect(deleted.status == 200)
      let marked = try #require(try parseJSON(deleted.body)["metadata"] as? [String: Any])
      #expect(marked["deletionTimestamp"] != nil)
      #expect(marked["deletionGracePeriodSeconds"] as? Int == 30)
      #expect(try sandbox.curl("/api/v1/namespaces/default/pods/x").status == 200)
      let table = try sandbox.kubectl("get", "pod", "x")
      #expect(table.stdout.contains("Terminating"))

      let final = try sandbox.curl(
        "/api/v1/namespaces/default/pods/x", method: "DELETE", body: #"{"gracePeriodSeconds":0}"#)
      #expect(final.status == 200)
      #expect(try sandbox.curl("/api/v1/namespaces/default/pods/x").status == 404)
    }
  }

  @Test func podStatusSubresourceChangesOnlyStatus() async throws {
    try await SandboxFixture.with { sandbox in
      try sandbox.kubectl("create", "-f", "-", input: podManifest)
      let patched = try sandbox.curl(
        "/api/v1/namespaces/default/pods/x/status", method: "PATCH",
        body: #"{"status":{"phase":"Running","podIP":"10.0.0.7"},"spec":{"restartPolicy":"Never"}}"#,
        contentType: "application/merge-patch+json")
      #expect(patched.status == 200, "\(patched.body)")
      let pod = try parseJSON(patched.body)
      #expect((pod["status"] as? [String: Any])?["phase"] as? String == "Running")
      #expect((pod["spec"] as? [String: Any])?["restartPolicy"] as? String == "Always")
      let byIP = try sandbox.kubectl("get", "pods", "--field-selector", "status.podIP=10.0.0.7", "-o", "name")
      #expect(byIP.stdout.contains("pod/x"))
    }
  }

  @Test func nodesCanBeRegisteredAndUpdated() async throws {
    try await SandboxFixture.with { sandbox in
      let created = try sandbox.curl(
        "/api/v1/nodes", method: "POST",
        body: #"{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-1","labels":{"kubernetes.io/hostname":"node-1"}}}"#)
      #expect(created.status == 201, "\(created.body)")
      let status = try sandbox.curl(
        "/api/v1/nodes/node-1/status", method: "PATCH",
        body: #"{"status":{"conditions":[{"type":"Ready","status":"True"}],"nodeInfo":{"kubeletVersion":"v1.32.0"}}}"#,
        contentType: "application/strategic-merge-patch+json")
      #expect(status.status == 200, "\(status.body)")
      let listed = try sandbox.kubectl("get", "nodes")
      // Columns compared by word: the sandbox's own node (kftray-node) widens the NAME column.
      #expect(
        listed.stdout.split(separator: "\n").contains { $0.split(separator: " ").prefix(3) == ["node-1", "Ready", "<none>"] },
        "\(listed.stdout)")
      #expect(try sandbox.curl("/api/v1/namespaces/default/nodes/node-1").status == 404)
    }
  }

  @Test func watchStreamsOverHTTP11() async throws {
    try await SandboxFixture.with { sandbox in
      let created = try sandbox.kubectl("create", "-f", "-", input: podManifest)
      #expect(created.status == 0, "\(created.stderr)")
      let watch = try sandbox.curl(
        "/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=1", http1: true, extraArguments: ["-N", "-D", "-"])
      #expect(watch.status == 200)
      #expect(watch.body.lowercased().contains("transfer-encoding: chunked"))
      let lines = watch.body.split(whereSeparator: \.isNewline).filter { $0.hasPrefix("{") }
      try #require(lines.count == 1, "\(watch.body)")
      let event = try parseJSON(String(lines[0]))
      #expect(event["type"] as? String == "ADDED")
      #expect(((event["object"] as? [String: Any])?["metadata"] as? [String: Any])?["name"] as? String == "x")
    }
  }

  @Test func watchFromResourceVersionReplaysAndExpires() async throws {
    try await SandboxFixture.with(watchHistory: 4) { sandbox in
      let list = try parseJSON(try sandbox.curl("/api/v1/namespaces/default/pods").body)
      let start = try #require((list["metadata"] as? [String: Any])?["resourceVersion"] as? String)
      try sandbox.kubectl("create", "-f", "-", input: podManifest)
      try sandbox.kubectl("label", "pod", "x", "a=b")
      let replay = try sandbox.curl("/api/v1/namespaces/default/pods?watch=true&resourceVersion=\(start)&timeoutSeconds=1")
      let types = try replay.body.split(separator: "\n").filter { $0.hasPrefix("{") }.map {
        try parseJSON(String($0))["type"] as? String
      }
      #expect(types == ["ADDED", "MODIFIED"])

      for index in 0..<4 { try sandbox.kubectl("label", "pod", "x", "n=\(index)", "--overwrite") }
      let expired = try sandbox.curl("/api/v1/namespaces/default/pods?watch=true&resourceVersion=\(start)&timeoutSeconds=1")
      #expect(expired.status == 200)
      let event = try parseJSON(try #require(expired.body.split(separator: "\n").first.map(String.init)))
      #expect(event["type"] as? String == "ERROR")
      let status = try #require(event["object"] as? [String: Any])
      #expect(status["code"] as? Int == 410)
      #expect(status["reason"] as? String == "Expired")
      #expect((status["message"] as? String)?.hasPrefix("too old resource version: \(start) (") == true)
    }
  }

  @Test func watchSelectorTurnsLabelChangesIntoAddedAndDeleted() async throws {
    try await SandboxFixture.with { sandbox in
      let list = try parseJSON(try sandbox.curl("/api/v1/pods").body)
      let start = try #require((list["metadata"] as? [String: Any])?["resourceVersion"] as? String)
      try sandbox.kubectl("create", "-f", "-", input: podManifest)
      try sandbox.kubectl("label", "pod", "x", "watched=yes")
      try sandbox.kubectl("label", "pod", "x", "watched-")
      let watch = try sandbox.curl(
        "/api/v1/pods?watch=true&resourceVersion=\(start)&labelSelector=watched%3Dyes&timeoutSeconds=1")
      let types = try watch.body.split(separator: "\n").filter { $0.hasPrefix("{") }.map {
        try parseJSON(String($0))["type"] as? String
      }
      #expect(types == ["ADDED", "DELETED"])
    }
  }

  @Test func watchOnForbiddenNamespaceIs403() async throws {
    try await SandboxFixture.with { sandbox in
      let result = try sandbox.curl(
        "/api/v1/namespaces/default/pods?watch=true", credentials: .token(try sandbox.token("sandbox-dev")))
      #expect(result.status == 403)
      #expect(
        try parseJSON(result.body)["message"] as? String
          == "pods is forbidden: User \"sandbox-dev\" cannot watch resource \"pods\" in API group \"\" in the namespace \"default\""
      )
    }
  }

  @Test func selfSubjectAccessReviewJSON() async throws {
    try await SandboxFixture.with { sandbox in
      let body = #"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"namespace":"dev","verb":"create","resource":"pods","subresource":"portforward"}}}"#
      let dev = try sandbox.curl(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", method: "POST", body: body,
        credentials: .token(try sandbox.token("sandbox-dev")))
      #expect(dev.status == 201)
      #expect((try parseJSON(dev.body)["status"] as? [String: Any])?["allowed"] as? Bool == true)
      let readonly = try sandbox.curl(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", method: "POST", body: body,
        credentials: .token(try sandbox.token("sandbox-readonly")))
      #expect((try parseJSON(readonly.body)["status"] as? [String: Any])?["allowed"] as? Bool == false)
    }
  }

  @Test func discoveryDocuments() async throws {
    try await SandboxFixture.with { sandbox in
      let core = try parseJSON(try sandbox.curl("/api/v1").body)
      let resources = try #require(core["resources"] as? [[String: Any]])
      let pods = try #require(resources.first { $0["name"] as? String == "pods" })
      #expect(pods["shortNames"] as? [String] == ["po"])
      #expect(pods["categories"] as? [String] == ["all"])
      #expect(pods["namespaced"] as? Bool == true)
      let names = Set(resources.compactMap { $0["name"] as? String })
      #expect(names.isSuperset(of: ["pods/log", "pods/portforward", "pods/status", "pods/binding", "namespaces", "nodes"]))
      let groups = try parseJSON(try sandbox.curl("/apis").body)
      #expect((groups["groups"] as? [[String: Any]])?.contains { $0["name"] as? String == "authorization.k8s.io" } == true)
      #expect(try sandbox.curl("/apis/authorization.k8s.io/v1").status == 200)
      let resourcesOutput = try sandbox.kubectl("api-resources")
      #expect(resourcesOutput.stdout.contains("pods                       po"))
    }
  }
}
