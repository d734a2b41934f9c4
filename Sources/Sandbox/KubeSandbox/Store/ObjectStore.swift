import NIOCore
import Foundation
import NIOConcurrencyHelpers

/// Identifies one stored object. Cluster-scoped objects have an empty namespace.
public struct ObjectKey: Hashable, Sendable, Codable {
  public var resource: String
  public var namespace: String
  public var name: String

  public init(resource: String, namespace: String = "", name: String) {
    self.resource = resource
    self.namespace = namespace
    self.name = name
  }
}

public enum WatchEventType: String, Sendable, Codable {
  case added = "ADDED", modified = "MODIFIED", deleted = "DELETED", bookmark = "BOOKMARK", error = "ERROR"
}

/// A change as the store records it. `previous` is the object before a modification, so a watcher with
/// a selector can tell "now matches" (ADDED) from "no longer matches" (DELETED), as kube's cacher does.
public struct StoreEvent: Sendable, Codable {
  public var type: WatchEventType
  public var key: ObjectKey
  public var object: JSONValue
  public var previous: JSONValue?
  public var resourceVersion: UInt64
}

/// A watch as a subscriber sees it: `type` already adjusted for the watcher's filter.
public struct WatchEvent: Sendable {
  public var type: WatchEventType
  public var object: JSONValue
}

/// The cluster state: objects by key, one resourceVersion counter for all of them (like etcd's
/// revision), a bounded history of events for resuming watches, and the live watchers.
///
/// Thread-safe through one lock: API calls are short, and delivering an event to a watcher only
/// enqueues work on that watcher's event loop, so holding the lock while fanning out keeps every
/// watcher's events in resourceVersion order without a second queue.
public final class ObjectStore: Sendable {
  public typealias Filter = @Sendable (JSONValue) -> Bool
  public typealias Deliver = @Sendable (WatchEvent) -> Void

  private struct Watcher {
    var resource: String
    var namespace: String
    var filter: Filter
    var deliver: Deliver
  }

  private struct State {
    var objects: [ObjectKey: JSONValue] = [:]
    var revision: UInt64 = 0
    var history = CircularBuffer<StoreEvent>()
    /// The resourceVersion of the newest event dropped from `history` (0: nothing dropped yet).
    var evictedThrough: UInt64 = 0
    var watchers: [UInt64: Watcher] = [:]
    /// In-process controllers (the node lifecycle controller): told of every change of their resource,
    /// but no API watch, so `watcherCount` leaves them out.
    var observers: [UInt64: Watcher] = [:]
    var nextWatcherID: UInt64 = 1
    /// Set by `freeze` (the server is stopping and has saved its state): every later write is
    /// refused, so nothing a client was told succeeded is missing from the saved snapshot.
    var frozen = false
  }

  private let state: NIOLockedValueBox<State>
  public let historyLimit: Int

  public init(historyLimit: Int) {
    self.historyLimit = max(1, historyLimit)
    state = NIOLockedValueBox(State())
  }

  /// A store as `freeze` left it in another process: the same objects, resourceVersion counter and
  /// watch history, so a watch that resumes from a resourceVersion it saw before the restart gets
  /// the changes after it, or `410 Expired` where the history no longer reaches back (as from
  /// kube-apiserver, whose revisions live on in etcd across its restarts).
  public init(historyLimit: Int, restoring snapshot: StoreSnapshot) {
    self.historyLimit = max(1, historyLimit)
    var restored = State()
    restored.revision = snapshot.revision
    for entry in snapshot.objects { restored.objects[entry.key] = entry.object }
    let history = snapshot.history.suffix(self.historyLimit)
    restored.history = CircularBuffer(history)
    // What the kept history no longer covers reads as evicted: older resumes get 410.
    restored.evictedThrough = max(snapshot.evictedThrough, history.first.map { $0.resourceVersion - 1 } ?? snapshot.revision)
    state = NIOLockedValueBox(restored)
  }

  /// Refuses every later write (503, as a stopping kube-apiserver answers) and returns the state
  /// at that instant: what `kftray-sandbox restart` saves before the process ends.
  public func freeze() -> StoreSnapshot {
    state.withLockedValue { state in
      state.frozen = true
      return StoreSnapshot(
        revision: state.revision, evictedThrough: state.evictedThrough,
        objects: state.objects.sorted { ($0.key.resource, $0.key.namespace, $0.key.name) < ($1.key.resource, $1.key.namespace, $1.key.name) }
          .map { StoreSnapshot.Entry(key: $0.key, object: $0.value) },
        history: Array(state.history))
    }
  }

