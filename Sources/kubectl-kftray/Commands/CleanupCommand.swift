import ArgumentParser
import Foundation
import KFTray
import KubeClient
import Yams

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

struct CleanupCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cleanup",
    abstract: "Find and delete relay and doctor pods left behind.",
    discussion: """
      Lists the pods this plugin made (label app.kubernetes.io/managed-by=kubectl-kftray) in the \
      namespace (-n, else the context's) or in every namespace (-A), and judges each: orphaned when \
      its owner process is gone on this host, it ended, or its heartbeat (renewed every 30 s by a \
      running proxy) is older than --stale-after; active otherwise. Deletes the orphaned ones; --all \
      deletes the active ones too (asks first on a terminal, unless --yes).

      Exit status: 0 did what was asked, 1 a pod could not be deleted or a namespace could not be \
      read (each reported), 64 usage error.
      """)

  @OptionGroup var connection: ConnectionOptions

  @Flag(name: [.customShort("A"), .customLong("all-namespaces")], help: "Look in every namespace.")
  var allNamespaces = false

  @Flag(name: .customLong("all"), help: "Delete active pods too (asks first on a terminal, unless --yes).")
  var includeActive = false

  @Flag(name: [.short, .long], help: "Do not ask before deleting active pods with --all.")
  var yes = false

  @Flag(name: .customLong("dry-run"), help: "Only list what would be deleted.")
  var dryRun = false

  @Option(name: .customLong("older-than"), help: ArgumentHelp("Only pods older than this (e.g. 1h, 30m).", valueName: "duration"))
  var olderThan: String?

  @Option(name: [.customShort("l"), .customLong("selector")], help: ArgumentHelp("A label selector narrowing the pods.", valueName: "selector"))
  var selector: String?

  @Option(name: .customLong("stale-after"), help: ArgumentHelp("A heartbeat older than this means orphaned (default 2m).", valueName: "duration"))
  var staleAfter: String = "2m"

  @Flag(name: .customLong("include-kftray"), help: "Also find and delete the kftray desktop app's pods (kftray-forward-*, kftray-expose-*).")
  var includeKFTray = false

  @Option(name: [.short, .customLong("output")], help: "Output format: table, json or yaml.")
  var output: OutputFormat = .table

  enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case table, json, yaml }

  func validate() throws {
    if allNamespaces && connection.namespace != nil { throw ValidationError("give -n NAMESPACE or -A, not both") }
    _ = try duration(olderThan, flag: "--older-than")
    _ = try duration(staleAfter, flag: "--stale-after")
  }

  private func duration(_ text: String?, flag: String) throws -> TimeInterval? {
    guard let text else { return nil }
    guard let d = GoDuration.parse(text) ?? Int64(text).map({ Duration.seconds($0) }), d >= .zero else {
      throw ValidationError("\(flag) \"\(text)\" is not a duration: use e.g. 90s, 30m or 2h")
    }
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
  }

  func run() async throws {
    let terminal = Terminal()
    let api = try connection.makeClient()
    defer { api.shutdown() }
    var request = CleanupRequest(namespace: allNamespaces ? nil : api.config.namespace)
    request.includeActive = includeActive
    request.dryRun = dryRun
    request.olderThan = try duration(olderThan, flag: "--older-than")
    request.staleAfter = try duration(staleAfter, flag: "--stale-after") ?? 120
    request.selector = selector
    request.includeKFTray = includeKFTray
    let cleaner = PodCleaner(api: api)
    var report = await cleaner.plan(request)
    report.dryRun = dryRun
    if !dryRun {
      let active = report.rows.filter { $0.action == .wouldDelete && $0.verdict == .active }
      if !active.isEmpty && !yes {
        guard isatty(STDIN_FILENO) == 1 else {
          throw UserFacingError("--all would delete \(active.count) active pod(s) whose proxy still runs: add --yes to confirm")
        }
        try? FileHandle.standardError.write(contentsOf: Data("Delete \(active.count) active pod(s) whose proxy still runs? [y/N] ".utf8))
        let answer = readLine()?.lowercased() ?? ""
        if answer != "y" && answer != "yes" {
          for i in report.rows.indices where report.rows[i].verdict == .active { report.rows[i].action = .kept }
        }
      }
      report = await cleaner.execute(report)
    }
    try print(report, terminal: terminal, showNamespace: allNamespaces)
    if !report.succeeded { throw ExitCode.failure }
  }

  private func print(_ report: CleanupReport, terminal: Terminal, showNamespace: Bool) throws {
    switch output {
    case .json:
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      terminal.out(String(decoding: try encoder.encode(CleanupDocument(report)), as: UTF8.self))
    case .yaml:
      terminal.out(try YAMLEncoder().encode(CleanupDocument(report)).trimmingCharacters(in: .newlines))
    case .table:
      if report.rows.isEmpty {
        terminal.err("No kubectl-kftray pods found" + (report.errors.isEmpty ? "." : " where it could look."))
      } else {
        var header = ["NAME", "KIND", "OWNER", "AGE", "TARGET", "HEARTBEAT", "VERDICT", "ACTION", "REASON"]
        if showNamespace { header.insert("NAMESPACE", at: 0) }
        var table = [header]
        for row in report.rows {
          var cells = [
            row.name, row.kind.rawValue, row.owner ?? "<unknown>", row.ageSeconds.map { Timestamps.age(Double($0)) } ?? "?",
            row.target ?? "-", row.heartbeatAgeSeconds.map { Timestamps.age(Double($0)) + " ago" } ?? "-",
            paint(row.verdict, terminal), row.action.rawValue, row.reason,
          ]
          if showNamespace { cells.insert(row.namespace, at: 0) }
          table.append(cells)
        }
        for line in Self.columns(table) { terminal.out(line) }
      }
      for error in report.errors {
        terminal.err("error: namespace \(error.namespace == "*" ? "(all)" : error.namespace): \(error.message)")
      }
      for row in report.rows where row.action == .failed {
        terminal.err("error: could not delete \(row.namespace)/\(row.name)" + (row.error.map { ": \($0)" } ?? ""))
      }
      terminal.out(report.summary)
    }
  }

  private func paint(_ verdict: CleanupVerdict.Status, _ terminal: Terminal) -> String {
    switch verdict {
    case .orphaned: return terminal.paintOut(verdict.rawValue, code: "33")
    case .active: return terminal.paintOut(verdict.rawValue, code: "32")
    case .kftray: return verdict.rawValue
    }
  }

  /// kubectl's table layout: columns padded to their widest cell, three spaces apart. Width is
  /// counted without colour codes.
  static func columns(_ rows: [[String]]) -> [String] {
    func visible(_ s: String) -> Int {
      // Characters outside colour escapes (ESC [ ... m).
      var count = 0
      var inEscape = false
      for c in s {
        if c == "\u{1B}" { inEscape = true } else if inEscape { if c == "m" { inEscape = false } } else { count += 1 }
      }
      return count
    }
    let widths = (0..<(rows.first?.count ?? 0)).map { c in rows.map { visible($0[c]) }.max() ?? 0 }
    return rows.map { row in
      row.enumerated().map { c, cell in
        c == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[c] - visible(cell) + 3)
      }.joined()
    }
  }
}

/// `-o json|yaml`: the same rows as the table, the per-namespace errors and the summary.
struct CleanupDocument: Encodable {
  var pods: [CleanupRow]
  var errors: [CleanupNamespaceError]
  var summary: String
  var deleted: Int
  var kept: Int
  var failed: Int
  var wouldDelete: Int

  init(_ report: CleanupReport) {
    pods = report.rows
    errors = report.errors
    summary = report.summary
    deleted = report.deleted
    kept = report.kept
    failed = report.failed
    wouldDelete = report.wouldDelete
  }
}
