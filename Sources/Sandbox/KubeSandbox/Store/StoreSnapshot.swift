import Foundation

/// The store's state written to `DIR/store.json` when the API server stops on SIGTERM, and read back
/// by the next `serve` in that directory (`kftray-sandbox restart`): what etcd keeps for a real API
/// server across its restarts. Objects, the resourceVersion counter and the watch history.
public struct StoreSnapshot: Codable, Sendable {
  public struct Entry: Codable, Sendable {
    public var key: ObjectKey
    public var object: JSONValue
  }

  public var revision: UInt64
  public var evictedThrough: UInt64
  public var objects: [Entry]
  public var history: [StoreEvent]

  /// Written readable by the owner only, like the other sandbox files that may hold secrets.
  public func write(to url: URL) throws {
    let data = try JSONEncoder().encode(self)
    try? FileManager.default.removeItem(at: url)
    guard FileManager.default.createFile(atPath: url.path, contents: data, attributes: [.posixPermissions: 0o600]) else {
      throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
    }
  }

  /// nil when there is no such file.
  public static func read(from url: URL) throws -> StoreSnapshot? {
    guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
    return try JSONDecoder().decode(StoreSnapshot.self, from: data)
  }
}
