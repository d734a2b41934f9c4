import Foundation
import Testing

@testable import KubeSandbox

@Suite("building blocks")
struct UnitTests {
  @Test func labelSelectorParsingAndMatching() throws {
    let labels = ["app": "web", "tier": "front", "n": "5"]
    let cases: [(String, Bool)] = [
      ("app=web", true), ("app==web", true), ("app!=web", false), ("app in (a, web)", true), ("app notin (web)", false),
      ("tier", true), ("!tier", false), ("missing", false), ("!missing", true), ("n>4", true), ("n<5", false),
      ("app=web,tier=front", true), ("app=web,tier=back", false), ("", true),
    ]
    for (text, expected) in cases {
      #expect(try LabelSelector(parsing: text).matches(labels) == expected, "\(text)")
    }
    #expect(throws: StatusError.self) { try LabelSelector(parsing: "a b=c") }
  }

  @Test func fieldSelectorRejectsUnsupportedFields() throws {
    let selector = try FieldSelector(parsing: "status.phase=Running,metadata.name!=x", supported: Pods.definition.selectableFields)
    #expect(selector.matches(["status.phase": "Running", "metadata.name": "y"]))
    #expect(!selector.matches(["status.phase": "Running", "metadata.name": "x"]))
    #expect(throws: StatusError.badRequest("field label not supported: spec.foo")) {
      try FieldSelector(parsing: "spec.foo=1", supported: Pods.definition.selectableFields)
    }
  }

  @Test func mergeAndStrategicPatches() throws {
    let pod: JSONValue = [
      "metadata": ["labels": ["a": "1", "b": "2"]],
      "spec": ["containers": [["name": "c", "image": "old"], ["name": "d", "image": "keep"]]],
    ]
    let merged = Patch.mergePatch(["metadata": ["labels": ["a": nil, "c": "3"]]], to: pod)
    #expect(merged["metadata"]?["labels"] == ["b": "2", "c": "3"])
    let strategic = Patch.strategicMerge(["spec": ["containers": [["name": "c", "image": "new"]]]], to: pod, path: [])
    #expect(strategic["spec"]?["containers"] == [["name": "c", "image": "new"], ["name": "d", "image": "keep"]])
    let removed = Patch.strategicMerge(["spec": ["containers": [["name": "d", "$patch": "delete"]]]], to: pod, path: [])
    #expect(removed["spec"]?["containers"] == [["name": "c", "image": "old"]])
    // A plain merge patch replaces lists.
    let replaced = Patch.mergePatch(["spec": ["containers": [["name": "c", "image": "new"]]]], to: pod)
    #expect(replaced["spec"]?["containers"] == [["name": "c", "image": "new"]])
  }

  @Test func jsonPatch() throws {
    let document: JSONValue = ["metadata": ["labels": ["a": "1"]], "list": [1, 2]]
    let patch = #"[{"op":"add","path":"/metadata/labels/b","value":"2"},{"op":"remove","path":"/metadata/labels/a"},{"op":"add","path":"/list/-","value":3},{"op":"test","path":"/list/0","value":1}]"#
    let result = try Patch.apply(contentType: "application/json-patch+json", patch: Array(patch.utf8), to: document)
    #expect(result == ["metadata": ["labels": ["b": "2"]], "list": [1, 2, 3]])
    #expect(throws: StatusError.self) {
      try Patch.apply(
        contentType: "application/json-patch+json", patch: Array(#"[{"op":"remove","path":"/nope"}]"#.utf8),
        to: document)
    }
  }

  @Test func humanDurations() {
    let cases: [(TimeInterval, String)] = [
      (0, "0s"), (59, "59s"), (119, "119s"), (120, "2m"), (150, "2m30s"), (600, "10m"), (3 * 3600, "3h"),
      (3 * 3600 + 120, "3h2m"), (10 * 3600, "10h"), (3 * 86400, "3d"), (3 * 86400 + 3600, "3d1h"), (30 * 86400, "30d"),
      (800 * 86400, "2y70d"),
    ]
    for (interval, text) in cases { #expect(TableDefinition.humanDuration(interval) == text, "\(interval)") }
  }

  @Test func imagePullPolicyDefaults() {
    #expect(Pods.defaultPullPolicy(image: "busybox") == "Always")
    #expect(Pods.defaultPullPolicy(image: "busybox:latest") == "Always")
    #expect(Pods.defaultPullPolicy(image: "busybox:1.36") == "IfNotPresent")
    #expect(Pods.defaultPullPolicy(image: "localhost:5000/relay") == "Always")
    #expect(Pods.defaultPullPolicy(image: "ghcr.io/x/y@sha256:abc") == "IfNotPresent")
  }

  @Test func qosClasses() {
    #expect(Pods.qosClass(["containers": [["name": "c"]]]) == "BestEffort")
    let limits: JSONValue = ["cpu": "100m", "memory": "64Mi"]
    #expect(Pods.qosClass(["containers": [["name": "c", "resources": ["limits": limits, "requests": limits]]]]) == "Guaranteed")
    #expect(Pods.qosClass(["containers": [["name": "c", "resources": ["requests": ["cpu": "1"]]]]]) == "Burstable")
  }

  @Test func tokenFileRoundTrip() throws {
    let tokens = try TokenFile.parse("# comment\nabc,alice,uid-1,\"g1,g2\"\ndef,bob,uid-2\n")
    #expect(tokens == [
      StaticToken(token: "abc", user: "alice", uid: "uid-1", groups: ["g1", "g2"]),
      StaticToken(token: "def", user: "bob", uid: "uid-2", groups: []),
    ])
    #expect(try TokenFile.parse(TokenFile.render(tokens)) == tokens)
    #expect(throws: TokenFileError.self) { try TokenFile.parse("only,two\n") }
  }

  @Test func rbacRulesAndMessages() {
    let authorizer = Authorizer.sandboxDefault
    let dev = UserInfo(name: "sandbox-dev", groups: [])
    let allowed = authorizer.authorize(.resource(user: dev, verb: "get", namespace: "dev", resource: "pods", subresource: "log"))
    #expect(allowed != .deny(reason: ""))
    let attributes = RequestAttributes.resource(
      user: dev, verb: "create", namespace: "default", resource: "pods", subresource: "portforward", name: "p")
    #expect(authorizer.authorize(attributes) == .deny(reason: ""))
    #expect(
      Authorizer.forbidden(attributes).message
        == "pods \"p\" is forbidden: User \"sandbox-dev\" cannot create resource \"pods/portforward\" in API group \"\" in the namespace \"default\""
    )
    let cluster = RequestAttributes.resource(user: dev, verb: "list", resource: "nodes")
    #expect(
      Authorizer.forbidden(cluster).message
        == "nodes is forbidden: User \"sandbox-dev\" cannot list resource \"nodes\" in API group \"\" at the cluster scope")
    let path = RequestAttributes.nonResource(user: Authenticator.anonymous, verb: "get", path: "/metrics")
    #expect(authorizer.authorize(path) == .deny(reason: ""))
    #expect(Authorizer.forbidden(path).message == "forbidden: User \"system:anonymous\" cannot get path \"/metrics\"")
    let namespaceGet = RequestAttributes.resource(user: dev, verb: "get", resource: "namespaces", name: "dev")
    #expect(authorizer.authorize(namespaceGet) != .deny(reason: ""))
  }

  @Test func requestInfoFromPaths() {
    let info = RequestInfo(method: .GET, path: "/api/v1/namespaces/dev/pods", query: Query("watch=true&fieldSelector=metadata.name%3Dx"))
    #expect(info.verb == "watch")
    #expect(info.namespace == "dev")
    #expect(info.resource == "pods")
    #expect(info.name.isEmpty, "still a collection request")
    #expect(info.selectedName == "x", "authorized as the selected name")
    let narrowedList = RequestInfo(method: .GET, path: "/api/v1/namespaces/dev/pods", query: Query("fieldSelector=metadata.name%3Dx"))
    #expect(narrowedList.verb == "list" && narrowedList.name.isEmpty)
    let namespace = RequestInfo(method: .DELETE, path: "/api/v1/namespaces/dev", query: Query(nil))
    #expect(namespace.resource == "namespaces" && namespace.name == "dev" && namespace.namespace.isEmpty)
    #expect(namespace.verb == "delete")
    let review = RequestInfo(method: .POST, path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", query: Query(nil))
    #expect(review.apiGroup == "authorization.k8s.io" && review.verb == "create")
    let portForward = RequestInfo(method: .POST, path: "/api/v1/namespaces/dev/pods/p/portforward", query: Query(nil))
    #expect(portForward.subresource == "portforward" && portForward.name == "p")
    #expect(!RequestInfo(method: .GET, path: "/version", query: Query(nil)).isResourceRequest)
  }

  @Test func storeKeepsBoundedHistory() throws {
    let store = ObjectStore(historyLimit: 2)
    for name in ["a", "b", "c"] {
      _ = try store.create(resource: "pods", namespace: "ns", object: ["metadata": ["name": .string(name)]])
    }
    #expect(store.currentResourceVersion == 3)
    // Events 2 and 3 are retained: resuming after 1 works, after 0… is "from current state".
    let resumed = try store.watch(resource: "pods", namespace: "ns", since: 1, filter: { _ in true }, deliver: { _ in })
    #expect(resumed.initial.map(\.type) == [.added, .added])
    resumed.cancel()
    #expect(store.watcherCount == 0)
    _ = try store.create(resource: "pods", namespace: "ns", object: ["metadata": ["name": "d"]])
    #expect(throws: StatusError.expired("too old resource version: 1 (2)")) {
      _ = try store.watch(resource: "pods", namespace: "ns", since: 1, filter: { _ in true }, deliver: { _ in })
    }
  }
}
