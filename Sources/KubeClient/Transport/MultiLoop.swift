import CCurl
import Foundation

/// The I/O thread's side of `HTTPTransport`. Created on that thread and never leaves it, so
/// its easy handles and buffers need no locks.
final class MultiLoop {
  private let inbox: TransferInbox
  private let multi: UnsafeMutableRawPointer
  private var transfers: [UInt64: Transfer] = [:]
  private var byHandle: [UnsafeMutableRawPointer: UInt64] = [:]

  init(inbox: TransferInbox) {
    self.inbox = inbox
    guard let m = curl_multi_init() else { fatalError("curl_multi_init returned NULL (out of memory)") }
    multi = m
    // HTTP/2 multiplexing: concurrent requests share one connection, like Go's http2 transport.
    _ = kc_multi_setopt_long(multi, CURLMOPT_PIPELINING, kc_pipe_multiplex())
  }

  func run() {
    var running: Int32 = 0
    loop: while true {
      for command in inbox.take() {
        switch command {
        case .start(let id, let prepared, let mode): start(id, prepared, mode)
        case .cancel(let id): finish(id, error: .cancelled)
        case .shutdown: break loop
        }
      }
      curl_multi_perform(multi, &running)
      collectFinished()
      var wake = curl_waitfd(fd: inbox.wakeup.readFD, events: Int16(CURL_WAIT_POLLIN), revents: 0)
      curl_multi_poll(multi, &wake, 1, inbox.wakeup.beginWait() ? 1000 : 0, nil)
      inbox.wakeup.endWait(readable: wake.revents != 0)
    }
    for id in Array(transfers.keys) { finish(id, error: .shutDown) }
    curl_multi_cleanup(multi)
  }

  private func start(_ id: UInt64, _ prepared: PreparedTransfer, _ mode: TransferMode) {
    let transfer = Transfer(mode: mode, url: prepared.url)
    do {
      try transfer.configure(prepared)
    } catch {
      transfer.complete(error: .curl(error, url: prepared.url))
      return
    }
    transfers[id] = transfer
    byHandle[transfer.easy.handle] = id
    curl_multi_add_handle(multi, transfer.easy.handle)
  }

  private func collectFinished() {
    var remaining: Int32 = 0
    while let message = curl_multi_info_read(multi, &remaining) {
      guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle,
        let id = byHandle[handle], let transfer = transfers[id]
      else { continue }
      let code = message.pointee.data.result
      finish(id, error: code == CURLE_OK ? nil : .curl(transfer.easy.error(code), url: transfer.url))
    }
  }

  private func finish(_ id: UInt64, error: TransportError?) {
    guard let transfer = transfers.removeValue(forKey: id) else { return }
    byHandle[transfer.easy.handle] = nil
    curl_multi_remove_handle(multi, transfer.easy.handle)
    let connects = transfer.easy.getInt(CURLINFO_NUM_CONNECTS)
    inbox.statistics.withLock {
      $0.requests += 1
      $0.newConnections += connects
    }
    transfer.complete(error: error)
  }
}

/// One request in flight: its easy handle, the response head as it is parsed, and where the
/// body goes. curl's callbacks reach it through an unretained pointer; `MultiLoop.transfers`
/// keeps it alive for exactly as long as curl may call back.
final class Transfer {
  let easy = CurlEasy()
  let url: String
  private let mode: TransferMode
  private var head = HTTPResponseHead(status: 0, headers: [], httpVersion: "")
  private var headDelivered = false
  private var body = Data()
  private var completed = false

  init(mode: TransferMode, url: String) {
    self.mode = mode
    self.url = url
  }

