/// The kubelet's restart and image-pull back-off: 10 s, doubling, at most 5 minutes.
struct Backoff: Sendable, Equatable {
  static let initial = 10
  static let maximum = 300

  private(set) var seconds: Int? = nil

  /// The delay to use now, and the next one.
  mutating func next() -> Int {
    let current = seconds ?? Self.initial
    seconds = min(current * 2, Self.maximum)
    return current
  }

  /// Go's `time.Duration` text, as in `back-off 1m20s restarting ...`.
  static func goDuration(_ seconds: Int) -> String {
    if seconds < 60 { return "\(seconds)s" }
    let minutes = seconds / 60
    return "\(minutes)m\(seconds % 60)s"
  }
}
