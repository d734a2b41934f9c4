import Foundation
import TestSupport
import Testing

/// `kubectl kftray <TAB>` as kubectl (>= 1.26) runs it: real kubectl's `__complete`, which finds
/// completions/kubectl_complete-kftray on PATH, which runs the built plugin's `__complete`.
@Suite struct CompletionTests {
  static let completions = DocumentationDriftTests.root.appendingPathComponent("completions").path

  static func environment(_ sandbox: SandboxCluster.Running) -> [String: String] {
    [
      "HOME": sandbox.directory, "KUBECONFIG": sandbox.kubeconfig,
      "PATH": "\(Binaries.directory):\(completions):/usr/local/bin:/usr/bin:/bin",
    ]
  }

  /// The candidates (values only) and the directive of `kubectl __complete kftray WORDS…`.
  static func complete(_ sandbox: SandboxCluster.Running, _ words: [String]) throws -> (values: [String], lines: [String], directive: String) {
    let r = try Binaries.run(ClusterTests.kubectlPath, ["__complete", "kftray"] + words, environment: environment(sandbox))
    #expect(r.status == 0, "\(r.stderr)")
    var lines = r.stdout.split(separator: "\n").map(String.init)
    let directive = lines.popLast() ?? ""
    return (lines.map { String($0.split(separator: "\t").first ?? "") }, lines, directive)
  }