  func configure(_ prepared: PreparedTransfer) throws(CurlError) {
    let request = prepared.request
    try prepared.connection.apply(to: easy, upgrade: false)
    try easy.set(CURLOPT_URL, prepared.url)
    // Wait for an HTTP/2 connection being set up rather than opening a second one in parallel.
    try easy.set(CURLOPT_PIPEWAIT, true)
    if !prepared.connection.config.disableCompression {
      try easy.set(CURLOPT_ACCEPT_ENCODING, "gzip")
    }
    if !request.isStream, let timeout = prepared.connection.config.requestTimeout, timeout > .zero {
      let ms = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
      try easy.set(CURLOPT_TIMEOUT_MS, Int(max(ms, 1)))
    }
    switch request.method {
    case "GET": break
    case "HEAD": try easy.set(CURLOPT_NOBODY, true)
    default: try easy.set(CURLOPT_CUSTOMREQUEST, request.method)
    }
    if let body = request.body {
      try easy.set(CURLOPT_POSTFIELDSIZE, body.count)
      try easy.setBlobCopy(CURLOPT_COPYPOSTFIELDS, body)
    } else if request.method == "POST" {
      try easy.set(CURLOPT_POSTFIELDSIZE, 0)
      try easy.set(CURLOPT_COPYPOSTFIELDS, "")
    }
    // Without this, curl adds "Expect: 100-continue" to larger uploads and waits for a reply.
    var headers = prepared.headers.map { ($0.name, $0.value) }
    headers.append(("Expect", ""))
    try easy.setHeaders(headers)

    let context = Unmanaged.passUnretained(self).toOpaque()
    try easy.setCallback(CURLOPT_WRITEFUNCTION, data: CURLOPT_WRITEDATA, context: context) { ptr, size, count, ctx in
      let transfer = Unmanaged<Transfer>.fromOpaque(ctx!).takeUnretainedValue()
      let n = size * count
      transfer.received(UnsafeRawBufferPointer(start: ptr, count: n))
      return n
    }
    try easy.setCallback(CURLOPT_HEADERFUNCTION, data: CURLOPT_HEADERDATA, context: context) { ptr, size, count, ctx in
      let transfer = Unmanaged<Transfer>.fromOpaque(ctx!).takeUnretainedValue()
      let n = size * count
      let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: n), as: UTF8.self)
      transfer.headerLine(line)
      return n
    }
  }

  private func headerLine(_ line: String) {
    guard head.consume(line: line) else { return }
    // A blank line after a 1xx is not the final head; wait for the next status line.
    if head.status >= 200 { deliverHead() }
  }

  private func deliverHead() {
    guard !headDelivered else { return }
    headDelivered = true
    if case .streaming(let sink) = mode { sink.head(.success(head)) }
  }

  private func received(_ bytes: UnsafeRawBufferPointer) {
    switch mode {
    case .buffered: body.append(contentsOf: bytes)
    case .streaming(let sink):
      deliverHead()
      sink.data(Data(bytes))
    }
  }

  func complete(error: TransportError?) {
    guard !completed else { return }
    completed = true
    switch mode {
    case .buffered(let resume):
      if let error { resume(.failure(error)) } else { resume(.success(HTTPResponse(head: head, body: body))) }
    case .streaming(let sink):
      if !headDelivered {
        headDelivered = true
        if let error { sink.head(.failure(error)) } else { sink.head(.success(head)) }
      }
      sink.done(error)
    }
  }
}

extension CurlEasy {
  func setBlobCopy(_ option: CURLoption, _ data: Data) throws(CurlError) {
    // COPYPOSTFIELDS copies immediately, so a temporary pointer is fine.
    let rc = data.withUnsafeBytes { kc_setopt_ptr(handle, option, UnsafeMutableRawPointer(mutating: $0.baseAddress)) }
    if rc != CURLE_OK { throw error(rc) }
  }

  func setCallback(
    _ option: CURLoption, data: CURLoption, context: UnsafeMutableRawPointer,
    _ callback: @escaping kc_data_callback
  ) throws(CurlError) {
    var rc = kc_setopt_datacb(handle, option, callback)
    if rc == CURLE_OK { rc = kc_setopt_ptr(handle, data, context) }
    if rc != CURLE_OK { throw error(rc) }
  }
}
