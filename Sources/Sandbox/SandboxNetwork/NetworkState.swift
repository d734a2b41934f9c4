import Foundation

/// What a network made, kept in its state directory after every change so that `removeLeftovers`
/// can find it after a crash. The `kft-<id>-` name prefix finds the namespaces even without it.
struct NetworkState: Codable, Sendable {
  struct Pod: Codable, Sendable {
    var uid: String
    var index: Int
    var netnsName: String
    var ipv4: String
  }

  struct Daemon: Codable, Sendable {
    var name: String
    var pid: Int32
  }

  var id: String
  var namespaces: [String] = []
  var daemons: [Daemon] = []
  var pods: [Pod] = []
  var nextPodIndex = 1
  var destroyed = false

  static func fileURL(stateDirectory: URL) -> URL { stateDirectory.appendingPathComponent("state.json") }

  func save(stateDirectory: URL) throws(NetworkError) {
    let url = Self.fileURL(stateDirectory: stateDirectory)
    do {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      try encoder.encode(self).write(to: url, options: .atomic)
    } catch {
      throw .file(path: url.path, reason: "\(error)")
    }
  }

  static func load(stateDirectory: URL) -> NetworkState? {
    guard let data = try? Data(contentsOf: fileURL(stateDirectory: stateDirectory)) else { return nil }
    return try? JSONDecoder().decode(NetworkState.self, from: data)
  }
}
