import Foundation
import TestSupport
import Testing

@testable import KubeClient

/// A fresh directory per test case; it doubles as $HOME so the real ~/.kube is never read.
struct KubeconfigSandbox {
  let dir: String

  init() throws {
    let base = FileManager.default.temporaryDirectory.path
    dir = "\(base)/kubeconfig-test-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
  }

  func path(_ relative: String) -> String { relative.hasPrefix("/") ? relative : "\(dir)/\(relative)" }

  /// Writes `files` (relative path → content); `{dir}` in content is replaced by the sandbox path.
  func write(_ files: [String: String]) throws {
    for (relative, content) in files {
      let full = path(relative)
      try FileManager.default.createDirectory(
        atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
      try Data(content.replacingOccurrences(of: "{dir}", with: dir).utf8).write(to: URL(fileURLWithPath: full))
    }
  }

  func writeExecutable(_ relative: String, _ script: String) throws {
    try write([relative: script])
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path(relative))
  }

  func read(_ relative: String) -> String? {
    FileManager.default.contents(atPath: path(relative)).map { String(decoding: $0, as: UTF8.self) }
  }

  func remove() { try? FileManager.default.removeItem(atPath: dir) }
}

/// Runs the real kubectl (v1.32 here) on the sandbox, only ever with `config` subcommands, which
/// need no network. HOME points at the sandbox so the user's own kubeconfig is never read.
struct Kubectl {
  static let path = "/usr/bin/kubectl"
  static var available: Bool { FileManager.default.isExecutableFile(atPath: path) }

  struct Result {
    var status: Int32
    var stdout: Data
    var stderr: String
  }

  static func run(_ args: [String], home: String, kubeconfigEnv: String?, extraEnv: [String: String] = [:]) throws
    -> Result
  {
    var env = ["HOME": home, "PATH": "/usr/bin:/bin"]
    if let kubeconfigEnv { env["KUBECONFIG"] = kubeconfigEnv }
    env.merge(extraEnv) { _, new in new }
    // TestSupport's posix_spawn runner: Foundation.Process was seen to hang in the concurrent test runner.
    let result = try Binaries.run(path, args, environment: env, workingDirectory: home)
    return Result(status: result.status, stdout: Data(result.stdout.utf8), stderr: result.stderr)
  }
}

enum PEM {
  static func cert(_ tag: String) -> String { "-----BEGIN CERTIFICATE-----\n\(tag)\n-----END CERTIFICATE-----\n" }
  static func key(_ tag: String) -> String { "-----BEGIN PRIVATE KEY-----\n\(tag)\n-----END PRIVATE KEY-----\n" }
  static func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }
}
