import Foundation

extension KubeAPI {
  /// One watch request. Yields events until the server ends the stream; an ERROR event ends it
  /// by throwing its Status as `KubeError.api` (410 Gone: `isGone`, list again).
  public func watchPods(
    namespace: String?, labelSelector: String? = nil, fieldSelector: String? = nil, resourceVersion: String? = nil,
    timeoutSeconds: Int? = nil
  ) async throws(KubeError) -> AsyncThrowingStream<WatchEvent<Pod>, any Error> {
    let path = APIPath.pods(namespace: namespace)
      .adding("watch", "1")
      .adding("allowWatchBookmarks", "true")
      .adding("resourceVersion", resourceVersion)
      .adding("labelSelector", labelSelector)
      .adding("fieldSelector", fieldSelector)
      .adding("timeoutSeconds", timeoutSeconds.map(String.init))
    let body = try await openStream(path).body
    return WatchDecoder<Pod>.events(from: body)
  }

  /// Follows the matching pods for as long as the consumer iterates, like an informer: lists,
  /// watches from the list's resourceVersion, resumes from the last seen version when a watch
  /// ends, and after 410 Gone lists again and reports what changed in between as
  /// ADDED/MODIFIED/DELETED. The first events are ADDED for every pod that exists.
  public func observePods(
    namespace: String?, labelSelector: String? = nil, fieldSelector: String? = nil
  ) -> AsyncThrowingStream<WatchEvent<Pod>, any Error> {
    let (stream, continuation) = AsyncThrowingStream<WatchEvent<Pod>, any Error>.makeStream()
    let task = Task {
      var observer = PodSetTracker()
      do {
        var resourceVersion = try await relist(&observer, namespace, labelSelector, fieldSelector, continuation)
        var transientFailures = 0
        while !Task.isCancelled {
          do {
            let events = try await watchPods(
              namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector,
              resourceVersion: resourceVersion, timeoutSeconds: 300)
            for try await event in events {
              transientFailures = 0
              if let rv = event.object.metadata.resourceVersion { resourceVersion = rv }
              if event.type == .bookmark { continue }
              observer.apply(event)
              continuation.yield(event)
            }
          } catch let error as KubeError where error.isGone {
            resourceVersion = try await relist(&observer, namespace, labelSelector, fieldSelector, continuation)
          } catch let error as KubeError {
            // A dropped connection is retried a few times with backoff; API errors are final.
            guard case .transport = error, transientFailures < 5 else { throw error }
            transientFailures += 1
            try await Task.sleep(for: .milliseconds(200 << transientFailures))
          }
        }
        continuation.finish()
      } catch {
        continuation.finish(throwing: error)
      }
    }
    continuation.onTermination = { _ in task.cancel() }
    return stream
  }

  private func relist(
    _ tracker: inout PodSetTracker, _ namespace: String?, _ labelSelector: String?, _ fieldSelector: String?,
    _ continuation: AsyncThrowingStream<WatchEvent<Pod>, any Error>.Continuation
  ) async throws(KubeError) -> String? {
    let list = try await listPods(namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector)
    for event in tracker.replace(with: list.items) { continuation.yield(event) }
    return list.metadata.resourceVersion
  }
}

/// The pods an observer has reported, so that a re-list can be turned into the events it implies.
struct PodSetTracker {
  private var known: [String: Pod] = [:]

  private static func key(_ pod: Pod) -> String {
    "\(pod.metadata.namespace ?? "")/\(pod.metadata.name ?? "")"
  }

  mutating func apply(_ event: WatchEvent<Pod>) {
    switch event.type {
    case .deleted: known[Self.key(event.object)] = nil
    case .added, .modified: known[Self.key(event.object)] = event.object
    case .bookmark, .error: break
    }
  }

  mutating func replace(with pods: [Pod]) -> [WatchEvent<Pod>] {
    var events: [WatchEvent<Pod>] = []
    var fresh: [String: Pod] = [:]
    for pod in pods {
      let key = Self.key(pod)
      fresh[key] = pod
      if let old = known[key] {
        if old.metadata.resourceVersion != pod.metadata.resourceVersion { events.append(.init(type: .modified, object: pod)) }
      } else {
        events.append(.init(type: .added, object: pod))
      }
    }
    for (key, pod) in known.sorted(by: { $0.key < $1.key }) where fresh[key] == nil {
      events.append(.init(type: .deleted, object: pod))
    }
    known = fresh
    return events
  }
}

/// Turns a watch response body (one JSON object per line, chunk boundaries anywhere) into events.
enum WatchDecoder<Object: WatchableObject> {
  private struct Envelope<T: Decodable>: Decodable {
    var type: String
    var object: T
  }

  private struct TypeOnly: Decodable { var type: String }
  private struct MetadataOnly: Decodable { var metadata: ObjectMeta? }

  static func decode(line: Data) throws(KubeError) -> WatchEvent<Object> {
    let decoder = JSONDecoder()
    guard let type = try? decoder.decode(TypeOnly.self, from: line).type, let kind = WatchEventType(rawValue: type) else {
      throw .decoding(what: "watch event", detail: String(decoding: line.prefix(200), as: UTF8.self))
    }
    if kind == .error {
      let status = (try? decoder.decode(Envelope<APIStatus>.self, from: line).object)
        ?? APIStatus(message: "watch failed", reason: "InternalError", code: 500)
      throw .api(status, httpStatus: status.code ?? 500)
    }
    if kind == .bookmark {
      // Only the metadata counts; the rest is the resource's zero value, whose required fields Go
      // serialises as null.
      guard let envelope = try? decoder.decode(Envelope<MetadataOnly>.self, from: line) else {
        throw .decoding(what: "watch bookmark", detail: String(decoding: line.prefix(200), as: UTF8.self))
      }
      return WatchEvent(type: .bookmark, object: Object(bookmark: envelope.object.metadata ?? ObjectMeta()))
    }
    do {
      return WatchEvent(type: kind, object: try decoder.decode(Envelope<Object>.self, from: line).object)
    } catch {
      throw .decoding(what: "watch event", detail: "\(error)")
    }
  }

  static func events(from body: AsyncThrowingStream<Data, any Error>) -> AsyncThrowingStream<WatchEvent<Object>, any Error> {
    let (stream, continuation) = AsyncThrowingStream<WatchEvent<Object>, any Error>.makeStream()
    let task = Task {
      var buffer = Data()
      do {
        for try await chunk in body {
          buffer.append(chunk)
          while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
            let line = buffer[buffer.startIndex..<newline]
            buffer = Data(buffer[(newline + 1)...])
            if line.allSatisfy({ $0 == 32 || $0 == 13 }) { continue }
            continuation.yield(try decode(line: Data(line)))
          }
        }
        continuation.finish()
      } catch {
        continuation.finish(throwing: error)
      }
    }
    continuation.onTermination = { _ in task.cancel() }
    return stream
  }
}
