import Crypto
import Foundation
import SwiftASN1
import X509

/// A certificate and its private key as PEM text.
public struct PEMPair: Sendable {
  public var certificatePEM: String
  public var keyPEM: String
}

/// The sandbox's certificate authority and the certificates it issues (all P-256, ECDSA-SHA256).
///
/// Files in the sandbox directory (names in `SandboxFiles`):
/// `ca.crt`/`ca.key`, `apiserver.crt`/`apiserver.key` (server, SANs for loopback and the in-cluster
/// `kubernetes.*` names), `admin.crt`/`admin.key` (`CN=sandbox-admin, O=system:masters`) and
/// `kubelet-client.crt`/`kubelet-client.key` (`CN=kube-apiserver-kubelet-client, O=system:masters`,
/// what the API server presents to a kubelet) and `node.crt`/`node.key` (`CN=system:node:kftray-node,
/// O=system:nodes`, the node agent's identity).
public struct PKI: Sendable {
  public var ca: PEMPair
  public var server: PEMPair
  public var admin: PEMPair
  public var kubeletClient: PEMPair
  public var node: PEMPair

  /// The user the node agent authenticates as (kube's `system:node:<nodeName>` convention).
  public static let nodeUser = "system:node:kftray-node"

  public static let serverDNSNames = [
    "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
  ]

  /// Generates a fresh CA and leaf certificates.
  public static func generate(now: Date = Date()) throws -> PKI {
    let issuer = try CertificateIssuer(commonName: "kftray-sandbox-ca", now: now)
    let server = try issuer.issue(
      commonName: "kube-apiserver", organizations: [], usage: .serverAuth,
      dnsNames: serverDNSNames, ipAddresses: [[127, 0, 0, 1], Array(repeating: 0, count: 15) + [1]])
    let admin = try issuer.issue(
      commonName: "sandbox-admin", organizations: ["system:masters"], usage: .clientAuth)
    let kubelet = try issuer.issue(
      commonName: "kube-apiserver-kubelet-client", organizations: ["system:masters"], usage: .clientAuth)
    let node = try issuer.issue(commonName: nodeUser, organizations: ["system:nodes"], usage: .clientAuth)
    return PKI(ca: try issuer.pemPair(), server: server, admin: admin, kubeletClient: kubelet, node: node)
  }

  /// Loads the PKI from `files`, or generates and writes it if the CA (or a certificate added since, such
  /// as the node's) is missing.
  public static func loadOrCreate(in files: SandboxFiles) throws -> PKI {
    let manager = FileManager.default
    if manager.fileExists(atPath: files.caCertificate.path), manager.fileExists(atPath: files.nodeCertificate.path) {
      func read(_ url: URL) throws -> String { try String(contentsOf: url, encoding: .utf8) }
      return PKI(
        ca: PEMPair(certificatePEM: try read(files.caCertificate), keyPEM: try read(files.caKey)),
        server: PEMPair(certificatePEM: try read(files.serverCertificate), keyPEM: try read(files.serverKey)),
        admin: PEMPair(certificatePEM: try read(files.adminCertificate), keyPEM: try read(files.adminKey)),
        kubeletClient: PEMPair(
          certificatePEM: try read(files.kubeletClientCertificate), keyPEM: try read(files.kubeletClientKey)),
        node: PEMPair(certificatePEM: try read(files.nodeCertificate), keyPEM: try read(files.nodeKey)))
    }
    let pki = try generate()
    try pki.write(to: files)
    return pki
  }

  public func write(to files: SandboxFiles) throws {
    let pairs: [(PEMPair, URL, URL)] = [
      (ca, files.caCertificate, files.caKey), (server, files.serverCertificate, files.serverKey),
      (admin, files.adminCertificate, files.adminKey),
      (kubeletClient, files.kubeletClientCertificate, files.kubeletClientKey),
      (node, files.nodeCertificate, files.nodeKey),
    ]
    for (pair, certificateURL, keyURL) in pairs {
      try SandboxFiles.writePrivate(pair.keyPEM, to: keyURL)
      try Data(pair.certificatePEM.utf8).write(to: certificateURL, options: .atomic)
    }
  }
}

/// Signs certificates with one CA key.
private struct CertificateIssuer {
  enum Usage { case serverAuth, clientAuth }

  let key: P256.Signing.PrivateKey
  let name: DistinguishedName
  let certificate: Certificate
  let now: Date

  init(commonName: String, now: Date) throws {
    self.now = now
    key = P256.Signing.PrivateKey()
    name = try DistinguishedName { CommonName(commonName) }
    let publicKey = Certificate.PublicKey(key.publicKey)
    certificate = try Certificate(
      version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
      notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(10 * 365 * 86400),
      issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
      extensions: try Certificate.Extensions {
        Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
        Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
        SubjectKeyIdentifier(keyIdentifier: Self.keyIdentifier(publicKey))
      },
      issuerPrivateKey: Certificate.PrivateKey(key))
  }

  static func keyIdentifier(_ key: Certificate.PublicKey) -> ArraySlice<UInt8> {
    ArraySlice(Insecure.SHA1.hash(data: key.subjectPublicKeyInfoBytes))
  }

  func pemPair() throws -> PEMPair {
    PEMPair(certificatePEM: try certificate.serializeAsPEM().pemString, keyPEM: key.pemRepresentation)
  }

  func issue(
    commonName: String, organizations: [String], usage: Usage, dnsNames: [String] = [],
    ipAddresses: [[UInt8]] = []
  ) throws -> PEMPair {
    let leafKey = P256.Signing.PrivateKey()
    let subject = try DistinguishedName {
      for organization in organizations { OrganizationName(organization) }
      CommonName(commonName)
    }
    let publicKey = Certificate.PublicKey(leafKey.publicKey)
    let names = dnsNames.map { GeneralName.dnsName($0) }
      + ipAddresses.map { GeneralName.ipAddress(ASN1OctetString(contentBytes: ArraySlice($0))) }
    let certificate = try Certificate(
      version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
      notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(365 * 86400),
      issuer: name, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
      extensions: try Certificate.Extensions {
        Critical(BasicConstraints.notCertificateAuthority)
        Critical(KeyUsage(digitalSignature: true))
        try ExtendedKeyUsage([usage == .serverAuth ? .serverAuth : .clientAuth])
        AuthorityKeyIdentifier(keyIdentifier: Self.keyIdentifier(Certificate.PublicKey(key.publicKey)))
        if !names.isEmpty { SubjectAlternativeNames(names) }
      },
      issuerPrivateKey: Certificate.PrivateKey(key))
    return PEMPair(certificatePEM: try certificate.serializeAsPEM().pemString, keyPEM: leafKey.pemRepresentation)
  }
}
