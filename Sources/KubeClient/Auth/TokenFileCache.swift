import Foundation

/// client-go's `CachedFileTokenSource`: the token file is re-read when the cached value is older than
/// `maxAge` (client-go: one minute minus ten seconds of leeway), so rotated tokens (projected
/// service-account tokens) are picked up. A read failure keeps the previous token if there is one.
struct TokenFileCache: Sendable {
  let path: String
  let maxAge: Duration
  private var cached: (token: String, readAt: ContinuousClock.Instant)?

  init(path: String, maxAge: Duration) {
    self.path = path
    self.maxAge = maxAge
  }

  /// The current token, or nil when the file cannot be read (or is empty) and nothing was cached.
  mutating func token(now: ContinuousClock.Instant) -> String? {
    if let cached, now - cached.readAt < maxAge { return cached.token }
    if let data = FileManager.default.contents(atPath: path) {
      let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
      if !token.isEmpty {
        cached = (token, now)
        return token
      }
    }
    return cached?.token
  }
}
