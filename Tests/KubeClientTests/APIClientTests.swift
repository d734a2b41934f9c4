import Foundation
import KubeClient
import TestSupport
import Testing

/// The typed API calls against a running sandbox over real TLS.
@Suite struct APIClientTests {
  static func uniqueName(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())" }

  /// A pod no node takes (its nodeSelector matches none), so it stays Pending and only these tests
  /// change it: the sandbox's node agent would otherwise bind and run it, adding status events.
  static func busybox(_ name: String, labels: [String: String] = [:]) -> Pod {
    var container = Container(name: "main", image: "busybox:1.36")
    container.command = ["sleep", "3600"]
    var spec = PodSpec(containers: [container])
    // A scheduler nobody runs: the pod stays unscheduled and untouched (a node selector that matches
    // no node would get the scheduler's PodScheduled=False status update, an extra watch event).
    spec.schedulerName = "kftray-test-no-scheduler"
    return Pod(metadata: ObjectMeta(name: name, labels: labels), spec: spec)
  }

  @Test func versionWithClientCertificate() async throws {
    let api = try await SandboxCluster.shared.client(context: "sandbox-admin")
    defer { api.shutdown() }
    let version = try await api.version()
    #expect(version.gitVersion.hasPrefix("v1."))
    #expect(version.major == "1")
  }

  @Test func namespaceWithBearerToken() async throws {
    let api = try await SandboxCluster.shared.client(context: "sandbox-dev")
    defer { api.shutdown() }
    #expect(api.config.namespace == "dev")
    let ns = try await api.namespace("dev")
    #expect(ns.metadata.name == "dev")
    #expect(ns.status?.phase == "Active")
  }

