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
    }
  }
}
