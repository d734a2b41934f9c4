import Foundation
import Testing
import TestSupport

/// Real `/usr/bin/kubectl` against an in-process sandbox over real TLS.
@Suite("kubectl against the sandbox")
struct KubectlTests {
  @Test func versionShowsServerGitVersion() async throws {
    try await SandboxFixture.with { sandbox in
      let result = try sandbox.kubectl("version")
      #expect(result.status == 0, "\(result.stderr)")
      #expect(result.stdout.contains("Server Version: v1.32.0-kftray-sandbox"))
    }
  }

  @Test func getNamespacesPrintsSeededNamespacesAsTable() async throws {
    try await SandboxFixture.with { sandbox in
      let result = try sandbox.kubectl("get", "ns")
      #expect(result.status == 0, "\(result.stderr)")
      let lines = result.stdout.split(separator: "\n")
      #expect(lines.first?.split(separator: " ", omittingEmptySubsequences: true) == ["NAME", "STATUS", "AGE"])
      for name in ["default", "kube-system", "dev", "restricted"] {
        #expect(lines.contains { $0.hasPrefix(name + " ") && $0.contains("Active") }, "missing \(name)")
      }
      let labels = try sandbox.kubectl("get", "ns", "restricted", "-o", "jsonpath={.metadata.labels}")
      #expect(labels.stdout.contains("\"pod-security.kubernetes.io/enforce\":\"restricted\""))
    }
  }

