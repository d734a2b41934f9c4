import Foundation
import NIOSSL
import X509

/// An authenticated user, as kube-apiserver's `user.Info`.
public struct UserInfo: Sendable, Hashable {
  public var name: String
  public var uid: String
  public var groups: [String]

  public init(name: String, uid: String = "", groups: [String]) {
    self.name = name
    self.uid = uid
    // Every authenticated user is in system:authenticated (the authenticator union adds it).
    self.groups = groups.contains("system:authenticated") ? groups : groups + ["system:authenticated"]
  }

  /// The anonymous user (never in `system:authenticated`).
  init(anonymous name: String, groups: [String]) {
    self.name = name
    self.uid = ""
    self.groups = groups.contains("system:unauthenticated") ? groups : groups + ["system:unauthenticated"]
  }

  public func isMember(of group: String) -> Bool { groups.contains(group) }
}

/// One line of a `--token-auth-file`.
public struct StaticToken: Sendable, Equatable {
  public var token: String
  public var user: String
  public var uid: String
  public var groups: [String]
}

public enum TokenFileError: Error, Sendable, CustomStringConvertible {
  case malformedLine(Int, String)

  public var description: String {
    switch self {
    case .malformedLine(let number, let why): return "tokens.csv line \(number): \(why)"
    }
  }
}

/// Reads and writes kube-apiserver's static token file (`token,user,uid,"group1,group2"`; at least three
/// columns; `#` lines and blank lines are skipped).
public enum TokenFile {
  public static func parse(_ text: String) throws(TokenFileError) -> [StaticToken] {
    var tokens: [StaticToken] = []
    for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let line = rawLine.trimmingCharacters(in: .whitespaces)
      if line.isEmpty || line.hasPrefix("#") { continue }
      let fields = splitCSV(line)
      guard fields.count >= 3 else { throw .malformedLine(index + 1, "expected at least 3 columns") }
      guard !fields[0].isEmpty else { throw .malformedLine(index + 1, "empty token") }
      let groups = fields.count > 3 ? fields[3].split(separator: ",").map(String.init) : []
      tokens.append(StaticToken(token: fields[0], user: fields[1], uid: fields[2], groups: groups))
    }
    return tokens
  }

  public static func render(_ tokens: [StaticToken]) -> String {
    tokens.map { "\($0.token),\($0.user),\($0.uid),\"\($0.groups.joined(separator: ","))\"" }
      .joined(separator: "\n") + "\n"
  }

  /// Minimal RFC 4180 splitting: quoted fields may contain commas; `""` is a quote.
  static func splitCSV(_ line: String) -> [String] {
    var fields: [String] = []
    var current = ""
    var quoted = false
    var iterator = Array(line).makeIterator()
    var pending: Character? = nil
    while let character = pending ?? iterator.next() {
      pending = nil
      switch character {
      case "\"" where quoted:
        if let next = iterator.next() {
          if next == "\"" { current.append("\"") } else { quoted = false; pending = next }
        } else {
          quoted = false
        }
      case "\"" where current.isEmpty: quoted = true
      case "," where !quoted:
        fields.append(current)
        current = ""
      default: current.append(character)
      }
    }
    fields.append(current)
    return fields
  }

  /// The users `up` creates: a developer bound to namespace `dev` and a read-only user.
  public static func defaultTokens() -> [StaticToken] {
    func randomToken() -> String {
      var generator = SystemRandomNumberGenerator()
      return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
    return [
      StaticToken(token: randomToken(), user: "sandbox-dev", uid: "sandbox-dev-uid", groups: ["sandbox:developers"]),
      StaticToken(token: randomToken(), user: "sandbox-readonly", uid: "sandbox-readonly-uid", groups: ["sandbox:viewers"]),
    ]
  }
}

/// Authenticates a request from its TLS client certificate (CN = user, O = groups; already verified
/// against the sandbox CA by the TLS layer) or its `Authorization: Bearer` token.
///
/// Order follows kube-apiserver's authenticator union: x509 first, then bearer tokens; the first that
/// succeeds wins, and an unknown token with no valid certificate is a 401.
public struct Authenticator: Sendable {
  private let tokens: [String: StaticToken]

  public init(tokens: [StaticToken]) {
    self.tokens = Dictionary(tokens.map { ($0.token, $0) }, uniquingKeysWith: { first, _ in first })
  }

  public enum Outcome: Sendable, Equatable {
    case authenticated(UserInfo)
    /// No credentials at all. The server treats this like kube-apiserver with anonymous auth limited to
    /// a few endpoints (`AuthenticationConfiguration.anonymous.conditions`, 1.32): the public info and
    /// discovery paths are served as `system:anonymous`, everything else is 401.
    case anonymous
    /// Credentials were sent but are not valid.
    case failed
  }

  public func authenticate(certificateUser: UserInfo?, authorization: String?) -> Outcome {
    if let certificateUser { return .authenticated(certificateUser) }
    guard let authorization else { return .anonymous }
    let parts = authorization.split(separator: " ", maxSplits: 1)
    guard parts.count == 2, parts[0].lowercased() == "bearer" else { return .failed }
    let token = parts[1].trimmingCharacters(in: .whitespaces)
    guard let entry = tokens[token] else { return .failed }
    return .authenticated(UserInfo(name: entry.user, uid: entry.uid, groups: entry.groups))
  }

  public static let anonymous = UserInfo(anonymous: "system:anonymous", groups: [])

  /// The user named by a verified client certificate's subject.
  public static func user(fromCertificate certificate: NIOSSLCertificate) -> UserInfo? {
    guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else { return nil }
    var commonName: String?
    var organizations: [String] = []
    for rdn in parsed.subject {
      for attribute in rdn {
        guard let text = String(attribute.value) else { continue }
        if attribute.type == .RDNAttributeType.commonName { commonName = text }
        if attribute.type == .RDNAttributeType.organizationName { organizations.append(text) }
      }
    }
    guard let commonName, !commonName.isEmpty else { return nil }
    return UserInfo(name: commonName, groups: organizations)
  }
}
