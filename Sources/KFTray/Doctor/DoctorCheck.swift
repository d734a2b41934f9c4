/// The outcome of one check. Ordered by severity, so a group's worst status is its `max()`.
public enum CheckStatus: String, Sendable, Codable, CaseIterable, Comparable {
  case pass, skip, warn, fail

  private var rank: Int {
    switch self {
    case .pass: return 0
    case .skip: return 1
    case .warn: return 2
    case .fail: return 3
    }
  }

  public static func < (a: CheckStatus, b: CheckStatus) -> Bool { a.rank < b.rank }
}

/// Where a check looks. The table groups checks by area, in this order: from the laptop outwards.
public enum CheckArea: String, Sendable, Codable, CaseIterable {
  case local, api, rbac, admission, network, image, cleanup

  public var title: String {
    switch self {
    case .local: return "Local"
    case .api: return "API server"
    case .rbac: return "RBAC"
    case .admission: return "Admission"
    case .network: return "In-cluster network"
    case .image: return "Relay image"
    case .cleanup: return "Leftovers"
    }
  }
}

/// One finding: an id a script can match, a status, a one-line result and, when it does not pass,
/// what to do about it. `detail` carries multi-line extras (a Role to apply, resolv.conf).
public struct DoctorCheck: Sendable, Codable, Equatable {
  public var id: String
  public var area: CheckArea
  public var status: CheckStatus
  public var result: String
  public var hint: String?
  public var detail: String?

  public init(id: String, area: CheckArea, status: CheckStatus, result: String, hint: String? = nil, detail: String? = nil) {
    self.id = id
    self.area = area
    self.status = status
    self.result = result
    self.hint = status == .pass ? nil : hint
    self.detail = detail
  }

  public static func pass(_ id: String, _ area: CheckArea, _ result: String, detail: String? = nil) -> DoctorCheck {
    DoctorCheck(id: id, area: area, status: .pass, result: result, detail: detail)
  }
  public static func warn(_ id: String, _ area: CheckArea, _ result: String, hint: String, detail: String? = nil) -> DoctorCheck {
    DoctorCheck(id: id, area: area, status: .warn, result: result, hint: hint, detail: detail)
  }
  public static func fail(_ id: String, _ area: CheckArea, _ result: String, hint: String, detail: String? = nil) -> DoctorCheck {
    DoctorCheck(id: id, area: area, status: .fail, result: result, hint: hint, detail: detail)
  }
  public static func skip(_ id: String, _ area: CheckArea, _ result: String, hint: String? = nil) -> DoctorCheck {
    DoctorCheck(id: id, area: area, status: .skip, result: result, hint: hint)
  }
}

/// Everything one `doctor` run found, in the order the checks ran; what `-o json|yaml` print.
public struct DoctorReport: Sendable, Codable, Equatable {
  public struct Summary: Sendable, Codable, Equatable {
    public var pass = 0, warn = 0, fail = 0, skip = 0
  }

  public var apiVersion = "kubectl-kftray.dev/v1"
  public var kind = "DoctorReport"
  public var context: String?
  public var namespace: String
  public var targets: [String]

  public init(context: String?, namespace: String, targets: [String], checks: [DoctorCheck]) {
    self.context = context
    self.namespace = namespace
    self.targets = targets
    self.checks = checks
  }

  /// In area order (as the table shows them), keeping the run's order within an area.
  public var checks: [DoctorCheck] {
    get { ordered }
    set { ordered = CheckArea.allCases.flatMap { area in newValue.filter { $0.area == area } } }
  }
  private var ordered: [DoctorCheck] = []

  public var summary: Summary {
    var s = Summary()
    for check in checks {
      switch check.status {
      case .pass: s.pass += 1
      case .warn: s.warn += 1
      case .fail: s.fail += 1
      case .skip: s.skip += 1
      }
    }
    return s
  }

  /// 0 when nothing failed; with `strict` warnings count as failures.
  public func exitCode(strict: Bool) -> Int32 {
    let worst = checks.map(\.status).max() ?? .pass
    return worst == .fail || (strict && worst == .warn) ? 1 : 0
  }

  /// The checks by area, areas in their fixed order, empty areas left out.
  public var grouped: [(area: CheckArea, checks: [DoctorCheck])] {
    CheckArea.allCases.compactMap { area in
      let inArea = checks.filter { $0.area == area }
      return inArea.isEmpty ? nil : (area, inArea)
    }
  }

  private enum CodingKeys: String, CodingKey { case apiVersion, kind, context, namespace, targets, summary, checks }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    apiVersion = try c.decode(String.self, forKey: .apiVersion)
    kind = try c.decode(String.self, forKey: .kind)
    context = try c.decodeIfPresent(String.self, forKey: .context)
    namespace = try c.decode(String.self, forKey: .namespace)
    targets = try c.decode([String].self, forKey: .targets)
    checks = try c.decode([DoctorCheck].self, forKey: .checks)
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(apiVersion, forKey: .apiVersion)
    try c.encode(kind, forKey: .kind)
    try c.encodeIfPresent(context, forKey: .context)
    try c.encode(namespace, forKey: .namespace)
    try c.encode(targets, forKey: .targets)
    try c.encode(summary, forKey: .summary)
    try c.encode(checks, forKey: .checks)
  }
}
