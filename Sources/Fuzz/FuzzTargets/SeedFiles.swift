import Foundation

/// Reading corpus files and directories, for the replay command and the seed test.
public enum SeedFiles {
  /// Files as given, directories replaced by every regular file below them (sorted, so runs compare).
  public static func expand(_ paths: [String]) -> [String] {
    paths.flatMap { path -> [String] in
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return [path] }
      let below = FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []
      return below.sorted().map { path + "/" + $0 }.filter {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: $0, isDirectory: &isDir) && !isDir.boolValue
      }
    }
  }

  public static func read(_ path: String) -> [UInt8]? {
    FileManager.default.contents(atPath: path).map { Array($0) }
  }
}