  @Test func subcommandsWithDescriptions() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let r = try Self.complete(sandbox, [""])
    #expect(r.values == ["proxy", "doctor", "cleanup", "version", "completion"])
    #expect(r.lines.contains("proxy\tForward local ports to addresses that only the cluster can reach."))
    #expect(r.directive == ":4")
    #expect(try Self.complete(sandbox, ["pr"]).values == ["proxy"])
    #expect(try Self.complete(sandbox, ["completion", ""]).values == ["install", "helper"])
  }

  @Test func flagsOfEachSubcommand() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let proxy = try Self.complete(sandbox, ["proxy", "--"]).values
    for flag in ["--context", "--namespace", "--file", "--alias", "--transport", "--patch-file", "--kubeconfig"] {
      #expect(proxy.contains(flag), "proxy lacks \(flag): \(proxy)")
    }
    #expect(try Self.complete(sandbox, ["doctor", "--sk"]).values == ["--skip-image-check"])
    #expect(try Self.complete(sandbox, ["cleanup", "--all-"]).values == ["--all-namespaces"])
    #expect(try Self.complete(sandbox, ["version", "-"]).values.contains("-n"))
  }

  @Test func kubeconfigNames() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    #expect(try Self.complete(sandbox, ["proxy", "--context", ""]).values == ["sandbox-admin", "sandbox-dev", "sandbox-readonly"])
    #expect(try Self.complete(sandbox, ["doctor", "--context=sandbox-d"]).values == ["--context=sandbox-dev"])
    #expect(try Self.complete(sandbox, ["version", "--cluster", ""]).values == ["kftray-sandbox"])
    #expect(try Self.complete(sandbox, ["cleanup", "--user", "sandbox-"]).values == ["sandbox-admin", "sandbox-dev", "sandbox-readonly"])
    // --kubeconfig on the line wins over KUBECONFIG, as for kubectl.
    #expect(try Self.complete(sandbox, ["proxy", "--kubeconfig", "/dev/null", "--context", ""]).values == [])
  }

  @Test func namespacesFromTheAPI() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let names = try Self.complete(sandbox, ["proxy", "--context", "sandbox-admin", "-n", ""]).values
    #expect(["default", "dev", "restricted"].allSatisfy(names.contains), "\(names)")
    #expect(try Self.complete(sandbox, ["cleanup", "--context", "sandbox-admin", "--namespace", "re"]).values == ["restricted"])
    // No server answering: no suggestions, quickly, and no error for the shell.
    let start = ContinuousClock.now
    let offline = try Self.complete(sandbox, ["proxy", "--kubeconfig", "/dev/null", "-s", "https://127.0.0.1:1", "-n", ""])
    #expect(offline.values == [] && offline.directive == ":4")
    #expect(ContinuousClock.now - start < .seconds(5))
  }

  static func kftrayFile() throws -> String {
    let dir = try Teardown.temporaryDirectory("kftray-completion")
    let path = dir + "/kftray-configs.json"
    let json = """
      [{"alias": "db", "workload_type": "proxy", "remote_address": "database.region.rds.amazonaws.com", "remote_port": 5432, "local_port": 5432},
       {"alias": "dns", "workload_type": "proxy", "remote_address": "udp-echo.default.svc.cluster.local", "remote_port": 5353, "protocol": "udp"},
       {"alias": "web", "workload_type": "service", "service": "web", "remote_port": 80}]
      """
    try Data(json.utf8).write(to: URL(fileURLWithPath: path))
    return path
  }

  @Test func aliasesFromTheKFTrayFile() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let file = try Self.kftrayFile()
    #expect(try Self.complete(sandbox, ["proxy", "-f", file, "--alias", ""]).values == ["db", "dns"])
    #expect(try Self.complete(sandbox, ["doctor", "--file=\(file)", "--alias", "d"]).values == ["db", "dns"])
    #expect(try Self.complete(sandbox, ["proxy", "--alias", ""]).values == [], "no file, no aliases")
  }

  @Test func targetsFromServicesAndTheKFTrayFile() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let targets = try Self.complete(sandbox, ["proxy", "--context", "sandbox-admin", ""])
    for expected in [
      "kubernetes.default.svc.cluster.local:443", "echo.default.svc.cluster.local:7000", "web.default.svc.cluster.local:80",
      "udp-echo.default.svc.cluster.local:5353/udp",
    ] {
      #expect(targets.values.contains(expected), "missing \(expected): \(targets.values)")
    }
    #expect(targets.lines.contains("echo.default.svc.cluster.local:7000\tService default/echo"))
    #expect(targets.directive == ":4")
    #expect(try Self.complete(sandbox, ["doctor", "--context", "sandbox-admin", "8080:we"]).values == ["8080:web.default.svc.cluster.local:80"])
    let file = try Self.kftrayFile()
    let withFile = try Self.complete(sandbox, ["proxy", "--context", "sandbox-admin", "-f", file, "data"]).values
    #expect(withFile == ["database.region.rds.amazonaws.com:5432"])
  }

  @Test func valuesAndFiles() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    #expect(try Self.complete(sandbox, ["doctor", "-o", ""]).values == ["table", "json", "yaml"])
    #expect(try Self.complete(sandbox, ["version", "--output", ""]).values == ["text", "json"])
    #expect(try Self.complete(sandbox, ["proxy", "--transport", ""]).values == ["auto", "websocket", "spdy"])
    #expect(try Self.complete(sandbox, ["proxy", "--insecure-skip-tls-verify", ""]).values == ["true", "false"])
    for flag in ["-f", "--patch-file", "--kubeconfig"] {
      let files = try Self.complete(sandbox, ["proxy", flag, ""])
      #expect(files.values == [] && files.directive == ":0", "\(flag): file names are left to the shell")
    }
  }

  @Test func helperIsWhatCompletionInstallWrites() throws {
    let dir = try Teardown.temporaryDirectory("kftray-helper")
    // A krew-like layout: the plugin is a symlink in a bin directory; the helper goes next to the link.
    let bin = dir + "/bin"
    try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(atPath: bin + "/kubectl-kftray", withDestinationPath: Binaries.path("kubectl-kftray"))
    let r = try Binaries.run(bin + "/kubectl-kftray", ["completion", "install"], environment: ["PATH": "/usr/bin:/bin"])
    #expect(r.status == 0, "\(r.stderr)")
    let written = try String(contentsOfFile: bin + "/kubectl_complete-kftray", encoding: .utf8)
    #expect(written == (try DocumentationDriftTests.read("completions/kubectl_complete-kftray")))
    #expect(FileManager.default.isExecutableFile(atPath: bin + "/kubectl_complete-kftray"))
    let other = dir + "/other"
    try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
    #expect(try Binaries.run(Binaries.path("kubectl-kftray"), ["completion", "install", "--dir", other]).status == 0)
    #expect(FileManager.default.isExecutableFile(atPath: other + "/kubectl_complete-kftray"))
    let refused = try Binaries.run(Binaries.path("kubectl-kftray"), ["completion", "install", "--dir", dir + "/missing"])
    #expect(refused.status == 1 && refused.stderr.contains("--dir"), "\(refused.stderr)")
  }
}