  @Test func getPodsAllNamespaces() async throws {
    try await SandboxFixture.with { sandbox in
      let empty = try sandbox.kubectl("get", "pods", "-A")
      #expect(empty.status == 0, "\(empty.stderr)")
      #expect(empty.stderr.contains("No resources found"))
      try sandbox.kubectl("create", "-f", "-", "-n", "dev", input: podManifest)
      let listed = try sandbox.kubectl("get", "pods", "-A", "-o", "wide")
      let header = listed.stdout.split(separator: "\n").first.map { String($0) } ?? ""
      for column in ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"] {
        #expect(header.contains(column), "header: \(header)")
      }
      #expect(listed.stdout.contains("dev         x      0/1     Pending"))
    }
  }

  @Test func authCanIFollowsRBAC() async throws {
    try await SandboxFixture.with { sandbox in
      let admin = try sandbox.kubectl("auth", "can-i", "create", "pods")
      #expect(admin.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "yes")
      #expect(admin.status == 0)
      let readonly = try sandbox.kubectl("auth", "can-i", "create", "pods", context: "sandbox-readonly")
      #expect(readonly.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "no")
      #expect(readonly.status == 1)
      let readonlyList = try sandbox.kubectl("auth", "can-i", "list", "pods", "-A", context: "sandbox-readonly")
      #expect(readonlyList.stdout.hasPrefix("yes"))
      // The dev user: port-forward and logs in `dev` (its context namespace), nothing in `default`.
      for check in [["create", "pods/portforward"], ["get", "pods/portforward"], ["get", "pods/log"], ["delete", "pods"]] {
        let result = try sandbox.kubectl("auth", "can-i", check[0], check[1], context: "sandbox-dev")
        #expect(result.stdout.hasPrefix("yes"), "\(check)")
      }
      let elsewhere = try sandbox.kubectl("auth", "can-i", "create", "pods", "-n", "default", context: "sandbox-dev")
      #expect(elsewhere.stdout.hasPrefix("no"))
      let update = try sandbox.kubectl("auth", "can-i", "update", "pods", context: "sandbox-dev")
      #expect(update.stdout.hasPrefix("no"))
    }
  }

  @Test func createGetDeletePodWithDefaults() async throws {
    try await SandboxFixture.with { sandbox in
      let created = try sandbox.kubectl("create", "-f", "-", input: podManifest)
      #expect(created.status == 0, "\(created.stderr)")
      #expect(created.stdout.contains("pod/x created"))

      let fetched = try sandbox.kubectl("get", "pod", "x", "-o", "json")
      #expect(fetched.status == 0, "\(fetched.stderr)")
      let pod = try parseJSON(fetched.stdout)
      let metadata = try #require(pod["metadata"] as? [String: Any])
      #expect((metadata["uid"] as? String)?.count == 36)
      #expect(metadata["resourceVersion"] as? String != nil)
      #expect(metadata["creationTimestamp"] as? String != nil)
      #expect(metadata["namespace"] as? String == "default")
      let spec = try #require(pod["spec"] as? [String: Any])
      #expect(spec["restartPolicy"] as? String == "Always")
      #expect(spec["dnsPolicy"] as? String == "ClusterFirst")
      #expect(spec["terminationGracePeriodSeconds"] as? Int == 30)
      #expect(spec["schedulerName"] as? String == "default-scheduler")
      #expect(spec["enableServiceLinks"] as? Bool == true)
      #expect((spec["securityContext"] as? [String: Any])?.isEmpty == true)
      let tolerations = try #require(spec["tolerations"] as? [[String: Any]])
      #expect(Set(tolerations.compactMap { $0["key"] as? String })
        == ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"])
      #expect(tolerations.allSatisfy { $0["tolerationSeconds"] as? Int == 300 })
      let container = try #require((spec["containers"] as? [[String: Any]])?.first)
      #expect(container["imagePullPolicy"] as? String == "Always")
      #expect(container["terminationMessagePath"] as? String == "/dev/termination-log")
      #expect(container["terminationMessagePolicy"] as? String == "File")
      #expect((container["ports"] as? [[String: Any]])?.first?["protocol"] as? String == "TCP")
      let status = try #require(pod["status"] as? [String: Any])
      #expect(status["phase"] as? String == "Pending")
      #expect(status["qosClass"] as? String == "BestEffort")

      let deleted = try sandbox.kubectl("delete", "pod", "x")
      #expect(deleted.status == 0, "\(deleted.stderr)")
      #expect(deleted.stdout.contains("pod \"x\" deleted"))
      let gone = try sandbox.kubectl("get", "pod", "x")
      #expect(gone.status == 1)
      #expect(gone.stderr.contains("Error from server (NotFound): pods \"x\" not found"))
    }
  }

  @Test func watchSeesAddedAndDeleted() async throws {
    try await SandboxFixture.with { sandbox in
      let watch = try BackgroundProcess(
        SandboxFixture.kubectlPath, ["get", "pods", "-w", "--output-watch-events"],
        environment: sandbox.kubectlEnvironment)
      defer { watch.stop() }
      // kubectl lists, prints, then watches from the list's resourceVersion: once the first pod shows up,
      // every later change reaches the watch.
      try sandbox.kubectl("run", "first", "--image=busybox")
      #expect(try await eventually { watch.log.contains("first") }, "\(watch.log)")
      try sandbox.kubectl("create", "-f", "-", input: podManifest)
      #expect(try await eventually { Self.events(watch.log).contains("ADDED x") }, "\(watch.log)")
      try sandbox.kubectl("delete", "pod", "x")
      #expect(try await eventually { Self.events(watch.log).contains("DELETED x") }, "\(watch.log)")
      #expect(Self.events(watch.log) == ["ADDED first", "ADDED x", "DELETED x"])
      #expect(watch.log.contains("EVENT"))
    }
  }

  /// `EVENT NAME` pairs of `kubectl get -w --output-watch-events` output.
  static func events(_ output: String) -> [String] {
    output.split(separator: "\n").compactMap { line in
      let columns = line.split(separator: " ", omittingEmptySubsequences: true)
      guard columns.count > 1, ["ADDED", "MODIFIED", "DELETED"].contains(columns[0]) else { return nil }
      return "\(columns[0]) \(columns[1])"
    }
  }

  @Test func errorsReadAsFromKubeAPIServer() async throws {
    try await SandboxFixture.with { sandbox in
      // 403
      let forbidden = try sandbox.kubectl("create", "-f", "-", "-n", "dev", context: "sandbox-readonly", input: podManifest)
      #expect(forbidden.status == 1)
      #expect(
        forbidden.stderr.contains(
          "pods is forbidden: User \"sandbox-readonly\" cannot create resource \"pods\" in API group \"\" in the namespace \"dev\""
        ), "\(forbidden.stderr)")
      // 403 for a named resource, cluster scope
      let namespace = try sandbox.kubectl("get", "ns", "default", context: "sandbox-dev")
      #expect(
        namespace.stderr.contains(
          "Error from server (Forbidden): namespaces \"default\" is forbidden: User \"sandbox-dev\" cannot get resource \"namespaces\" in API group \"\" at the cluster scope"
        ), "\(namespace.stderr)")
      // 404
      let missing = try sandbox.kubectl("get", "pod", "nope")
      #expect(missing.stderr.contains("Error from server (NotFound): pods \"nope\" not found"))
      // 409
      try sandbox.kubectl("create", "-f", "-", input: podManifest)
      let duplicate = try sandbox.kubectl("create", "-f", "-", input: podManifest)
      #expect(duplicate.status == 1)
      #expect(duplicate.stderr.contains("Error from server (AlreadyExists)"), "\(duplicate.stderr)")
      #expect(duplicate.stderr.contains("pods \"x\" already exists"))
      // 422
      let invalid = try sandbox.kubectl(
        "create", "-f", "-", input: "apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec: {containers: []}\n")
      #expect(invalid.status == 1)
      #expect(invalid.stderr.contains("The Pod \"Bad_Name\" is invalid"), "\(invalid.stderr)")
      #expect(invalid.stderr.contains("* spec.containers: Required value"))
      #expect(
        invalid.stderr.contains(
          "* metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"
        ))
      // 401
      let unauthorized = try sandbox.kubectl("get", "pods", "--token", "not-a-token", context: "sandbox-readonly")
      #expect(unauthorized.status == 1)
      #expect(unauthorized.stderr.contains("error: You must be logged in to the server (Unauthorized)"))
      // 400 for a field the resource cannot select on
      let field = try sandbox.kubectl("get", "pods", "--field-selector", "spec.foo=bar")
      #expect(field.stderr.contains("field label not supported: spec.foo"), "\(field.stderr)")
    }
  }

  @Test func strictFieldValidationRejectsUnknownFields() async throws {
    try await SandboxFixture.with { sandbox in
      let manifest = "apiVersion: v1\nkind: Pod\nmetadata: {name: unk}\nspec: {foo: 1, containers: [{name: c, image: busybox}]}\n"
      let strict = try sandbox.kubectl("create", "-f", "-", input: manifest)
      #expect(strict.status == 1)
      #expect(
        strict.stderr.contains(
          "Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.foo\""),
        "\(strict.stderr)")
      let warn = try sandbox.kubectl("create", "-f", "-", "--validate=warn", input: manifest)
      #expect(warn.status == 0, "\(warn.stderr)")
      #expect(warn.stderr.contains("Warning: unknown field \"spec.foo\""))
    }
  }

  @Test func labelAnnotatePatchAndSelectors() async throws {
    try await SandboxFixture.with { sandbox in
      try sandbox.kubectl("create", "-f", "-", input: podManifest)
      #expect(try sandbox.kubectl("label", "pod", "x", "tier=web").status == 0)
      #expect(try sandbox.kubectl("annotate", "pod", "x", "note=hi").status == 0)
      let patched = try sandbox.kubectl("patch", "pod", "x", "-p", "{\"metadata\":{\"labels\":{\"app\":null,\"k\":\"v\"}}}")
      #expect(patched.status == 0, "\(patched.stderr)")
      let merge = try sandbox.kubectl(
        "patch", "pod", "x", "--type", "merge", "-p", "{\"spec\":{\"activeDeadlineSeconds\":600}}")
      #expect(merge.status == 0, "\(merge.stderr)")
      let labels = try sandbox.kubectl("get", "pod", "x", "-o", "jsonpath={.metadata.labels}")
      #expect(try parseJSON(labels.stdout) as? [String: String] == ["tier": "web", "k": "v"])
      for (selector, expected) in [
        ("tier=web", true), ("tier==web", true), ("tier!=web", false), ("tier in (a,web)", true),
        ("tier notin (web)", false), ("k", true), ("!k", false), ("missing", false), ("!missing", true),
      ] {
        let result = try sandbox.kubectl("get", "pods", "-l", selector, "-o", "name")
        #expect(result.stdout.contains("pod/x") == expected, "selector \(selector)")
      }
      let byField = try sandbox.kubectl("get", "pods", "--field-selector", "status.phase=Pending,metadata.name=x", "-o", "name")
      #expect(byField.stdout.contains("pod/x"))
      let immutable = try sandbox.kubectl("patch", "pod", "x", "-p", "{\"spec\":{\"restartPolicy\":\"Never\"}}")
      #expect(immutable.status == 1)
      #expect(immutable.stderr.contains("spec: Forbidden: pod updates may not change fields other than"))
    }
  }

  @Test func logsAndPortForwardOfAnUnscheduledPod() async throws {
    try await SandboxFixture.with { sandbox in
      try sandbox.kubectl("create", "-f", "-", input: podManifest)
      // kube's LogLocation has no location without a node: an empty 200.
      let logs = try sandbox.kubectl("logs", "x")
      #expect(logs.status == 0, "\(logs.stderr)")
      #expect(logs.stdout.isEmpty)
      let wrongContainer = try sandbox.kubectl("logs", "x", "-c", "nope")
      #expect(wrongContainer.stderr.contains("container nope is not valid for pod x"), "\(wrongContainer.stderr)")
      let forward = try sandbox.curl("/api/v1/namespaces/default/pods/x/portforward", method: "POST", http1: true)
      #expect(forward.status == 400)
      #expect(try parseJSON(forward.body)["message"] as? String == "pod x does not have a host assigned")
    }
  }

  @Test func whoAmIAndReplace() async throws {
    try await SandboxFixture.with { sandbox in
      let whoami = try sandbox.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}", context: "sandbox-dev")
      #expect(whoami.stdout == "sandbox-dev [\"sandbox:developers\",\"system:authenticated\"]", "\(whoami.stderr)")
      #expect(try sandbox.kubectl("apply", "-f", "-", input: podManifest).status == 0)
      let applied = try sandbox.kubectl("apply", "-f", "-", input: podManifest.replacingOccurrences(of: "app: demo", with: "app: other"))
      #expect(applied.stdout.contains("pod/x configured"), "\(applied.stderr)")
      #expect(try sandbox.kubectl("get", "pod", "x", "-o", "jsonpath={.metadata.labels.app}").stdout == "other")
      // Updates are defaulted like creates; the image may change, an immutable field may not.
      let current = try sandbox.kubectl("get", "pod", "x", "-o", "json").stdout
      let replaced = try sandbox.kubectl(
        "replace", "-f", "-", input: current.replacingOccurrences(of: "\"busybox\"", with: "\"busybox:1.36\""))
      #expect(replaced.status == 0, "\(replaced.stderr)")
      #expect(try sandbox.kubectl("get", "pod", "x", "-o", "jsonpath={.spec.containers[0].image}").stdout == "busybox:1.36")
      let stale = try sandbox.kubectl("replace", "-f", "-", input: current)
      #expect(
        stale.stderr.contains(
          "Operation cannot be fulfilled on pods \"x\": the object has been modified; please apply your changes to the latest version and try again"
        ))
      let latest = try sandbox.kubectl("get", "pod", "x", "-o", "json").stdout
      let immutable = try sandbox.kubectl(
        "replace", "-f", "-", input: latest.replacingOccurrences(of: "\"ClusterFirst\"", with: "\"Default\""))
      #expect(immutable.stderr.contains("spec: Forbidden: pod updates may not change fields other than"))
    }
  }

  @Test func impersonation() async throws {
    try await SandboxFixture.with { sandbox in
      let asReadonly = try sandbox.kubectl("auth", "can-i", "create", "pods", "--as", "sandbox-readonly")
      #expect(asReadonly.stdout.hasPrefix("no"))
      let asDev = try sandbox.kubectl("auth", "can-i", "create", "pods/portforward", "-n", "dev", "--as", "sandbox-dev")
      #expect(asDev.stdout.hasPrefix("yes"))
      let whoami = try sandbox.kubectl(
        "auth", "whoami", "--as", "bob", "--as-group", "team", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}")
      #expect(whoami.stdout == "bob [\"team\",\"system:authenticated\"]", "\(whoami.stderr)")
      let refused = try sandbox.kubectl("get", "pods", "--as", "sandbox-dev", context: "sandbox-readonly")
      #expect(
        refused.stderr.contains(
          "users \"sandbox-dev\" is forbidden: User \"sandbox-readonly\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
        ), "\(refused.stderr)")
    }
  }

  @Test func namespaceLifecycle() async throws {
    try await SandboxFixture.with { sandbox in
      #expect(try sandbox.kubectl("create", "namespace", "tmp").status == 0)
      #expect(try sandbox.kubectl("run", "p", "-n", "tmp", "--image=busybox").status == 0)
      let deleted = try sandbox.kubectl("delete", "namespace", "tmp")
      #expect(deleted.status == 0, "\(deleted.stderr)")
      let gone = try sandbox.kubectl("get", "namespace", "tmp")
      #expect(gone.stderr.contains("namespaces \"tmp\" not found"))
      let immortal = try sandbox.kubectl("delete", "namespace", "default")
      #expect(immortal.stderr.contains("namespaces \"default\" is forbidden: this namespace may not be deleted"))
    }
  }
}