  @Test func podLifecycle() async throws {
    let api = try await SandboxCluster.shared.client(context: "sandbox-dev")
    defer { api.shutdown() }
    let name = Self.uniqueName("life")
    let created = try await api.createPod(Self.busybox(name, labels: ["suite": "lifecycle", "run": name]), namespace: "dev")
    #expect(created.metadata.uid != nil)
    #expect(created.metadata.resourceVersion != nil)
    #expect(created.spec?.restartPolicy == "Always", "the server defaults restartPolicy")
    #expect(created.status?.phase == "Pending")

    let fetched = try await api.pod(name, namespace: "dev")
    #expect(fetched.metadata.uid == created.metadata.uid)

    let byLabel = try await api.listPods(namespace: "dev", labelSelector: "run=\(name)")
    #expect(byLabel.items.map(\.metadata.name) == [name])
    let byField = try await api.listPods(namespace: "dev", fieldSelector: "metadata.name=\(name)")
    #expect(byField.items.count == 1)
    let none = try await api.listPods(namespace: "dev", labelSelector: "run=\(name),suite!=lifecycle")
    #expect(none.items.isEmpty)

    let patched = try await api.mergePatchPod(name, namespace: "dev", patch: Data(#"{"metadata":{"labels":{"patched":"yes"}}}"#.utf8))
    #expect(patched.metadata.labels?["patched"] == "yes")
    #expect(patched.metadata.labels?["run"] == name)

    let deleted = try await api.deletePod(name, namespace: "dev", gracePeriodSeconds: 0)
    #expect(deleted?.metadata.name == name)
    await #expect(throws: KubeError.self) { try await api.pod(name, namespace: "dev") }
  }

  @Test func dryRunStoresNothing() async throws {
    let api = try await SandboxCluster.shared.client(context: "sandbox-dev")
    defer { api.shutdown() }
    let name = Self.uniqueName("dry")
    let pod = try await api.createPod(Self.busybox(name), namespace: "dev", dryRun: true)
    #expect(pod.metadata.name == name)
    #expect(pod.spec?.terminationGracePeriodSeconds == 30, "dry run still defaults")
    do {
      _ = try await api.pod(name, namespace: "dev")
      Issue.record("a dry-run pod must not be stored")
    } catch {
      #expect(error.isNotFound)
    }
  }

  @Test func notFoundCarriesTheStatus() async throws {
    let api = try await SandboxCluster.shared.client(context: "sandbox-dev")
    defer { api.shutdown() }
    do {
      _ = try await api.pod("does-not-exist", namespace: "dev")
      Issue.record("expected 404")
    } catch {
      #expect(error.httpStatus == 404)
      #expect(error.reason == "NotFound")
      #expect(error.status?.message == #"pods "does-not-exist" not found"#)
    }
  }

  @Test func duplicateIsAlreadyExists() async throws {
    let api = try await SandboxCluster.shared.client(context: "sandbox-dev")
    defer { api.shutdown() }
    let name = Self.uniqueName("dup")
    _ = try await api.createPod(Self.busybox(name), namespace: "dev")
    defer { Task { try? await api.deletePod(name, namespace: "dev", gracePeriodSeconds: 0) } }
    do {
      _ = try await api.createPod(Self.busybox(name), namespace: "dev")
      Issue.record("expected 409")
    } catch {
      #expect(error.httpStatus == 409)
      #expect(error.isAlreadyExists)
      #expect(error.status?.message == #"pods "\#(name)" already exists"#)
    }
  }

  @Test func forbiddenCarriesTheRBACMessage() async throws {
    let api = try await SandboxCluster.shared.client(context: "sandbox-readonly")
    defer { api.shutdown() }
    do {
      _ = try await api.createPod(Self.busybox(Self.uniqueName("ro")), namespace: "dev")
      Issue.record("expected 403")
    } catch {
      #expect(error.httpStatus == 403)
      #expect(error.reason == "Forbidden")
      #expect(
        error.status?.message
          == #"pods is forbidden: User "sandbox-readonly" cannot create resource "pods" in API group "" in the namespace "dev""#)
      #expect(error.description.contains("Ask a cluster administrator"))
    }
  }

  @Test func invalidPodIsUnprocessable() async throws {
    let api = try await SandboxCluster.shared.client(context: "sandbox-dev")
    defer { api.shutdown() }
    var pod = Self.busybox("Invalid_Name")
    pod.spec?.containers[0].name = "main"
    do {
      _ = try await api.createPod(pod, namespace: "dev")
      Issue.record("expected 422")
    } catch {
      #expect(error.httpStatus == 422)
      #expect(error.reason == "Invalid")
      #expect(error.status?.message?.hasPrefix(#"Pod "Invalid_Name" is invalid: metadata.name: Invalid value: "Invalid_Name""#) == true)
    }
  }

  @Test func wrongTokenIsUnauthorized() async throws {
    var overrides = ConfigOverrides()
    overrides.token = "not-a-valid-token"
    let api = try await SandboxCluster.shared.client(context: "sandbox-readonly", overrides: overrides)
    defer { api.shutdown() }
    do {
      _ = try await api.listPods(namespace: "dev")
      Issue.record("expected 401")
    } catch {
      #expect(error.isUnauthorized)
      #expect(error.reason == "Unauthorized")
    }
  }

  @Test func accessReviewFollowsRBAC() async throws {
    let admin = try await SandboxCluster.shared.client(context: "sandbox-admin")
    let readonly = try await SandboxCluster.shared.client(context: "sandbox-readonly")
    let dev = try await SandboxCluster.shared.client(context: "sandbox-dev")
    defer {
      admin.shutdown()
      readonly.shutdown()
      dev.shutdown()
    }
    let createPods = ResourceAttributes(namespace: "dev", verb: "create", resource: "pods")
    #expect(try await admin.accessReview(createPods).allowed)
    #expect(try await readonly.accessReview(createPods).allowed == false)
    #expect(try await readonly.accessReview(ResourceAttributes(namespace: "dev", verb: "list", resource: "pods")).allowed)
    let forward = ResourceAttributes(namespace: "dev", verb: "create", resource: "pods", subresource: "portforward")
    #expect(try await dev.accessReview(forward).allowed)
    #expect(try await dev.accessReview(ResourceAttributes(namespace: "default", verb: "create", resource: "pods")).allowed == false)
  }

  @Test func impersonationActsAsTheOtherUser() async throws {
    var overrides = ConfigOverrides()
    overrides.impersonateUser = "sandbox-readonly"
    let api = try await SandboxCluster.shared.client(context: "sandbox-admin", overrides: overrides)
    defer { api.shutdown() }
    let result = try await api.accessReview(ResourceAttributes(namespace: "dev", verb: "create", resource: "pods"))
    #expect(result.allowed == false)
  }

  /// kube-apiserver has no kubelet to ask for a pod without a node, and answers with an empty body
  /// (pkg/registry/core/pod LogLocation); the follow stream must simply end, not hang.
  @Test func logsOfAPodWithoutNodeEndEmpty() async throws {
    let api = try await SandboxCluster.shared.client(context: "sandbox-dev")
    defer { api.shutdown() }
    let name = Self.uniqueName("logs")
    _ = try await api.createPod(Self.busybox(name), namespace: "dev")
    defer { Task { try? await api.deletePod(name, namespace: "dev", gracePeriodSeconds: 0) } }
    var received = Data()
    for try await chunk in try await api.podLogs(name, namespace: "dev", follow: true) { received.append(chunk) }
    #expect(received.isEmpty)
    do {
      _ = try await api.podLogs("no-such-pod", namespace: "dev")
      Issue.record("expected 404")
    } catch {
      #expect(error.isNotFound)
    }
  }

  @Test func requestsShareOneHTTP2Connection() async throws {
    let api = try await SandboxCluster.shared.client(context: "sandbox-dev")
    defer { api.shutdown() }
    try await withThrowingTaskGroup(of: Void.self) { group in
      for _ in 0..<20 { group.addTask { _ = try await api.listPods(namespace: "dev") } }
      try await group.waitForAll()
    }
    _ = try await api.version()
    let stats = api.transportStatistics
    #expect(stats.requests == 21)
    #expect(stats.newConnections <= 2, "HTTP/2 multiplexing should need one connection, got \(stats.newConnections)")
  }
}

