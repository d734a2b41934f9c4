import CCurl
import Foundation

/// A libcurl failure, with curl's own explanation of it.
public struct CurlError: Error, Sendable, Equatable, CustomStringConvertible {
  public var code: Int
  /// curl's error buffer when it has one, else `curl_easy_strerror`.
  public var message: String

  init(_ code: CURLcode, detail: String? = nil) {
    self.code = Int(code.rawValue)
    let generic = String(cString: curl_easy_strerror(code))
    self.message = (detail?.isEmpty == false) ? detail! : generic
  }

  public var description: String { "\(message) (curl error \(code))" }

  /// Whether the failure happened before any byte of the request reached the server.
  public var isConnectFailure: Bool {
    [
      CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT,
      CURLE_OPERATION_TIMEDOUT, CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION,
    ].map { Int($0.rawValue) }.contains(code)
  }

  public var isCertificateFailure: Bool {
    code == Int(CURLE_PEER_FAILED_VERIFICATION.rawValue) || code == Int(CURLE_SSL_CACERT_BADFILE.rawValue)
  }
}

/// Process-wide libcurl initialisation. `curl_global_init` is reference counted and must run before
/// any other thread uses curl; a lazily initialised static runs exactly once, thread-safely.
enum CurlGlobal {
  private static let initialized: Bool = {
    // A peer that closes while we write must give EPIPE, not kill the plugin.
    signal(SIGPIPE, SIG_IGN)
    return curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK
  }()

  static func ensureInitialized() {
    precondition(initialized, "curl_global_init failed")
  }
}

/// One libcurl easy handle. Not thread-safe: a handle is created, used and destroyed by one thread.
final class CurlEasy {
  let handle: UnsafeMutableRawPointer
  private var headerList: UnsafeMutablePointer<curl_slist>?
  private var connectToList: UnsafeMutablePointer<curl_slist>?
  /// curl writes its detailed error text here; it must outlive the handle's transfers.
  private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)

  init() {
    CurlGlobal.ensureInitialized()
    guard let h = curl_easy_init() else { fatalError("curl_easy_init returned NULL (out of memory)") }
    handle = h
    errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    _ = kc_setopt_ptr(handle, CURLOPT_ERRORBUFFER, errorBuffer)
  }

  deinit {
    curl_easy_cleanup(handle)
    if let headerList { curl_slist_free_all(headerList) }
    if let connectToList { curl_slist_free_all(connectToList) }
    errorBuffer.deallocate()
  }

  var errorDetail: String { String(cString: errorBuffer) }

  func error(_ code: CURLcode) -> CurlError { CurlError(code, detail: errorDetail) }

  func set(_ option: CURLoption, _ value: Int) throws(CurlError) {
    let rc = kc_setopt_long(handle, option, value)
    if rc != CURLE_OK { throw error(rc) }
  }

  func set(_ option: CURLoption, _ value: Bool) throws(CurlError) {
    try set(option, value ? 1 : 0)
  }

  /// curl copies string options, so the Swift string may go away afterwards.
  func set(_ option: CURLoption, _ value: String?) throws(CurlError) {
    let rc: CURLcode
    if let value {
      rc = value.withCString { kc_setopt_str(handle, option, $0) }
    } else {
      rc = kc_setopt_str(handle, option, nil)
    }
    if rc != CURLE_OK { throw error(rc) }
  }

  func setBlob(_ option: CURLoption, _ data: Data) throws(CurlError) {
    let rc = data.withUnsafeBytes { kc_setopt_blob(handle, option, $0.baseAddress, $0.count) }
    if rc != CURLE_OK { throw error(rc) }
  }

  func setHeaders(_ headers: [(String, String)]) throws(CurlError) {
    if let headerList { curl_slist_free_all(headerList) }
    var list: UnsafeMutablePointer<curl_slist>?
    for (name, value) in headers {
      list = curl_slist_append(list, "\(name): \(value)")
    }
    headerList = list
    let rc = kc_setopt_slist(handle, CURLOPT_HTTPHEADER, list)
    if rc != CURLE_OK { throw error(rc) }
  }

  /// curl keeps a pointer to the list (it does not copy), so the handle owns it.
  func setConnectTo(_ entry: String) throws(CurlError) {
    if let connectToList { curl_slist_free_all(connectToList) }
    connectToList = curl_slist_append(nil, entry)
    let rc = kc_setopt_slist(handle, CURLOPT_CONNECT_TO, connectToList)
    if rc != CURLE_OK { throw error(rc) }
  }

  func getInt(_ info: CURLINFO) -> Int {
    var value = 0
    _ = kc_getinfo_long(handle, info, &value)
    return value
  }

  var activeSocket: Int32 {
    var fd = curl_socket_t(-1)
    _ = kc_getinfo_socket(handle, &fd)
    return fd
  }
}

/// How the transport identifies itself to the API server (client-go sends `<binary>/<version> (<os>/<arch>)`).
public struct ClientIdentity: Sendable, Equatable {
  public var userAgent: String
  public init(userAgent: String) { self.userAgent = userAgent }
  public static let `default` = ClientIdentity(userAgent: "kubectl-kftray (linux)")
}

