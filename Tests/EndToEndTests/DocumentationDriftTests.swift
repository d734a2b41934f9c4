import Foundation
import TestSupport
import Testing

/// README, the man page and the completion scripts must say what `--help` says.
@Suite struct DocumentationDriftTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  static func read(_ path: String) throws -> String {
    try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
  }

  struct Dump: Decodable {
    var command: Command
    struct Command: Decodable {
      var subcommands: [Command]?
      var commandName: String
      var shouldDisplay: Bool?
      var arguments: [Argument]?
    }
    struct Argument: Decodable {
      var names: [Name]?
      var kind: String
      struct Name: Decodable {
        var kind: String
        var name: String
      }
    }
  }

  static func helpTree() throws -> [Dump.Command] {
    let r = try Binaries.run(Binaries.path("kubectl-kftray"), ["--experimental-dump-help"])
    let dump = try JSONDecoder().decode(Dump.self, from: Data(r.stdout.utf8))
    // `help` is ArgumentParser's own and documents itself.
    return (dump.command.subcommands ?? []).filter { $0.shouldDisplay != false && $0.commandName != "help" }
  }

  static func longOptions(_ command: Dump.Command) -> [String] {
    let names: [Dump.Argument.Name] = (command.arguments ?? []).flatMap { $0.names ?? [] }
    let long: [String] = names.filter { $0.kind == "long" }.map(\.name)
    return long.filter { $0 != "help" && $0 != "version" }
  }

  /// The man page's sections by heading (`.SH OPTIONS`, `.SS proxy`), each with its text up to the next heading.
  static func manSections() throws -> [String: String] {
    var sections: [String: String] = [:]
    var current = ""
    for line in try read("man/kubectl-kftray.1").split(separator: "\n", omittingEmptySubsequences: false) {
      if line.hasPrefix(".SH ") || line.hasPrefix(".SS ") {
        current = String(line.dropFirst(4))
        sections[current] = ""
      } else {
        sections[current, default: ""] += line + "\n"
      }
    }
    return sections
  }

  static func roff(_ option: String) -> String { "\\-\\-" + option.replacingOccurrences(of: "-", with: "\\-") }

  /// Each subcommand's own options in its own section; kubectl's connection flags (shared by every
  /// subcommand that talks to a cluster) once, in OPTIONS.
  @Test func manPageDocumentsEachCommandsOptionsInItsSection() throws {
    let sections = try Self.manSections()
    for name in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"] {
      #expect(sections[name] != nil, "man page lacks section \(name)")
    }
    let tree = try Self.helpTree()
    let clients = tree.filter { Self.longOptions($0).contains("kubeconfig") }
    let connection = Set(Self.longOptions(clients[0])).filter { option in clients.allSatisfy { Self.longOptions($0).contains(option) } }
    #expect(connection.isSuperset(of: ["kubeconfig", "context", "cluster", "user", "namespace"]))
    for option in connection {
      #expect(sections["OPTIONS"]?.contains(Self.roff(option)) == true, "OPTIONS lacks --\(option)")
    }
    for command in tree {
      let section = try #require(sections[command.commandName], "man page lacks a section for \(command.commandName)")
      let nested = (command.subcommands ?? []).filter { $0.commandName != "help" }.flatMap(Self.longOptions)
      for option in Set(Self.longOptions(command) + nested).subtracting(connection) {
        #expect(section.contains(Self.roff(option)), "section \(command.commandName) lacks --\(option)")
      }
    }
    for variable in ["KUBECONFIG", "KUBECTL_PORT_FORWARD_WEBSOCKETS", "NO_COLOR", "HTTPS_PROXY", "NO_PROXY"] {
      #expect(sections["ENVIRONMENT"]?.contains(variable) == true, "ENVIRONMENT lacks \(variable)")
    }
    let examples = try #require(sections["EXAMPLES"])
    for example in ["internal\\-service", "rds.amazonaws.com", "/udp", "\\-f kftray", "kftray doctor", "kftray cleanup"] {
      #expect(examples.contains(example), "EXAMPLES lacks \(example)")
    }
  }

  /// The page is the template filled from the parser: `make docs` regenerates it.
  @Test func manPageIsGeneratedFromTheTemplate() throws {
    let generated = try Binaries.run(
      Binaries.path("kubectl-kftray"), ["__man", Self.root.appendingPathComponent("man/kubectl-kftray.1.in").path])
    #expect(generated.status == 0, "\(generated.stderr)")
    #expect(generated.stdout == (try Self.read("man/kubectl-kftray.1")), "man/kubectl-kftray.1 is stale: run make docs")
  }

  @Test func manPageIsLintClean() throws {
    let r = try Binaries.run("/usr/bin/mandoc", ["-Tlint", Self.root.appendingPathComponent("man/kubectl-kftray.1").path])
    #expect(r.status == 0 && r.stdout.isEmpty && r.stderr.isEmpty, "mandoc -Tlint:\n\(r.stdout)\(r.stderr)")
  }

  @Test func readmeNamesEveryCommandAndConnectionFlag() throws {
    let readme = try Self.read("README.md")
    let tree = try Self.helpTree()
    for command in tree { #expect(readme.contains("`\(command.commandName)`"), "README lacks \(command.commandName)") }
    let version = try #require(tree.first { $0.commandName == "version" })
    for option in Self.longOptions(version) where !["client", "output"].contains(option) {
      #expect(readme.contains("--\(option)"), "README lacks --\(option)")
    }
  }

  @Test func completionScriptsAreCurrent() throws {
    for (shell, file) in [("bash", "completions/kubectl-kftray.bash"), ("zsh", "completions/_kubectl-kftray"), ("fish", "completions/kubectl-kftray.fish")] {
      let generated = try Binaries.run(Binaries.path("kubectl-kftray"), ["--generate-completion-script", shell]).stdout
      #expect(generated == (try Self.read(file)), "\(file) is stale: run make docs")
    }
    let helper = try Binaries.run(Binaries.path("kubectl-kftray"), ["completion", "helper"]).stdout
    #expect(helper == (try Self.read("completions/kubectl_complete-kftray")), "completions/kubectl_complete-kftray is stale: run make docs")
  }
}

