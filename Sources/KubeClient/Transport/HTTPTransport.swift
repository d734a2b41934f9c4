import CCurl
import Foundation
import Synchronization

/// Sends API requests through one libcurl multi handle driven by one I/O thread, so that all
/// requests of a client share connections (HTTP/2 streams multiplexed on one TLS connection,
/// as client-go does) and no easy handle is ever touched by two threads.
public final class HTTPTransport: Sendable {
  /// nil when the wake-up pipe could not be made (EMFILE): every request then fails with
  /// `startFailure` instead of the process crashing.
  private let inbox: TransferInbox?
  private let startFailure: TransportError?
  private let config: ClientConfig
  private let identity: ClientIdentity

  public init(config: ClientConfig, identity: ClientIdentity = .default) {
    CurlGlobal.ensureInitialized()
    self.config = config
    self.identity = identity
    let inbox: TransferInbox
    do {
      inbox = try TransferInbox()
    } catch {
      self.inbox = nil
      startFailure = .unavailable("\(error)")
      return
    }
    self.inbox = inbox
    startFailure = nil
    let thread = Thread { MultiLoop(inbox: inbox).run() }
    thread.name = "kftray-http"
    thread.start()
  }

  deinit { inbox?.post(.shutdown) }

  /// Counters since the transport started: how many requests completed and how many new
  /// connections they needed (HTTP/2 and keep-alive reuse keep the second number small).
  public var statistics: TransportStatistics { inbox?.statistics.withLock { $0 } ?? TransportStatistics() }

  /// Ends the I/O thread; requests still in flight fail with `TransportError.shutDown`.
  public func shutdown() { inbox?.post(.shutdown) }

  /// Sends a request and collects the whole response body.
  public func send(_ request: HTTPRequest, credentials: RequestCredentials) async throws(TransportError) -> HTTPResponse {
    guard let inbox else { throw startFailure! }
    let prepared = prepare(request, credentials: credentials)
    let id = inbox.nextID()
    let result: Result<HTTPResponse, TransportError> = await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        inbox.post(.start(id, prepared, .buffered { continuation.resume(returning: $0) }))
      }
    } onCancel: {
      inbox.post(.cancel(id))
    }
    return try result.get()
  }

  /// Sends a request whose body arrives over time (watch, logs -f). Returns once the response head
  /// is in; the body follows as chunks. Ending the iteration early cancels the transfer.
  public func stream(_ request: HTTPRequest, credentials: RequestCredentials) async throws(TransportError) -> HTTPStreamResponse {
    var request = request
    request.isStream = true
    guard let inbox else { throw startFailure! }
    let prepared = prepare(request, credentials: credentials)
    let id = inbox.nextID()
    let (body, bodyContinuation) = AsyncThrowingStream<Data, any Error>.makeStream()
    bodyContinuation.onTermination = { reason in
      if case .cancelled = reason { inbox.post(.cancel(id)) }
    }
    let headResult: Result<HTTPResponseHead, TransportError> = await withTaskCancellationHandler {
      await withCheckedContinuation { headContinuation in
        let sink = StreamSink(
          head: { headContinuation.resume(returning: $0) },
          data: { bodyContinuation.yield($0) },
          done: { error in
            if let error { bodyContinuation.finish(throwing: error) } else { bodyContinuation.finish() }
          })
        inbox.post(.start(id, prepared, .streaming(sink)))
      }
    } onCancel: {
      inbox.post(.cancel(id))
    }
    let head = try headResult.get()
    return HTTPStreamResponse(head: head, body: body)
  }

  private func prepare(_ request: HTTPRequest, credentials: RequestCredentials) -> PreparedTransfer {
    let connection = ConnectionSettings(config: config, credentials: credentials, identity: identity)
    var headers = connection.commonHeaders().map { HTTPHeader($0.0, $0.1) }
    headers.append(contentsOf: request.headers)
    return PreparedTransfer(
      request: request, url: connection.url(path: request.path), headers: headers, connection: connection)
  }
}

public struct HTTPStreamResponse: Sendable {
  public var head: HTTPResponseHead
  public var body: AsyncThrowingStream<Data, any Error>
}

/// Everything the I/O thread needs to build an easy handle; plain values, so it crosses threads.
struct PreparedTransfer: Sendable {
  var request: HTTPRequest
  var url: String
  var headers: [HTTPHeader]
  var connection: ConnectionSettings
}



struct StreamSink: Sendable {
  let head: @Sendable (Result<HTTPResponseHead, TransportError>) -> Void
  let data: @Sendable (Data) -> Void
  let done: @Sendable (TransportError?) -> Void
}

enum TransferMode: Sendable {
  case buffered(@Sendable (Result<HTTPResponse, TransportError>) -> Void)
  case streaming(StreamSink)
}

enum TransferCommand: Sendable {
  case start(UInt64, PreparedTransfer, TransferMode)
  case cancel(UInt64)
  case shutdown
}

/// The only state shared between callers and the I/O thread: a command queue and its wake-up pipe.
public struct TransportStatistics: Sendable, Equatable {
  public var requests = 0
  public var newConnections = 0
}

final class TransferInbox: Sendable {
  let wakeup: Wakeup
  let statistics = Mutex(TransportStatistics())
  private let state = Mutex<(commands: [TransferCommand], nextID: UInt64)>(([], 1))

  init() throws(WakeupError) { wakeup = try Wakeup() }

  func nextID() -> UInt64 {
    state.withLock { s in
      defer { s.nextID += 1 }
      return s.nextID
    }
  }

  func post(_ command: TransferCommand) {
    state.withLock { $0.commands.append(command) }
    wakeup.signal()
  }

  func take() -> [TransferCommand] {
    state.withLock { s in
      defer { s.commands.removeAll() }
      return s.commands
    }
  }
}
