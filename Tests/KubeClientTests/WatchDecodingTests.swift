import Foundation
import Testing

@testable import KubeClient

/// Watch lines exactly as a real kube-apiserver writes them (Go's encoding/json of the zero value).
@Suite struct WatchDecodingTests {
  static func decode(_ line: String) throws(KubeError) -> WatchEvent<Pod> {
    try WatchDecoder<Pod>.decode(line: Data(line.utf8))
  }

  @Test func periodicBookmarkCarriesOnlyItsResourceVersion() throws {
    let event = try Self.decode(
      #"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"500"},"spec":{"containers":null},"status":{}}}"#
    )
    #expect(event.type == .bookmark)
    #expect(event.object.metadata.resourceVersion == "500")
    #expect(event.object.spec == nil)
  }

  @Test func initialEventsEndBookmarkKeepsItsAnnotation() throws {
    let event = try Self.decode(
      #"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"812","annotations":{"k8s.io/initial-events-end":"true"}},"spec":{"containers":null},"status":{}}}"#
    )
    #expect(event.object.metadata.annotations?["k8s.io/initial-events-end"] == "true")
    #expect(event.object.metadata.resourceVersion == "812")
  }

  @Test func bookmarkOfAnyShapeIsReadByItsTypeFirst() throws {
    // Whatever else a bookmark's object holds, it is never decoded as a full pod.
    let event = try Self.decode(#"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"7"},"spec":{"containers":5}}}"#)
    #expect(event.type == .bookmark && event.object.metadata.resourceVersion == "7")
  }

  @Test func errorEventThrowsItsStatus() {
    #expect {
      _ = try Self.decode(
        #"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (500)","reason":"Expired","code":410}}"#
      )
    } throws: { error in
      guard let error = error as? KubeError else { return false }
      return error.isGone
    }
  }

  @Test func nullContainerListDecodesAsEmpty() throws {
    let event = try Self.decode(
      #"{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","resourceVersion":"9"},"spec":{"containers":null,"restartPolicy":"Never"},"status":{"phase":"Pending"}}}"#
    )
    #expect(event.object.spec?.containers == [])
    #expect(event.object.spec?.restartPolicy == "Never")
    #expect(event.object.status?.phase == "Pending")
  }

  @Test func fullPodStillDecodes() throws {
    let event = try Self.decode(
      #"{"type":"ADDED","object":{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox"}],"nodeName":"n1"}}}"#
    )
    #expect(event.object.spec?.containers.map(\.name) == ["c"])
    #expect(event.object.spec?.nodeName == "n1")
  }

  @Test func probePortsAreIntOrString() throws {
    let event = try Self.decode(
      #"{"type":"ADDED","object":{"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"x","readinessProbe":{"tcpSocket":{"port":"http"}}},{"name":"b","image":"x","readinessProbe":{"tcpSocket":{"port":8080},"periodSeconds":1}}]}}}"#
    )
    let containers = try #require(event.object.spec?.containers)
    #expect(containers[0].readinessProbe?.tcpSocket?.portName == "http" && containers[0].readinessProbe?.tcpSocket?.port == nil)
    #expect(containers[1].readinessProbe?.tcpSocket?.port == 8080 && containers[1].readinessProbe?.periodSeconds == 1)
  }
}
