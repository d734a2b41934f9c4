import Foundation

/// The sandbox's one Node, registered the way a kubelet registers itself, so the API server knows where
/// to proxy `pods/portforward`: `status.addresses` (InternalIP 127.0.0.1) and
/// `status.daemonEndpoints.kubeletEndpoint.Port`, with a Ready condition.
enum NodeRegistration {
  static let defaultNodeName = "kftray-node"

  static func nodeObject(name: String, kubeletPort: Int, now: Date = Date()) -> JSONValue {
    let time = JSONValue.string(Metadata.timestamp(now))
    #if arch(arm64)
      let architecture = "arm64"
    #else
      let architecture = "amd64"
    #endif
    return [
      "kind": "Node", "apiVersion": "v1",
      "metadata": [
        "name": .string(name), "uid": .string(Metadata.newUID()), "creationTimestamp": time,
        "labels": [
          "kubernetes.io/hostname": .string(name), "kubernetes.io/os": "linux",
          "kubernetes.io/arch": .string(architecture),
        ],
      ],
      "spec": [:],
      "status": [
        "addresses": [["type": "InternalIP", "address": "127.0.0.1"], ["type": "Hostname", "address": .string(name)]],
        "daemonEndpoints": ["kubeletEndpoint": ["Port": .int(Int64(kubeletPort))]],
        "conditions": [
          [
            "type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
            "lastHeartbeatTime": time, "lastTransitionTime": time,
          ]
        ],
        "nodeInfo": [
          "kubeletVersion": "v1.32.0-kftray-sandbox", "containerRuntimeVersion": "kftray-sandbox://0",
          "operatingSystem": "linux", "architecture": .string(architecture), "osImage": "kftray sandbox",
          "kernelVersion": "", "kubeProxyVersion": "",
        ],
      ],
    ]
  }

  /// Creates the Node in `store` (replacing a stale one of the same name: its kubelet port changed).
  static func register(in store: ObjectStore, name: String, kubeletPort: Int) throws(StatusError) {
    let key = ObjectKey(resource: "nodes", name: name)
    if store.get(key) != nil { _ = try? store.delete(key) }
    _ = try store.create(resource: "nodes", namespace: "", object: nodeObject(name: name, kubeletPort: kubeletPort))
  }
}
