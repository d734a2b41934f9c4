import PortForwardCodecs

/// The two kinds of stream of one forwarded connection (`streamtype` header).
enum PortForwardStreamType: String, Sendable {
  case error
  case data
}

/// A SYN_STREAM that passed the header checks.
struct AcceptedStream: Sendable, Equatable {
  var id: SPDYStreamID
  var type: PortForwardStreamType
  var port: UInt16
  var requestID: String
}

/// Pairs error and data streams by request id, as the kubelet's `httpStreamHandler` does
/// (`pkg/cri/streaming/portforward/httpstream.go`). Pure state, no I/O: the session acts on what
/// `add` returns and owns the 30 s timer of each pair.
struct StreamPairing {
  struct Pair: Sendable, Equatable {
    var requestID: String
    var error: AcceptedStream?
    var data: AcceptedStream?
  }

  enum Outcome: Equatable {
    /// The first stream of a request id: the caller starts its creation timer.
    case started(requestID: String)
    /// Still waiting for the other stream (not produced by the current rules, kept for clarity).
    case waiting
    /// Both streams are here; the pair left the table.
    case complete(error: AcceptedStream, data: AcceptedStream)
    /// A second stream of a type the pair already has. `message` goes to the pair's error stream
    /// (if it has one), exactly as the kubelet's `printError`.
    case duplicate(message: String, errorStream: SPDYStreamID?)
  }

  private(set) var pending: [String: Pair] = [:]

  /// The request id of a stream: the `requestid` header, or for clients that predate it the kubelet's
  /// best effort (error stream: its id; data stream: its id − 2), which only works without concurrency.
  static func requestID(headers: SPDYHeaderBlock, streamID: SPDYStreamID, type: PortForwardStreamType) -> String {
    if let id = headers.value(for: "requestid"), !id.isEmpty { return id }
    switch type {
    case .error: return String(streamID)
    case .data: return String(Int64(streamID) - 2)
    }
  }

  mutating func add(_ stream: AcceptedStream) -> Outcome {
    let created = pending[stream.requestID] == nil
    var pair = pending[stream.requestID] ?? Pair(requestID: stream.requestID)
    switch stream.type {
    case .error:
      if pair.error != nil { return .duplicate(message: Self.duplicateMessage(stream), errorStream: pair.error?.id) }
      pair.error = stream
    case .data:
      if pair.data != nil { return .duplicate(message: Self.duplicateMessage(stream), errorStream: pair.error?.id) }
      pair.data = stream
    }
    if let error = pair.error, let data = pair.data {
      pending[stream.requestID] = nil
      return .complete(error: error, data: data)
    }
    pending[stream.requestID] = pair
    return created ? .started(requestID: stream.requestID) : .waiting
  }

  /// Removes a pair whose creation timer fired; nil if it completed meanwhile.
  mutating func expire(_ requestID: String) -> Pair? {
    pending.removeValue(forKey: requestID)
  }

  static func duplicateMessage(_ stream: AcceptedStream) -> String {
    "error processing stream for request \(stream.requestID): \(stream.type.rawValue) stream already assigned"
  }

  /// The kubelet's timeout text; `connection` stands in for Go's `%p` of the connection.
  static func timeoutMessage(connection: String, requestID: String) -> String {
    "(conn=\(connection), request=\(requestID)) timed out waiting for streams"
  }
}

/// The checks of the kubelet's `httpStreamReceived`; a failure rejects the stream with
/// RST_STREAM(CANCEL) and no SYN_REPLY. The texts are the kubelet's (it only logs them).
enum StreamHeaderValidation {
  static func validate(_ headers: SPDYHeaderBlock, streamID: SPDYStreamID) -> Result<AcceptedStream, ValidationFailure> {
    let portText = headers.value(for: "port") ?? ""
    guard !portText.isEmpty else { return .failure(ValidationFailure("\"port\" header is required")) }
    // Go's ParseUint takes digits only (Swift's init would also take a leading "+").
    guard portText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let port = UInt16(portText)
    else {
      return .failure(ValidationFailure("unable to parse \"\(portText)\" as a port"))
    }
    guard port >= 1 else { return .failure(ValidationFailure("port \"\(portText)\" must be > 0")) }
    let typeText = headers.value(for: "streamtype") ?? ""
    guard !typeText.isEmpty else { return .failure(ValidationFailure("\"streamType\" header is required")) }
    guard let type = PortForwardStreamType(rawValue: typeText) else {
      return .failure(ValidationFailure("invalid stream type \"\(typeText)\""))
    }
    return .success(
      AcceptedStream(
        id: streamID, type: type, port: port,
        requestID: StreamPairing.requestID(headers: headers, streamID: streamID, type: type)))
  }

  struct ValidationFailure: Error, Equatable {
    var message: String
    init(_ message: String) { self.message = message }
  }
}
