import Foundation

/// Which kubeconfig files to read, in priority order (client-go's `ClientConfigLoadingRules`).
struct KubeconfigFileSelection: Sendable, Equatable {
  var paths: [String]
  /// `--kubeconfig` was given: that one file must exist.
  var explicit: Bool

  static func choose(explicitPath: String?, environment: [String: String], homeDirectory: String) -> Self {
    if let explicitPath, !explicitPath.isEmpty { return Self(paths: [explicitPath], explicit: true) }
    if let list = environment["KUBECONFIG"], !list.isEmpty {
      var seen = Set<String>()
      // filepath.SplitList: ':'-separated; empty entries are skipped, duplicates keep their first place.
      let paths = list.split(separator: ":", omittingEmptySubsequences: true).map(String.init).filter {
        seen.insert($0).inserted
      }
      return Self(paths: paths, explicit: false)
    }
    return Self(paths: [PathResolution.join(homeDirectory, ".kube/config")], explicit: false)
  }
}

/// The merged view of several kubeconfig files (client-go's `Load`): for clusters, users and contexts
/// the first file that defines a name wins as a whole; `current-context` comes from the first file that
/// sets it. Every stanza remembers its own file, and relative paths in it are already absolute.
struct MergedKubeconfig: Sendable, Equatable {
  /// Files that were actually read (missing ones skipped), in order.
  var files: [String] = []
  var currentContext = ""
  var clusters: [String: ClusterStanza] = [:]
  var users: [String: UserStanza] = [:]
  var contexts: [String: ContextStanza] = [:]

  mutating func merge(_ doc: KubeconfigDocument, workingDirectory: String) {
    files.append(doc.path)
    if currentContext.isEmpty { currentContext = doc.currentContext }
    let base = PathResolution.directory(of: doc.path, workingDirectory: workingDirectory)
    for (name, stanza) in doc.clusters where clusters[name] == nil {
      var c = stanza
      c.certificateAuthority = PathResolution.resolve(c.certificateAuthority, against: base)
      clusters[name] = c
    }
    for (name, stanza) in doc.users where users[name] == nil {
      var u = stanza
      u.clientCertificate = PathResolution.resolve(u.clientCertificate, against: base)
      u.clientKey = PathResolution.resolve(u.clientKey, against: base)
      u.tokenFile = PathResolution.resolve(u.tokenFile, against: base)
      // A bare command name is looked up in PATH at run time; only paths are made absolute.
      if let command = u.exec?.command, command.contains("/") {
        u.exec?.command = PathResolution.resolve(command, against: base)
      }
      users[name] = u
    }
    for (name, stanza) in doc.contexts where contexts[name] == nil {
      contexts[name] = stanza
    }
  }
}

/// Reads and parses the selected files.
struct KubeconfigReader: Sendable {
  var workingDirectory: String

  func read(_ selection: KubeconfigFileSelection) throws(KubeconfigError) -> MergedKubeconfig {
    var merged = MergedKubeconfig()
    for path in selection.paths {
      let absolute = PathResolution.absolute(path, workingDirectory: workingDirectory)
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory) else {
        // Missing files in KUBECONFIG (or ~/.kube/config) are skipped; an explicit file must exist.
        if selection.explicit { throw .explicitFileMissing(path: path) }
        continue
      }
      if isDirectory.boolValue { throw .unreadableFile(path: path, reason: "is a directory") }
      // Read through a file handle: FileManager.contents returns nil for /dev/null and for the
      // pipes of process substitution, both of which kubectl users pass as --kubeconfig.
      guard FileManager.default.isReadableFile(atPath: absolute), let handle = FileHandle(forReadingAtPath: absolute)
      else {
        throw .unreadableFile(path: path, reason: "permission denied")
      }
      let data: Data
      do {
        data = try handle.readToEnd() ?? Data()
        try? handle.close()
      } catch {
        throw .unreadableFile(path: path, reason: "\(error.localizedDescription)")
      }
      guard let text = String(data: data, encoding: .utf8) else {
        throw .invalidYAML(path: path, reason: "not UTF-8 text")
      }
      let doc = try KubeconfigParser(path: path).parse(text)
      merged.merge(doc, workingDirectory: workingDirectory)
    }
    return merged
  }
}

/// Go's `filepath` behaviour for the few operations client-go performs on kubeconfig paths.
enum PathResolution {
  static func absolute(_ path: String, workingDirectory: String) -> String {
    path.hasPrefix("/") ? clean(path) : join(workingDirectory, path)
  }

  /// `filepath.Abs(filepath.Dir(file))`.
  static func directory(of file: String, workingDirectory: String) -> String {
    let abs = absolute(file, workingDirectory: workingDirectory)
    guard let slash = abs.lastIndex(of: "/") else { return "." }
    let dir = String(abs[..<slash])
    return dir.isEmpty ? "/" : dir
  }

  /// client-go's `ResolvePaths`: empty and absolute references stay as they are, others are joined.
  static func resolve(_ ref: String, against base: String) -> String {
    if ref.isEmpty || ref.hasPrefix("/") { return ref }
    return join(base, ref)
  }

  static func join(_ a: String, _ b: String) -> String { clean(a + "/" + b) }

  /// Lexical `filepath.Clean`.
  static func clean(_ path: String) -> String {
    if path.isEmpty { return "." }
    let rooted = path.hasPrefix("/")
    var parts: [Substring] = []
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
      switch part {
      case ".": continue
      case "..":
        if let last = parts.last, last != ".." {
          parts.removeLast()
        } else if !rooted {
          parts.append(part)
        }
      default: parts.append(part)
      }
    }
    let joined = parts.joined(separator: "/")
    if rooted { return "/" + joined }
    return joined.isEmpty ? "." : joined
  }
}
