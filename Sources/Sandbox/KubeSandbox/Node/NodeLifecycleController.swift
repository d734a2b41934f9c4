import Dispatch
import NIOConcurrencyHelpers

/// The node lifecycle controller's NoSchedule tainting (kube-controller-manager): a Node whose Ready
/// condition is not True carries `node.kubernetes.io/not-ready:NoSchedule` (`unreachable` when it is
/// Unknown), and loses it once Ready. New Nodes get the not-ready taint from admission
/// (`Nodes.prepareForCreate`, kube's TaintNodesByCondition plugin); this removes it.
final class NodeLifecycleController: Sendable {
  static let notReady = "node.kubernetes.io/not-ready"
  static let unreachable = "node.kubernetes.io/unreachable"

  private let store: ObjectStore
  /// Store deliveries run under the store's lock; reconciling (a store update) happens here instead.
  private let queue = DispatchQueue(label: "kftray-sandbox.node-lifecycle")
  private let cancel: NIOLockedValueBox<(@Sendable () -> Void)?> = NIOLockedValueBox(nil)

  init(store: ObjectStore) {
    self.store = store
    let queue = self.queue
    let registration = store.observe(resource: "nodes") { [store] event in
      guard event.type == .added || event.type == .modified,
        let name = event.object["metadata"]?["name"]?.stringValue
      else { return }
      queue.async { Self.reconcile(name, in: store) }
    }
    cancel.withLockedValue { $0 = registration.cancel }
    for node in registration.current {
      if let name = node["metadata"]?["name"]?.stringValue { queue.async { Self.reconcile(name, in: store) } }
    }
  }

  func stop() { cancel.withLockedValue { $0?() } }

  /// The condition taint a node should carry now, or nil.
  static func wantedTaint(_ node: JSONValue) -> String? {
    let ready = (node["status"]?["conditions"]?.arrayValue ?? []).first { $0["type"]?.stringValue == "Ready" }
    switch ready?["status"]?.stringValue {
    case "True": return nil
    case "False": return notReady
    default: return ready == nil ? notReady : unreachable
    }
  }

  private static func reconcile(_ name: String, in store: ObjectStore) {
    _ = try? store.update(ObjectKey(resource: "nodes", name: name)) { node throws(StatusError) in
      var node = node
      let wanted = wantedTaint(node)
      let taints = node["spec"]?["taints"]?.arrayValue ?? []
      var kept = taints.filter { taint in
        let key = taint["key"]?.stringValue
        return !((key == notReady || key == unreachable) && taint["effect"]?.stringValue == "NoSchedule")
          || key == wanted
      }
      if let wanted, !kept.contains(where: { $0["key"]?.stringValue == wanted && $0["effect"] == "NoSchedule" }) {
        kept.append(["key": .string(wanted), "effect": "NoSchedule"])
      }
      node.set("spec", "taints", to: kept.isEmpty ? nil : .array(kept))
      return node
    }
  }
}
