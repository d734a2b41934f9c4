/// What one probe of the script printed: its output lines, exit status and duration.
public struct ProbeRecord: Sendable, Equatable {
  public var output: [String] = []
  public var exitCode: Int?
  /// From /proc/uptime, in hundredths of a second; nil when the pod could not read it.
  public var elapsedCentiseconds: Int?
  /// The address a connect probe dialled, when the lookup gave one (else it dialled the name).
  public var via: String?

  public init(output: [String] = [], exitCode: Int? = nil, elapsedCentiseconds: Int? = nil) {
    self.output = output
    self.exitCode = exitCode
    self.elapsedCentiseconds = elapsedCentiseconds
  }

  public var text: String { output.joined(separator: "\n") }
  public var finished: Bool { exitCode != nil }
}

/// The doctor pod's log, read back: `##kftray|KIND|ID|out|LINE` and `##kftray|KIND|ID|end|RC|CS`
/// lines keyed by `KIND|ID`. Anything else in the log (a shell's complaint) is kept aside.
public struct ProbeLog: Sendable, Equatable {
  public var records: [String: ProbeRecord] = [:]
  public var began = false
  /// The script reached its last line: a log without it was cut short (deadline, eviction).
  public var completed = false
  public var stray: [String] = []

  public init(parsing log: String) {
    let prefix = ProbeScript.marker + "|"
    for line in log.split(separator: "\n", omittingEmptySubsequences: false) {
      guard line.hasPrefix(prefix) else {
        if !line.isEmpty { stray.append(String(line)) }
        continue
      }
      let fields = line.dropFirst(prefix.count).split(separator: "|", maxSplits: 4, omittingEmptySubsequences: false)
      if fields.first == "begin" {
        began = true
        continue
      }
      if fields.first == "done" {
        completed = true
        continue
      }
      guard fields.count >= 4 else {
        stray.append(String(line))
        continue
      }
      let key = "\(fields[0])|\(fields[1])"
      var record = records[key] ?? ProbeRecord()
      switch fields[2] {
      case "out":
        // A probe that printed nothing still yields one empty line (printf of ""): drop it.
        let text = fields.count > 3 ? String(fields[3...].joined(separator: "|")) : ""
        if !text.isEmpty { record.output.append(text) }
      case "via":
        record.via = fields.count > 3 ? String(fields[3]) : nil
      case "end":
        record.exitCode = Int(fields[3])
        record.elapsedCentiseconds = fields.count > 4 ? Int(fields[4]) : nil
      default:
        stray.append(String(line))
        continue
      }
      records[key] = record
    }
  }

  public subscript(kind: String, id: String) -> ProbeRecord? { records["\(kind)|\(id)"] }
}
