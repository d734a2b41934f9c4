import Foundation
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
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    var env = ["HOME": home, "PATH": "/usr/bin:/bin"]
    if let kubeconfigEnv { env["KUBECONFIG"] = kubeconfigEnv }
    env.merge(extraEnv) { _, new in new }
    p.environment = env
    p.currentDirectoryURL = URL(fileURLWithPath: home)
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return Result(status: p.terminationStatus, stdout: stdout, stderr: stderr)
  }
}

enum PEM {
  static func cert(_ tag: String) -> String { "-----BEGIN CERTIFICATE-----\n\(tag)\n-----END CERTIFICATE-----\n" }
  static func key(_ tag: String) -> String { "-----BEGIN PRIVATE KEY-----\n\(tag)\n-----END PRIVATE KEY-----\n" }
  static func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }
}
