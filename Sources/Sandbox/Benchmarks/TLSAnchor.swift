import ChildProcess
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The physical anchor of the CPU figures: what the TLS cipher the session negotiates costs on this
/// machine, measured in the same run with `openssl speed -evp` (one core, CPU user time).
///
/// What is counted: in the bulk phase every byte crosses the client once, either encrypted (to the
/// pod) or decrypted (from the pod), and half the bytes go each way; so the client's unavoidable TLS
/// cost per GiB moved is (encrypt s/GiB + decrypt s/GiB) / 2. The record layer's framing, MACs
/// beyond the AEAD and the handshake are left out: the anchor is a floor, not an estimate.
public enum TLSAnchor {
  public struct Result: Codable, Sendable, Equatable {
    /// As the TLS library names it, e.g. TLS_AES_128_GCM_SHA256.
    public var cipher: String
    /// openssl's EVP name, e.g. aes-128-gcm.
    public var evp: String
    public var recordBytes: Int
    public var encryptBytesPerSecond: Double
    public var decryptBytesPerSecond: Double
    /// (encrypt + decrypt) / 2, CPU seconds per GiB.
    public var secondsPerGiB: Double
  }

  /// The cipher from `curl -v` output ("* SSL connection using TLSv1.3 / TLS_AES_128_GCM_SHA256 / ...").
  static func negotiatedCipher(curlVerbose text: String) -> String? {
    for line in text.split(separator: "\n") {
      guard let range = line.range(of: "SSL connection using ") else { continue }
      let parts = line[range.upperBound...].components(separatedBy: " / ")
      if parts.count >= 2 { return parts[1].trimmingCharacters(in: .whitespaces) }
    }
    return nil
  }

  /// openssl's EVP name for a TLS 1.3 or 1.2 cipher suite name (IANA or OpenSSL spelling).
  static func evpName(cipher: String) -> String? {
    let upper = cipher.uppercased().replacingOccurrences(of: "_", with: "-")
    if upper.contains("CHACHA20") { return "chacha20-poly1305" }
    guard upper.contains("GCM") else { return nil }
    if upper.contains("AES-128") || upper.contains("AES128") { return "aes-128-gcm" }
    if upper.contains("AES-256") || upper.contains("AES256") { return "aes-256-gcm" }
    return nil
  }

  /// Bytes per second from `openssl speed -mr` output: the "+F:<n>:<NAME>:<bytes/s>..." line
  /// (one value per block size; with `-bytes N` there is one).
  static func speedBytesPerSecond(machineReadable text: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix("+F:") {
      if let value = line.split(separator: ":").last.flatMap({ Double($0) }), value > 0 { return value }
    }
    return nil
  }

  static func secondsPerGiB(encrypt: Double, decrypt: Double) -> Double {
    (PathCost.gibibyte / encrypt + PathCost.gibibyte / decrypt) / 2
  }

  /// Finds the cipher in `curlLog` and measures it with `openssl speed` for `seconds` each way.
  public static func measure(curlLog: String, seconds: Int, recordBytes: Int = 16384) throws(BenchError) -> Result {
    guard let text = try? String(contentsOfFile: curlLog, encoding: .utf8) else { throw BenchError("cannot read \(curlLog)") }
    guard let cipher = negotiatedCipher(curlVerbose: text) else {
      throw BenchError("no 'SSL connection using' line in \(curlLog): did curl reach the sandbox over TLS?")
    }
    guard let evp = evpName(cipher: cipher) else { throw BenchError("no openssl speed measure for the cipher \(cipher)") }
    func speed(_ decrypt: Bool) throws(BenchError) -> Double {
      var arguments = ["speed", "-mr", "-evp", evp, "-seconds", String(seconds), "-bytes", String(recordBytes)]
      if decrypt { arguments.append("-decrypt") }
      let output = try run("/usr/bin/openssl", arguments)
      guard let value = speedBytesPerSecond(machineReadable: output) else {
        throw BenchError("openssl \(arguments.joined(separator: " ")) printed no +F line:\n\(output)")
      }
      return value
    }
    let encrypt = try speed(false)
    let decrypt = try speed(true)
    return Result(
      cipher: cipher, evp: evp, recordBytes: recordBytes, encryptBytesPerSecond: encrypt, decryptBytesPerSecond: decrypt,
      secondsPerGiB: secondsPerGiB(encrypt: encrypt, decrypt: decrypt))
  }

  /// Runs a command to its end and returns what it printed (stdout and stderr).
  static func run(_ executable: String, _ arguments: [String]) throws(BenchError) -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("kftray-bench-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    let pid: pid_t
    do { pid = try ChildSpawn(executable: executable, arguments: arguments, environment: nil, stdout: .file(path)).start() } catch {
      throw BenchError("\(error)")
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    let output = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    guard status == 0 else { throw BenchError("\(executable) \(arguments.joined(separator: " ")) failed:\n\(output)") }
    return output
  }
}
