import NIOSSL
import SwiftASN1

/// Who holds a verified client certificate, as kube's x509 authenticator reads it: the subject's
/// CommonName is the user, each Organization a group.
struct PeerIdentity: Sendable, Equatable {
  var user: String
  var groups: [String]

  private static let commonName: ASN1ObjectIdentifier = [2, 5, 4, 3]
  private static let organization: ASN1ObjectIdentifier = [2, 5, 4, 10]

  /// nil when the subject has no CommonName (kube refuses such certificates too).
  init?(certificate: NIOSSLCertificate) {
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
    // signature, issuer, validity, subject, ... }, ... } (RFC 5280 §4.1).
    guard let der = try? certificate.toDERBytes(), let root = try? DER.parse(der),
      case .constructed(let certificateParts) = root.content,
      let tbs = certificateParts.first(where: { _ in true }), case .constructed(let tbsParts) = tbs.content
    else { return nil }
    var fields = Array(tbsParts)
    if fields.first?.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) { fields.removeFirst() }
    guard fields.count > 4, case .constructed(let relativeNames) = fields[4].content else { return nil }
    var user: String?
    var groups: [String] = []
    for relativeName in relativeNames {
      guard case .constructed(let attributes) = relativeName.content else { continue }
      for attribute in attributes {
        guard case .constructed(let pair) = attribute.content else { continue }
        let parts = Array(pair)
        guard parts.count == 2, let type = try? ASN1ObjectIdentifier(derEncoded: parts[0]),
          let text = Self.text(parts[1])
        else { continue }
        if type == Self.commonName { user = text }
        if type == Self.organization { groups.append(text) }
      }
    }
    guard let user, !user.isEmpty else { return nil }
    self.user = user
    self.groups = groups
  }

  init(user: String, groups: [String]) {
    self.user = user
    self.groups = groups
  }

  private static func text(_ node: ASN1Node) -> String? {
    if let value = try? ASN1UTF8String(derEncoded: node) { return String(value) }
    if let value = try? ASN1PrintableString(derEncoded: node) { return String(value) }
    if let value = try? ASN1IA5String(derEncoded: node) { return String(value) }
    return nil
  }
}
