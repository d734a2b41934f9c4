import Foundation
import KFTray
import KubeClient

/// The kubeconfig loader through its public API, as kubectl's flags reach it. The input is up to three
/// files separated by 0x01 bytes, listed in KUBECONFIG in that order (merge rules). Invariants: the
/// merged names are the union of each file's names when every file parses; the
/// current context is the first file's that sets one; a loaded config points at a server and names
/// only files that were given; every error has a message.
enum KubeconfigTarget {
  static func run(_ input: [UInt8]) throws(InvariantViolation) {
    // The loader reads files: the inputs are written to a directory of their own, removed afterwards.
    var template = Array((NSTemporaryDirectory() + "/kftray-fuzz-kubeconfig.XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else { fatalError("mkdtemp: \(String(cString: strerror(errno)))") }
    let scratch = String(cString: made)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let parts = input.split(separator: 1, maxSplits: 2, omittingEmptySubsequences: false)
    let paths = parts.indices.map { "\(scratch)/config-\($0)" }
    for (part, path) in zip(parts, paths) {
      guard FileManager.default.createFile(atPath: path, contents: Data(part)) else {
        fatalError("cannot write \(path)")
      }
    }
    let loader = Self.loader(paths, in: scratch)

    // (Loading twice to compare would double the cost of this slow target for little: Yams' resolver
    // runs regular expressions on every scalar.)
    let first = Result { () throws(KubeconfigError) in try loader.load() }
    if case .failure(let error) = first {
      try check(!error.description.isEmpty, "an error without a message: \(error)")
    }
    if case .success(let config) = first {
      try check(!config.server.host.isEmpty, "loaded a config without a server host: \(config.server)")
      try check(config.origin.files.allSatisfy { paths.contains($0) }, "config names files not given: \(config.origin.files)")
      try check(!config.namespace.isEmpty, "empty namespace")
    }

    // Merge rules: the union of names, the first current-context.
    guard paths.count > 1 else { return }
    let each = paths.map { path in Result { () throws(KubeconfigError) in try Self.loader([path], in: scratch).contextNames() } }
    let merged = Result { () throws(KubeconfigError) in try loader.contextNames() }
    if each.allSatisfy({ if case .success = $0 { true } else { false } }) {
      let union = Set(each.flatMap { (try? $0.get()) ?? [] })
      guard case .success(let names) = merged else {
        throw InvariantViolation("every file parses alone but the merge fails: \(merged)")
      }
      try check(Set(names) == union && names.count == union.count, "merged contexts \(names), expected \(union.sorted())")
      let currents = paths.map { (try? Self.loader([$0], in: scratch).currentContext()) ?? nil }
      let expected = currents.compactMap { $0 }.first
      let current = try? loader.currentContext()
      try check(current == expected, "merged current-context \(String(describing: current)), expected \(String(describing: expected))")
    } else {
      try check({ if case .failure = merged { true } else { false } }(), "a file fails alone but the merge of all succeeds")
    }
  }

  static func loader(_ paths: [String], in scratch: String) -> KubeconfigLoader {
    // Hermetic: no home config, no in-cluster fallback, relative paths against the scratch directory.
    KubeconfigLoader(
      environment: ["KUBECONFIG": paths.joined(separator: ":")], homeDirectory: scratch,
      serviceAccountDirectory: scratch + "/no-service-account", workingDirectory: scratch)
  }
}

/// The kftray JSON reader (`proxy --config`). Invariants: deterministic; entries keep their positions
/// (indices increasing, proxies and skipped entries disjoint); a proxy entry has a plausible target; an
/// alias picks its entry; errors name the file.
enum KFTrayJSONTarget {
  static let path = "fuzz.json"

  static func run(_ input: [UInt8]) throws(InvariantViolation) {
    let data = Data(input)
    let first = Result { () throws(KFTrayConfigError) in try KFTrayConfigFile.parse(data, path: path) }
    let second = Result { () throws(KFTrayConfigError) in try KFTrayConfigFile.parse(data, path: path) }
    switch (first, second) {
    case (.failure(let a), .failure(let b)):
      try check(a == b, "two parses fail differently: \(a) / \(b)")
      try check(a.description.contains(path), "error does not name the file: \(a)")
    case (.success(let file), .success(let again)):
      try check(file.proxies == again.proxies && file.skipped == again.skipped, "two parses differ")
      let proxyIndices = file.proxies.map(\.index)
      let skippedIndices = file.skipped.map(\.index)
      try check(proxyIndices == proxyIndices.sorted() && Set(proxyIndices).count == proxyIndices.count, "proxy indices \(proxyIndices)")
      try check(Set(proxyIndices).isDisjoint(with: skippedIndices), "an entry is both a proxy and skipped")
      for entry in file.proxies {
        try check(entry.target.remotePort > 0, "\(entry.label): remote port 0")
        try check(!entry.target.remoteAddress.isEmpty && !entry.target.remoteAddress.utf8.contains(0), "\(entry.label): remote address \(entry.target.remoteAddress.debugDescription)")
        try check(entry.alias != "" && entry.alias != "default-alias", "\(entry.label): placeholder alias kept")
      }
      let aliases = file.proxies.compactMap(\.alias)
      let picked: [KFTrayProxyEntry]
      do { picked = try file.selecting(aliases: aliases, path: path) } catch {
        throw InvariantViolation("the file's own aliases are not found: \(error)")
      }
      if aliases.isEmpty {
        try check(picked == file.proxies, "no aliases pick \(picked.count) of \(file.proxies.count) entries")
      } else {
        try check(picked.map(\.alias) == aliases.map(Optional.some), "aliases pick \(picked.map(\.alias)), expected \(aliases)")
      }
      let unknown = Result { () throws(KFTrayConfigError) in try file.selecting(aliases: ["\u{1}no such alias"], path: path) }
      guard case .failure(let error) = unknown else { throw InvariantViolation("an unknown alias was accepted") }
      try check(error.description.contains(path), "unknown-alias error does not name the file: \(error)")
    default:
      throw InvariantViolation("two parses of the same bytes disagree: \(first) / \(second)")
    }
  }
}
