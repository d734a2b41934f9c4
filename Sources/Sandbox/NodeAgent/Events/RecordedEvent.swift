import Foundation
import KubeClient

/// A core/v1 Event as recorders write it (the product's `KubeClient.Event` reads only what it shows).
struct RecordedEvent: Codable, Sendable, Equatable {
  struct Reference: Codable, Sendable, Equatable {
    var kind: String
    var namespace: String?
    var name: String
    var uid: String?
    var apiVersion: String
    var resourceVersion: String?
    var fieldPath: String?
  }

  struct Source: Codable, Sendable, Equatable {
    var component: String?
    var host: String?
  }

  struct Series: Codable, Sendable, Equatable {
    var count: Int
    var lastObservedTime: String
  }

  var apiVersion = "v1"
  var kind = "Event"
  var metadata: ObjectMeta
  var involvedObject: Reference
  var reason: String
  var message: String
  var source: Source
  var firstTimestamp: String?
  var lastTimestamp: String?
  var count: Int?
  var type: String
  var eventTime: String?
  var series: Series?
  var action: String?
  var reportingComponent: String
  var reportingInstance: String

  /// The reference client-go's `reference.GetReference` makes of a pod (plus a container's field path).
  static func reference(to pod: Pod, fieldPath: String? = nil) -> Reference {
    Reference(
      kind: "Pod", namespace: pod.metadata.namespace, name: pod.metadata.name ?? "", uid: pod.metadata.uid,
      apiVersion: "v1", resourceVersion: pod.metadata.resourceVersion, fieldPath: fieldPath)
  }
}

// The calls an event recorder makes (`record.EventSink`: create, then patch repeats).
extension KubeAPI {
  func createEvent(_ event: RecordedEvent) async throws(KubeError) {
    let namespace = event.metadata.namespace ?? "default"
    let path = APIPath("/api/v1/namespaces/\(APIPath.segment(namespace))/events").adding("fieldManager", fieldManager)
    _ = try await send("POST", path, body: try encode(event), contentType: "application/json")
  }

  func patchEvent(_ name: String, namespace: String, patch: Data) async throws(KubeError) {
    let path = APIPath("/api/v1/namespaces/\(APIPath.segment(namespace))/events/\(APIPath.segment(name))")
      .adding("fieldManager", fieldManager)
    _ = try await send("PATCH", path, body: patch, contentType: "application/strategic-merge-patch+json")
  }
}
