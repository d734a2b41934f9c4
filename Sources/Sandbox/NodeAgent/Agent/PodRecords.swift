import Foundation

/// What survives the agent: one file per attached pod under `<stateDirectory>/pods/<uid>` holding the
/// pod's network namespace name, so that an agent started after a crash can kill what still runs
/// there and release the network.
struct PodRecords: Sendable {
  let directory: String

  init(stateDirectory: String) {
    directory = stateDirectory + "/pods"
  }

  func save(uid: String, netnsName: String) {
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try? Data(netnsName.utf8).write(to: URL(fileURLWithPath: "\(directory)/\(uid)"), options: .atomic)
  }

  func remove(uid: String) {
    try? FileManager.default.removeItem(atPath: "\(directory)/\(uid)")
  }

  /// uid → network namespace name.
  func all() -> [String: String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    var records: [String: String] = [:]
    for uid in names where !uid.hasPrefix(".") {
      if let text = try? String(contentsOfFile: "\(directory)/\(uid)", encoding: .utf8) {
        records[uid] = text.trimmingCharacters(in: .whitespacesAndNewlines)
      }
    }
    return records
  }
}