/// Applies one `ClientConfig` and one request's credentials to an easy handle: TLS trust, the
/// tls-server-name emulation, the proxy decision, credentials and impersonation. libcurl's defaults
/// differ from Go's in several places; each override below says which.
struct ConnectionSettings: Sendable {
  var config: ClientConfig
  var credentials: RequestCredentials
  var identity: ClientIdentity
  var connectTimeout: Duration = .seconds(30)

  /// The URL curl connects to. With tls-server-name set, the URL carries that name (so SNI and
  /// certificate verification use it) and CONNECT_TO sends the connection to the real host,
  /// because curl 7.88 has no SNI override.
  func url(path: String) -> String {
    let server = config.server
    var host = server.host
    if server.scheme == .https, let name = config.tls.serverName, !name.isEmpty { host = name }
    let bracketed = host.contains(":") ? "[\(host)]" : host
    return "\(server.scheme.rawValue)://\(bracketed):\(server.port)\(server.pathPrefix)\(path)"
  }

  /// Headers every request carries: Host (when the URL host is the tls-server-name), auth, impersonation.
  func commonHeaders() -> [(String, String)] {
    var headers: [(String, String)] = []
    if config.server.scheme == .https, let name = config.tls.serverName, !name.isEmpty {
      headers.append(("Host", config.server.authority))
    }
    // client-go applies credentials only over TLS (IsConfigTransportTLS); a plain http server gets none.
    if config.server.scheme == .https, let auth = credentials.authorization {
      headers.append(("Authorization", auth))
    }
    let imp = config.impersonation
    if let user = imp.user { headers.append(("Impersonate-User", user)) }
    if let uid = imp.uid { headers.append(("Impersonate-Uid", uid)) }
    for group in imp.groups { headers.append(("Impersonate-Group", group)) }
    for (key, values) in imp.extra.sorted(by: { $0.key < $1.key }) {
      let escaped = key.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? key
      for v in values { headers.append(("Impersonate-Extra-\(escaped)", v)) }
    }
    headers.append(("User-Agent", identity.userAgent))
    return headers
  }

  func apply(to easy: CurlEasy, upgrade: Bool) throws(CurlError) {
    let server = config.server
    try easy.set(CURLOPT_NOSIGNAL, true)
    try easy.set(CURLOPT_CONNECTTIMEOUT_MS, Int(connectTimeout.components.seconds * 1000))
    try easy.set(CURLOPT_TCP_KEEPALIVE, true)
    try easy.set(CURLOPT_TCP_NODELAY, true)
    // Upgrades do not exist in HTTP/2: force 1.1 so ALPN offers only http/1.1.
    try easy.set(CURLOPT_HTTP_VERSION, upgrade ? kc_http_version_1_1() : kc_http_version_2tls())

    if server.scheme == .https {
      try easy.set(CURLOPT_SSLVERSION, kc_sslversion_tls1_2())  // client-go's MinVersion
      // Go's TLS 1.3 order on machines with AES instructions (what kubectl offers): AES-128-GCM
      // first. OpenSSL's default puts AES-256-GCM first, a quarter more CPU per byte for the
      // same protection in practice; in a port-forward every byte goes through it. A TLS backend
      // that cannot take the option (libcurl not built on OpenSSL) keeps its own order.
      _ = try? easy.set(CURLOPT_TLS13_CIPHERS, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256")
      let tls = config.tls
      if tls.insecureSkipVerify {
        try easy.set(CURLOPT_SSL_VERIFYPEER, false)
        try easy.set(CURLOPT_SSL_VERIFYHOST, 0)
      } else if let ca = tls.certificateAuthorityPEM {
        // client-go trusts only the given roots; curl would also trust its compiled-in CApath.
        try easy.setBlob(CURLOPT_CAINFO_BLOB, ca)
        try easy.set(CURLOPT_CAPATH, nil as String?)
      }
      if let name = tls.serverName, !name.isEmpty {
        let real = server.host.contains(":") ? "[\(server.host)]" : server.host
        try easy.setConnectTo("\(name):\(server.port):\(real):\(server.port)")
      }
      let cert = credentials.clientCertificatePEM ?? tls.clientCertificatePEM
      let key = credentials.clientKeyPEM ?? tls.clientKeyPEM
      if let cert, let key {
        try easy.set(CURLOPT_SSLCERTTYPE, "PEM")
        try easy.setBlob(CURLOPT_SSLCERT_BLOB, cert)
        try easy.set(CURLOPT_SSLKEYTYPE, "PEM")
        try easy.setBlob(CURLOPT_SSLKEY_BLOB, key)
      }
    }

    // The proxy was decided with Go's rules; "" switches off curl's own environment lookup, and
    // NOPROXY "" stops curl from applying the environment's NO_PROXY to our explicit choice.
    switch config.proxy {
    case .direct:
      try easy.set(CURLOPT_PROXY, "")
    case .proxy(let url):
      try easy.set(CURLOPT_PROXY, url)
      if upgrade && server.scheme == .http { try easy.set(CURLOPT_HTTPPROXYTUNNEL, true) }
    }
    try easy.set(CURLOPT_NOPROXY, "")
  }
}

