import Foundation

/// The report as a person reads it: one section per area, a line per check (status, id, result),
/// the hint under each check that does not pass, multi-line details (a Role) indented below.
/// `paint` colours a status word; the table's layout never depends on it.
public struct DoctorTable: Sendable {
  public var report: DoctorReport

  public init(report: DoctorReport) { self.report = report }

  public func render(paint: (String, CheckStatus) -> String = { text, _ in text }) -> String {
    var lines: [String] = []
    let context = report.context.map { ", context \($0)" } ?? ""
    lines.append("kubectl kftray doctor: namespace \(report.namespace)\(context)")
    let width = report.checks.map(\.id.count).max() ?? 0
    for (area, checks) in report.grouped {
      lines.append("")
      lines.append(area.title.uppercased())
      for check in checks {
        let id = check.id + String(repeating: " ", count: width - check.id.count)
        lines.append("  \(paint(check.status.rawValue, check.status))  \(id)  \(check.result)")
        let indent = String(repeating: " ", count: 10)
        if let hint = check.hint { lines.append(indent + "hint: " + hint) }
        if let detail = check.detail, check.status != .pass {
          lines += detail.split(separator: "\n", omittingEmptySubsequences: false).map { indent + "  " + $0 }
          if lines.last?.trimmingCharacters(in: .whitespaces).isEmpty == true { lines.removeLast() }
        }
      }
    }
    let s = report.summary
    lines.append("")
    lines.append("\(s.pass) passed, \(s.warn) warning\(s.warn == 1 ? "" : "s"), \(s.fail) failed, \(s.skip) skipped")
    return lines.joined(separator: "\n") + "\n"
  }
}