/// `make install` as a packager runs it: into a staging root, with the test build as the binary.
@Suite struct InstallTests {
  @Test func makeInstallAndUninstallHonourDestdirAndPrefix() throws {
    let destdir = try Teardown.temporaryDirectory("kftray-install")
    let make = { (target: String) throws -> Binaries.Result in
      try Binaries.run(
        "/usr/bin/make", [target, "DESTDIR=\(destdir)", "PREFIX=/opt/kftray", "PLUGIN=\(Binaries.path("kubectl-kftray"))"],
        environment: ["PATH": "/usr/local/bin:/usr/bin:/bin"], workingDirectory: DocumentationDriftTests.root.path)
    }
    let install = try make("install")
    #expect(install.status == 0, "\(install.stdout)\(install.stderr)")
    let root = destdir + "/opt/kftray"
    for executable in ["bin/kubectl-kftray", "bin/kubectl_complete-kftray"] {
      #expect(FileManager.default.isExecutableFile(atPath: "\(root)/\(executable)"), "\(executable) missing")
    }
    let man = try String(contentsOfFile: root + "/share/man/man1/kubectl-kftray.1", encoding: .utf8)
    #expect(man == (try DocumentationDriftTests.read("man/kubectl-kftray.1")))
    for file in ["share/bash-completion/completions/kubectl-kftray", "share/zsh/site-functions/_kubectl-kftray", "share/fish/vendor_completions.d/kubectl-kftray.fish"] {
      #expect(FileManager.default.fileExists(atPath: "\(root)/\(file)"), "\(file) missing")
    }
    let version = try Binaries.run(root + "/bin/kubectl-kftray", ["version", "--client"])
    #expect(version.stdout == "Client Version: v0.1.0\n")
    let uninstall = try make("uninstall")
    #expect(uninstall.status == 0, "\(uninstall.stderr)")
    for file in ["bin/kubectl-kftray", "bin/kubectl_complete-kftray", "share/man/man1/kubectl-kftray.1"] {
      #expect(!FileManager.default.fileExists(atPath: "\(root)/\(file)"), "\(file) left behind")
    }
  }
}
