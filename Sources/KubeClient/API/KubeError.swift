import Foundation

/// Everything that can go wrong talking to the API server, carrying what a user needs to act.
public enum KubeError: Error, Sendable, CustomStringConvertible {
  /// The server answered with an error (a `metav1.Status`, or a bare HTTP status turned into one).
  case api(APIStatus, httpStatus: Int)
  /// No HTTP answer at all: connect, TLS, proxy or timeout failure.
  case transport(TransportError, server: String)
  /// Credentials could not be obtained (token file, exec plugin, ...).
  case credentials(String)
  /// The server's answer was not what the API promises.
  case decoding(what: String, detail: String)
  /// An upgrade (port-forward, echo) failed below the HTTP status level.
  case upgrade(UpgradeError, server: String)

  public var httpStatus: Int? {
    if case .api(_, let code) = self { return code }
    if case .upgrade(.rejected(let r), _) = self { return r.status }
    return nil
  }

  public var status: APIStatus? {
    if case .api(let s, _) = self { return s }
    return nil
  }

  public var reason: String? { status?.reason }
  public var isNotFound: Bool { httpStatus == 404 }
  public var isAlreadyExists: Bool { reason == "AlreadyExists" }
  public var isConflict: Bool { httpStatus == 409 }
  public var isForbidden: Bool { httpStatus == 403 }
  public var isUnauthorized: Bool { httpStatus == 401 }
  /// A watch asked for history the server no longer keeps: list again.
  public var isGone: Bool { httpStatus == 410 || reason == "Expired" || reason == "Gone" }

  public var description: String {
    switch self {
    case .api(let status, let code):
      let message = status.message ?? "the server responded with HTTP \(code)"
      switch code {
      case 401:
        return "\(message): the API server did not accept your credentials. Log in again (or refresh the token or exec plugin of this kubeconfig user) and retry."
      case 403:
        return "\(message). Ask a cluster administrator for this permission, or use a context that has it."
      default:
        return message
      }
    case .transport(let error, let server):
      switch error {
      case .curl(let curl, _) where curl.isCertificateFailure:
        return "cannot verify the TLS certificate of the API server at \(server): \(curl.message). Check certificate-authority and tls-server-name of the cluster in your kubeconfig."
      case .curl(let curl, _) where curl.isConnectFailure:
        return "cannot reach the API server at \(server): \(curl.message). Check that the cluster is running and that --context/--server point at it."
      default:
        return "request to the API server at \(server) failed: \(error)"
      }
    case .credentials(let message):
      return message
    case .decoding(let what, let detail):
      return "unexpected answer from the API server for \(what): \(detail)"
    case .upgrade(let error, let server):
      if case .rejected(let response) = error {
        let status = APIStatus.decode(from: response.body, httpStatus: response.status)
        return KubeError.api(status, httpStatus: response.status).description
      }
      return "connection upgrade to \(server) failed: \(error)"
    }
  }
}

extension APIStatus {
  /// The body of an error response as a Status. Bodies that are not a Status get client-go's wording.
  static func decode(from body: Data, httpStatus: Int) -> APIStatus {
    if let status = try? JSONDecoder().decode(APIStatus.self, from: body), status.message != nil || status.reason != nil {
      var status = status
      if status.code == nil { status.code = httpStatus }
      return status
    }
    let text = String(decoding: body.prefix(512), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    let reason: String
    switch httpStatus {
    case 400: reason = "BadRequest"
    case 401: reason = "Unauthorized"
    case 403: reason = "Forbidden"
    case 404: reason = "NotFound"
    case 405: reason = "MethodNotAllowed"
    case 409: reason = "Conflict"
    case 410: reason = "Gone"
    case 422: reason = "Invalid"
    case 429: reason = "TooManyRequests"
    case 503: reason = "ServiceUnavailable"
    case 504: reason = "Timeout"
    default: reason = httpStatus >= 500 ? "InternalError" : "Unknown"
    }
    let message =
      text.isEmpty
      ? "the server responded with the status code \(httpStatus) but did not return more information"
      : "the server responded with the status code \(httpStatus): \(text)"
    return APIStatus(message: message, reason: reason, code: httpStatus)
  }
}