  /// `withLockedValue` rethrows untyped errors; this keeps the store's typed `StatusError`.
  private func locked<T>(_ body: (inout State) throws(StatusError) -> T) throws(StatusError) -> T {
    let result: Result<T, StatusError> = state.withLockedValue { state in
      do throws(StatusError) { return .success(try body(&state)) } catch { return .failure(error) }
    }
    return try result.get()
  }

  public var currentResourceVersion: UInt64 { state.withLockedValue { $0.revision } }

  public func get(_ key: ObjectKey) -> JSONValue? { state.withLockedValue { $0.objects[key] } }

  /// Objects of `resource` (in `namespace`, or everywhere when `nil`), sorted by namespace and name, with
  /// the list's resourceVersion.
  public func list(resource: String, namespace: String?) -> (items: [JSONValue], resourceVersion: UInt64) {
    state.withLockedValue { state in
      let keys = state.objects.keys
        .filter { $0.resource == resource && (namespace == nil || $0.namespace == namespace) }
        .sorted { ($0.namespace, $0.name) < ($1.namespace, $1.name) }
      return (keys.compactMap { state.objects[$0] }, state.revision)
    }
  }

  /// Stores a new object. `prepare` runs under the lock with the resourceVersion the object gets and
  /// returns the final object; its `metadata.name` decides the key (a `metadata.generateName` without a
  /// name is resolved here, so two concurrent creates cannot pick the same name).
  public func create(
    resource: String, namespace: String, object: JSONValue,
    prepare: (inout JSONValue) throws(StatusError) -> Void = { _ throws(StatusError) in }
  ) throws(StatusError) -> JSONValue {
    try locked { state throws(StatusError) -> JSONValue in
      if state.frozen { throw .shuttingDown }
      var object = object
      var name = object["metadata"]?["name"]?.stringValue ?? ""
      if name.isEmpty, let prefix = object["metadata"]?["generateName"]?.stringValue, !prefix.isEmpty {
        repeat {
          name = NameGenerator.generate(prefix: prefix)
        } while state.objects[ObjectKey(resource: resource, namespace: namespace, name: name)] != nil
        object.set("metadata", "name", to: .string(name))
      }
      let key = ObjectKey(resource: resource, namespace: namespace, name: name)
      if state.objects[key] != nil { throw .alreadyExists(resource: resource, name: name) }
      try prepare(&object)
      state.revision += 1
      object.set("metadata", "resourceVersion", to: .string(String(state.revision)))
      state.objects[key] = object
      record(StoreEvent(type: .added, key: key, object: object, resourceVersion: state.revision), in: &state)
      return object
    }
  }

  /// Replaces an object with `transform(current)`, atomically. `transform` may throw to refuse. When the
  /// result equals the current object nothing is written (kube skips no-op updates too).
  public func update(
    _ key: ObjectKey, transform: (JSONValue) throws(StatusError) -> JSONValue
  ) throws(StatusError) -> JSONValue {
    try locked { state throws(StatusError) -> JSONValue in
      if state.frozen { throw .shuttingDown }
      guard let current = state.objects[key] else { throw .notFound(resource: key.resource, name: key.name) }
      var updated = try transform(current)
      updated.set("metadata", "resourceVersion", to: current["metadata"]?["resourceVersion"])
      if updated == current { return current }
      state.revision += 1
      updated.set("metadata", "resourceVersion", to: .string(String(state.revision)))
      state.objects[key] = updated
      record(
        StoreEvent(type: .modified, key: key, object: updated, previous: current, resourceVersion: state.revision),
        in: &state)
      return updated
    }
  }

  /// Removes an object; the returned (and watched) object carries the deletion's resourceVersion.
  @discardableResult
  public func delete(_ key: ObjectKey) throws(StatusError) -> JSONValue {
    try locked { state throws(StatusError) -> JSONValue in
      if state.frozen { throw .shuttingDown }
      guard var object = state.objects.removeValue(forKey: key) else {
        throw .notFound(resource: key.resource, name: key.name)
      }
      state.revision += 1
      object.set("metadata", "resourceVersion", to: .string(String(state.revision)))
      record(StoreEvent(type: .deleted, key: key, object: object, resourceVersion: state.revision), in: &state)
      return object
    }
  }

