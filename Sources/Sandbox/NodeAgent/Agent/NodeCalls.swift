import Foundation
import KubeClient

// The calls a node agent (a kubelet) makes: its Node and its status, pod binding, pod status.
extension KubeAPI {
  public func node(_ name: String) async throws(KubeError) -> Node {
    try await call("GET", APIPath.node(name), as: Node.self, what: "node \(name)")
  }

  public func createNode(_ node: Node) async throws(KubeError) -> Node {
    let path = APIPath("/api/v1/nodes").adding("fieldManager", fieldManager)
    return try await call("POST", path, body: try encode(node), contentType: "application/json", as: Node.self, what: "node creation")
  }

  /// Applies a JSON merge patch to a Node (labels, spec).
  public func mergePatchNode(_ name: String, patch: Data) async throws(KubeError) -> Node {
    let path = APIPath.node(name).adding("fieldManager", fieldManager)
    return try await call("PATCH", path, body: patch, contentType: "application/merge-patch+json", as: Node.self, what: "node \(name)")
  }

  /// Replaces the given parts of a Node's status (`nodes/{n}/status`, merge patch: lists such as
  /// conditions and addresses are replaced whole).
  public func patchNodeStatus(_ name: String, status: NodeStatus) async throws(KubeError) -> Node {
    struct Patch: Encodable { var status: NodeStatus }
    let path = APIPath.node(name, subresource: "status").adding("fieldManager", fieldManager)
    return try await call(
      "PATCH", path, body: try encode(Patch(status: status)), contentType: "application/merge-patch+json", as: Node.self,
      what: "node \(name) status")
  }

  /// Binds a pod to a node (`pods/{p}/binding`). With `uid` only that incarnation of the pod is bound.
  public func bindPod(_ name: String, namespace: String, uid: String? = nil, node: String) async throws(KubeError) {
    var metadata = ObjectMeta(name: name, namespace: namespace)
    metadata.uid = uid
    let binding = Binding(metadata: metadata, target: ObjectReference(apiVersion: "v1", kind: "Node", name: node))
    _ = try await send(
      "POST", APIPath.pod(name, namespace: namespace, subresource: "binding"), body: try encode(binding),
      contentType: "application/json")
  }

  /// Replaces a pod's status as a kubelet does (`pods/{p}/status`, merge patch). Lists (conditions,
  /// container statuses) are replaced whole; `reason` and `message` are cleared when nil. With `uid`
  /// the patch applies only to that incarnation of the pod (409 Conflict otherwise).
  @discardableResult
  public func patchPodStatus(_ name: String, namespace: String, uid: String?, status: PodStatus) async throws(KubeError) -> Pod {
    let encoded = try encode(status)
    guard var object = (try? JSONSerialization.jsonObject(with: encoded)) as? [String: Any] else {
      throw .decoding(what: "pod status", detail: "the status did not encode as an object")
    }
    for cleared in ["reason", "message"] where object[cleared] == nil { object[cleared] = NSNull() }
    var patch: [String: Any] = ["status": object]
    if let uid { patch["metadata"] = ["uid": uid] }
    let body = try! JSONSerialization.data(withJSONObject: patch, options: [.sortedKeys])
    let path = APIPath.pod(name, namespace: namespace, subresource: "status").adding("fieldManager", fieldManager)
    return try await call("PATCH", path, body: body, contentType: "application/merge-patch+json", as: Pod.self, what: "pod \(name) status")
  }

  /// Sets one condition of a pod's status as the scheduler does (`pods/{p}/status`, strategic merge
  /// patch: conditions merge by type, so the others stay). `lastProbeTime` is sent as null, as the
  /// scheduler's two-way patch does for an unset time.
  public func patchPodCondition(_ name: String, namespace: String, uid: String?, condition: PodCondition) async throws(KubeError) {
    var entry: [String: Any] = ["type": condition.type, "status": condition.status, "lastProbeTime": NSNull()]
    entry["reason"] = condition.reason
    entry["message"] = condition.message
    entry["lastTransitionTime"] = condition.lastTransitionTime
    var patch: [String: Any] = ["status": ["conditions": [entry]]]
    if let uid { patch["metadata"] = ["uid": uid] }
    let body = try! JSONSerialization.data(withJSONObject: patch, options: [.sortedKeys])
    let path = APIPath.pod(name, namespace: namespace, subresource: "status").adding("fieldManager", fieldManager)
    _ = try await send("PATCH", path, body: body, contentType: "application/strategic-merge-patch+json")
  }
}
