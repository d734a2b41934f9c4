import Crypto
import Foundation
import SwiftASN1
import X509

/// The kubelet's serving certificate, issued by the sandbox CA at start-up and kept in memory only.
///
/// A real kubelet serves with a certificate the API server can verify against its
/// `--kubelet-certificate-authority`; signing it with the sandbox CA lets the API server's proxy verify
/// the kubelet exactly that way. It is not written to the sandbox directory: it lives as long as the
/// listener, and `down` has nothing more to clean up.
enum KubeletCertificate {
  /// A fresh P-256 key and a certificate for `CN=<nodeName>` with SANs `localhost` and `127.0.0.1`,
  /// valid for a year, for server authentication.
  static func issue(nodeName: String, ca: PEMPair, now: Date = Date()) throws -> PEMPair {
    let caKey = try P256.Signing.PrivateKey(pemRepresentation: ca.keyPEM)
    let caCertificate = try Certificate(pemEncoded: ca.certificatePEM)
    let key = P256.Signing.PrivateKey()
    let publicKey = Certificate.PublicKey(key.publicKey)
    let subject = try DistinguishedName {
      OrganizationName("system:nodes")
      CommonName("system:node:\(nodeName)")
    }
    let caKeyIdentifier = ArraySlice(
      Insecure.SHA1.hash(data: Certificate.PublicKey(caKey.publicKey).subjectPublicKeyInfoBytes))
    let certificate = try Certificate(
      version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
      notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(365 * 86400),
      issuer: caCertificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
      extensions: try Certificate.Extensions {
        Critical(BasicConstraints.notCertificateAuthority)
        Critical(KeyUsage(digitalSignature: true))
        try ExtendedKeyUsage([.serverAuth])
        AuthorityKeyIdentifier(keyIdentifier: caKeyIdentifier)
        SubjectAlternativeNames([
          .dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
        ])
      },
      issuerPrivateKey: Certificate.PrivateKey(caKey))
    return PEMPair(certificatePEM: try certificate.serializeAsPEM().pemString, keyPEM: key.pemRepresentation)
  }
}
