import Foundation
import TestSupport
import Testing
import Yams

/// krew-index's validation rules (kubernetes-sigs/krew internal/index/validation), applied to
/// the committed manifest.
@Suite struct KrewManifestTests {
  static func manifest() throws -> [String: Any] {
    let text = try DocumentationDriftTests.read("krew-manifest.yaml")
    return try #require(try Yams.load(yaml: text) as? [String: Any])
  }

  @Test func followsKrewValidation() throws {
    let m = try Self.manifest()
    #expect(m["apiVersion"] as? String == "krew.googlecontainertools.github.com/v1alpha2")
    #expect(m["kind"] as? String == "Plugin")
    let name = try #require((m["metadata"] as? [String: Any])?["name"] as? String)
    #expect(name.range(of: #"^[\w-]+$"#, options: .regularExpression) != nil)
    let spec = try #require(m["spec"] as? [String: Any])
    let short = try #require(spec["shortDescription"] as? String)
    #expect(!short.isEmpty && !short.contains("\n"), "shortDescription must be one non-empty line")
    let version = try #require(spec["version"] as? String)
    #expect(version.range(of: #"^v\d+\.\d+\.\d+$"#, options: .regularExpression) != nil)
    let client = try Binaries.run(Binaries.path("kubectl-kftray"), ["version", "--client"]).stdout
    #expect(client == "Client Version: \(version)\n", "the manifest's version is the plugin's")

    let platforms = try #require(spec["platforms"] as? [[String: Any]])
    #expect(!platforms.isEmpty)
    var selectors = Set<String>()
    for platform in platforms {
      let labels = try #require((platform["selector"] as? [String: Any])?["matchLabels"] as? [String: String])
      #expect(Set(labels.keys).isSubset(of: ["os", "arch"]) && !labels.isEmpty)
      #expect(selectors.insert(labels.sorted { $0.key < $1.key }.description).inserted, "selectors must not overlap")
      let sha = try #require(platform["sha256"] as? String)
      #expect(sha.range(of: "^[0-9a-f]{64}$", options: .regularExpression) != nil)
      let uri = try #require(platform["uri"] as? String)
      #expect(uri.hasPrefix("https://") && uri.hasSuffix(".tar.gz") && uri.contains("/\(version)/"))
      #expect(platform["bin"] as? String == "kubectl-kftray")
      let files = (platform["files"] as? [[String: String]]) ?? []
      #expect(files.contains { $0["from"] == "LICENSE" }, "krew requires the LICENSE in the installation")
      #expect(files.allSatisfy { !($0["from"] ?? "").isEmpty && !($0["to"] ?? "").isEmpty })
    }
    let caveats = try #require(spec["caveats"] as? String)
    #expect(caveats.contains("kubectl kftray completion install"), "the caveats explain how to get completion")
    #expect(caveats.contains("relay pod"), "the caveats say that the plugin creates a relay pod")
  }

  /// The host platform's entry against the archive `make dist` built: its sha256, and `bin` and every
  /// `files` entry inside it. Runs only where that archive exists (after `make dist`; dist/ is not committed).
  @Test(.enabled(if: Self.hostArchive() != nil, "run make dist first")) func hostArchiveMatchesTheManifest() throws {
    let archive = try #require(Self.hostArchive())
    let spec = try #require(try Self.manifest()["spec"] as? [String: Any])
    let platforms = try #require(spec["platforms"] as? [[String: Any]])
    let host = try #require(platforms.first { platform in
      let labels = (platform["selector"] as? [String: Any])?["matchLabels"] as? [String: String]
      return labels == ["os": "linux", "arch": Self.hostArch]
    })
    #expect((host["uri"] as? String)?.hasSuffix("/" + (archive as NSString).lastPathComponent) == true)
    let sha = try Binaries.run("/usr/bin/sha256sum", [archive]).stdout.split(separator: " ").first.map(String.init)
    #expect(host["sha256"] as? String == sha, "the manifest's sha256 is not the archive's: run make dist")
    let listing = try Binaries.run("/bin/tar", ["-tzf", archive]).stdout.split(separator: "\n").map { $0.hasPrefix("./") ? String($0.dropFirst(2)) : String($0) }
    #expect(listing.contains(try #require(host["bin"] as? String)))
    for file in (host["files"] as? [[String: String]]) ?? [] { #expect(listing.contains(file["from"] ?? ""), "archive lacks \(file)") }
  }

  static var hostArch: String {
    #if arch(x86_64)
      "amd64"
    #else
      "arm64"
    #endif
  }

  static func hostArchive() -> String? {
    guard let text = try? DocumentationDriftTests.read("krew-manifest.yaml"),
      let version = text.split(separator: "\n").first(where: { $0.contains("version: v") })?.split(separator: " ").last
    else { return nil }
    let path = DocumentationDriftTests.root.appendingPathComponent("dist/kubectl-kftray_\(version)_linux_\(hostArch).tar.gz").path
    return FileManager.default.fileExists(atPath: path) ? path : nil
  }
}