  private func record(_ event: StoreEvent, in state: inout State) {
    state.history.append(event)
    while state.history.count > historyLimit {
      state.evictedThrough = state.history.removeFirst().resourceVersion
    }
    for watcher in state.watchers.values {
      if let delivered = Self.adjust(event, for: watcher) { watcher.deliver(delivered) }
    }
    for observer in state.observers.values {
      if let delivered = Self.adjust(event, for: observer) { observer.deliver(delivered) }
    }
  }

  private static func adjust(_ event: StoreEvent, for watcher: Watcher) -> WatchEvent? {
    guard event.key.resource == watcher.resource,
      watcher.namespace.isEmpty || event.key.namespace == watcher.namespace
    else { return nil }
    let matchesNow = watcher.filter(event.object)
    switch event.type {
    case .modified:
      let matchedBefore = event.previous.map(watcher.filter) ?? false
      switch (matchedBefore, matchesNow) {
      case (true, true): return WatchEvent(type: .modified, object: event.object)
      case (false, true): return WatchEvent(type: .added, object: event.object)
      case (true, false): return WatchEvent(type: .deleted, object: event.object)
      case (false, false): return nil
      }
    default:
      return matchesNow ? WatchEvent(type: event.type, object: event.object) : nil
    }
  }

  /// Starts a watch. Returns the events to send first, then `deliver` gets every later change (called
  /// under the store lock: it must only enqueue). `since == nil` (or 0) means "current state first": one
  /// ADDED per matching object. Otherwise every retained change after `since`; `410 Expired` when the
  /// history no longer reaches back that far (kube: `too old resource version: X (Y)`).
  public func watch(
    resource: String, namespace: String, since: UInt64?, filter: @escaping Filter, deliver: @escaping Deliver
  ) throws(StatusError) -> (initial: [WatchEvent], resourceVersion: UInt64, cancel: @Sendable () -> Void) {
    let (initial, revision, id) = try locked {
      state throws(StatusError) -> ([WatchEvent], UInt64, UInt64) in
      let watcher = Watcher(resource: resource, namespace: namespace, filter: filter, deliver: deliver)
      var initial: [WatchEvent] = []
      if let since, since > 0 {
        if since < state.evictedThrough {
          throw .expired("too old resource version: \(since) (\(state.evictedThrough))")
        }
        for event in state.history where event.resourceVersion > since {
          if let adjusted = Self.adjust(event, for: watcher) { initial.append(adjusted) }
        }
      } else {
        let keys = state.objects.keys
          .filter { $0.resource == resource && (namespace.isEmpty || $0.namespace == namespace) }
          .sorted { ($0.namespace, $0.name) < ($1.namespace, $1.name) }
        for key in keys {
          if let object = state.objects[key], filter(object) {
            initial.append(WatchEvent(type: .added, object: object))
          }
        }
      }
      let id = state.nextWatcherID
      state.nextWatcherID += 1
      state.watchers[id] = watcher
      return (initial, state.revision, id)
    }
    let box = state
    return (initial, revision, { box.withLockedValue { _ = $0.watchers.removeValue(forKey: id) } })
  }

  public var watcherCount: Int { state.withLockedValue { $0.watchers.count } }

  /// Subscribes an in-process controller to every later change of `resource` (`deliver` runs under the
  /// store lock: it must only enqueue). Returns the current objects and the cancellation.
  func observe(resource: String, deliver: @escaping Deliver) -> (current: [JSONValue], cancel: @Sendable () -> Void) {
    let (current, id) = state.withLockedValue { state -> ([JSONValue], UInt64) in
      let id = state.nextWatcherID
      state.nextWatcherID += 1
      state.observers[id] = Watcher(resource: resource, namespace: "", filter: { _ in true }, deliver: deliver)
      let objects = state.objects.filter { $0.key.resource == resource }.map(\.value)
      return (objects, id)
    }
    let box = state
    return (current, { box.withLockedValue { _ = $0.observers.removeValue(forKey: id) } })
  }
}

/// `names.SimpleNameGenerator`: the prefix (cut to leave room) plus five random characters from kube's
/// alphabet (no vowels, no confusable digits).
enum NameGenerator {
  static let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")

  static func generate(prefix: String) -> String {
    let base = prefix.count > 58 ? String(prefix.prefix(58)) : prefix
    var generator = SystemRandomNumberGenerator()
    return base + String((0..<5).map { _ in alphabet.randomElement(using: &generator)! })
  }
}
