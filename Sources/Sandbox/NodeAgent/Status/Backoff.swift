/// The kubelet's restart and image-pull back-off: 10 s, doubling, at most 5 minutes.
struct Backoff: Sendable, Equatable {
  static let initial = 10
  static let maximum = 300

  /// The back-off in effect (nil before the first `next()`).
  private(set) var seconds: Int? = nil

  /// Advances the back-off, as client-go's `Backoff.Next`: 10 s the first time, then doubled up to
  /// the maximum. Returns the new back-off.
  mutating func next() -> Int {
    let new = seconds.map { min($0 * 2, Self.maximum) } ?? Self.initial
    seconds = new
    return new
  }

  /// Go's `time.Duration` text, as in `back-off 1m20s restarting ...`.
  static func goDuration(_ seconds: Int) -> String {
    if seconds < 60 { return "\(seconds)s" }
    let minutes = seconds / 60
    return "\(minutes)m\(seconds % 60)s"
  }
}
