import Foundation

/// What an exec plugin returned (`status` of an ExecCredential).
struct ExecCredentialResult: Sendable, Equatable {
  var token: String?
  var clientCertificatePEM: Data?
  var clientKeyPEM: Data?
  /// nil: valid for the life of the process.
  var expiration: Date?
}

/// The JSON client-go puts into `KUBERNETES_EXEC_INFO`.
enum ExecInfoEncoder {
  static func encode(_ config: ExecConfig, interactive: Bool) -> String {
    var spec: [String] = []
    if config.provideClusterInfo, let c = config.cluster {
      var fields = ["\"server\":\(quote(c.server))"]
      if let name = c.tlsServerName, !name.isEmpty { fields.append("\"tls-server-name\":\(quote(name))") }
      if c.insecureSkipTLSVerify { fields.append("\"insecure-skip-tls-verify\":true") }
      if let ca = c.certificateAuthorityData, !ca.isEmpty {
        fields.append("\"certificate-authority-data\":\(quote(ca.base64EncodedString()))")
      }
      if let proxy = c.proxyURL, !proxy.isEmpty { fields.append("\"proxy-url\":\(quote(proxy))") }
      if c.disableCompression { fields.append("\"disable-compression\":true") }
      if let raw = c.config, !raw.isEmpty { fields.append("\"config\":\(String(decoding: raw, as: UTF8.self))") }
      spec.append("\"cluster\":{\(fields.joined(separator: ","))}")
    }
    spec.append("\"interactive\":\(interactive)")
    return "{\"kind\":\"ExecCredential\",\"apiVersion\":\(quote(config.apiVersion.rawValue)),\"spec\":{\(spec.joined(separator: ","))}}"
  }

  static func quote(_ s: String) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: s, options: [.fragmentsAllowed, .withoutEscapingSlashes])) ?? Data("\"\"".utf8)
    return String(decoding: data, as: UTF8.self)
  }
}

/// Reads a plugin's stdout with client-go's checks.
struct ExecCredentialDecoder {
  var command: String
  var apiVersion: ExecConfig.APIVersion

  func decode(_ stdout: Data) throws(CredentialError) -> ExecCredentialResult {
    func fail(_ reason: String) -> CredentialError { .execInvalidOutput(command: command, reason: reason) }
    guard let object = try? JSONSerialization.jsonObject(with: stdout), let root = object as? [String: Any] else {
      let head = String(decoding: stdout.prefix(200), as: UTF8.self)
      throw fail("stdout is not a JSON object (it began with \"\(head)\")")
    }
    let returned = root["apiVersion"] as? String ?? ""
    guard returned == apiVersion.rawValue else {
      throw .execAPIVersionMismatch(command: command, configured: apiVersion.rawValue, returned: returned)
    }
    guard root["kind"] as? String == "ExecCredential" else {
      throw fail("kind is \"\(root["kind"] as? String ?? "")\", expected \"ExecCredential\"")
    }
    guard let status = root["status"] as? [String: Any] else { throw fail("exec plugin didn't return a status field") }
    var result = ExecCredentialResult()
    if let token = status["token"] as? String, !token.isEmpty { result.token = token }
    let cert = (status["clientCertificateData"] as? String).flatMap { $0.isEmpty ? nil : $0 }
    let key = (status["clientKeyData"] as? String).flatMap { $0.isEmpty ? nil : $0 }
    if (cert == nil) != (key == nil) { throw fail("exec plugin returned only certificate or key, not both") }
    result.clientCertificatePEM = cert.map { Data($0.utf8) }
    result.clientKeyPEM = key.map { Data($0.utf8) }
    if result.token == nil && cert == nil { throw fail("exec plugin didn't return a token or cert/key pair") }
    if let stamp = status["expirationTimestamp"] as? String, !stamp.isEmpty {
      guard let date = RFC3339.parse(stamp) else {
        throw fail("expirationTimestamp \"\(stamp)\" is not an RFC 3339 time such as 2026-01-02T15:04:05Z")
      }
      result.expiration = date
    }
    return result
  }
}

/// RFC 3339 timestamps as Kubernetes writes them, with or without fractional seconds.
enum RFC3339 {
  static func parse(_ text: String) -> Date? {
    let plain = ISO8601DateFormatter()
    plain.formatOptions = [.withInternetDateTime]
    if let d = plain.date(from: text) { return d }
    let fractional = ISO8601DateFormatter()
    fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return fractional.date(from: text)
  }
}
