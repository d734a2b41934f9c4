import NIOCore
import PortForwardCodecs

/// The server side of one SPDY/3.1 `portforward.k8s.io` connection, after the HTTP upgrade: what the
/// container runtime's streaming server does (kubelet `pkg/cri/streaming/portforward/httpstream.go` on
/// top of moby/spdystream), for one pod.
///
/// - SYN_STREAM: headers checked (`port` a uint16 > 0, `streamtype` error|data), else RST_STREAM(CANCEL)
///   and no SYN_REPLY; an id not above the last one gets RST_STREAM(PROTOCOL_ERROR). Accepted streams get
///   a SYN_REPLY with an empty header block (compressed by this session's own compressor).
/// - Streams pair by request id (`StreamPairing`); a complete pair dials the pod port and copies bytes
///   both ways. Dial failure: the error text on the error stream, then RST on both (kubelet 1.32+).
/// - Pod socket closed: FIN on the data stream, then on the error stream. Client FIN on the data stream:
///   the pod socket's output is shut down and the socket fully closed at most 1 s later (containerd).
/// - PING with the client's (odd) parity is echoed; DATA/RST for unknown streams is dropped; SETTINGS,
///   WINDOW_UPDATE, HEADERS are ignored (spdystream has no flow control). GOAWAY: no new streams, and the
///   connection closes once the open forwards end. A frame spdystream would die on closes the connection.
/// - Backpressure: pod sockets stop being read while this connection is not writable, and this
///   connection stops being read while any pod socket is not writable (spdystream's blocking is per
///   session too). Nothing blocks the event loop.
final class KubeletPortForwardSession: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  private struct StreamState {
    var accepted: AcceptedStream
    var remoteFinished = false
    var localFinished = false
    /// DATA that arrived on a data stream before its pair was complete.
    var early: [ByteBuffer] = []
  }

  private let pod: KubeletPod
  private let directory: any KubeletPodDirectory
  private let dialer: any PodPortDialer
  private let configuration: KubeletPortForwardConfiguration
  private let decoder = SPDYFrameDecoder()
  private let encoder = SPDYFrameEncoder()
  private var streams: [SPDYStreamID: StreamState] = [:]
  private var pairing = StreamPairing()
  private var pairTimers: [String: Scheduled<Void>] = [:]
  /// Keyed by data stream id.
  private var forwards: [SPDYStreamID: ForwardedConnection] = [:]
  private var lastStreamID: SPDYStreamID = 0
  private var goingAway = false
  private var unwritablePods = 0
  private var context: ChannelHandlerContext?
  private let idleTimeout: TimeAmount
  private var lastActivity = NIODeadline.now()
  private var idleTimer: Scheduled<Void>?
  /// The records Go's TLS would cut this connection's writes into (`RealWireShape`).
  private var recordSizer = GoTLSRecordSizer()

  init(
    pod: KubeletPod, directory: any KubeletPodDirectory, dialer: any PodPortDialer,
    configuration: KubeletPortForwardConfiguration, idleTimeout: TimeAmount
  ) {
    self.pod = pod
    self.directory = directory
    self.dialer = dialer
    self.configuration = configuration
    self.idleTimeout = idleTimeout
  }

  /// Stands in for Go's `%p` of the connection in the kubelet's messages.
  private var connectionName: String { "0x" + String(UInt(bitPattern: ObjectIdentifier(self).hashValue), radix: 16) }

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    lastActivity = .now()
    scheduleIdleCheck(at: lastActivity + idleTimeout)
  }

  // MARK: - Idle timeout

  /// One timer per session: frames only move `lastActivity`; the timer re-arms itself until the
  /// session has really been idle for the whole timeout.
  private func scheduleIdleCheck(at deadline: NIODeadline) {
    guard let context else { return }
    let session = NIOLoopBound(self, eventLoop: context.eventLoop)
    idleTimer = context.eventLoop.scheduleTask(deadline: deadline) { session.value.idleCheck() }
  }

  private func idleCheck() {
    idleTimer = nil
    let expiry = lastActivity + idleTimeout
    guard NIODeadline.now() >= expiry else {
      scheduleIdleCheck(at: expiry)
      return
    }
    guard let context else { return }
    // spdystream: reset every stream, then GOAWAY, then close.
    for id in streams.keys.sorted() {
      send(.rstStream(SPDYRstStream(streamID: id, status: .cancel)))
    }
    streams = [:]
    send(.goAway(SPDYGoAway(lastGoodStreamID: lastStreamID)))
    let channel = context.channel
    context.writeAndFlush(NIOAny(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
      channel.close(promise: nil)
    }
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    tearDown()
    self.context = nil
  }

  func channelInactive(context: ChannelHandlerContext) {
    tearDown()
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    context.close(promise: nil)
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    var buffer = unwrapInboundIn(data)
    guard let bytes = buffer.readBytes(length: buffer.readableBytes), !bytes.isEmpty else { return }
    decoder.append(bytes)
    do {
      while let frame = try decoder.nextFrame() {
        handle(frame)
        guard self.context != nil else { return }
      }
    } catch {
      // Every decoder error is one that kills a spdystream session.
      context.close(promise: nil)
    }
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    context.flush()
    context.fireChannelReadComplete()
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    let writable = context.channel.isWritable
    for forward in forwards.values {
      _ = forward.channel?.setOption(ChannelOptions.autoRead, value: writable)
    }
    context.fireChannelWritabilityChanged()
  }

  // MARK: - Frames from the client

  private func handle(_ frame: SPDYFrame) {
    lastActivity = .now()
    switch frame {
    case .synStream(let syn): receive(syn)
    case .data(let data): receive(data)
    case .rstStream(let rst): receiveReset(rst.streamID)
    case .ping(let ping):
      // Odd ids are the client's: echo them unchanged. Even ids would answer pings of ours; we send none.
      if ping.id % 2 == 1 { send(.ping(ping)) }
    case .goAway:
      goingAway = true
      closeIfIdle()
    case .settings, .windowUpdate, .headers, .synReply:
      break
    }
  }

  private func receive(_ syn: SPDYSynStream) {
    // spdystream stops reading at GOAWAY; we keep reading for the open streams but start nothing new.
    guard !goingAway else { return }
    guard syn.streamID > lastStreamID else {
      send(.rstStream(SPDYRstStream(streamID: syn.streamID, status: .protocolError)))
      return
    }
    lastStreamID = syn.streamID
    let accepted: AcceptedStream
    switch StreamHeaderValidation.validate(syn.headers, streamID: syn.streamID) {
    case .failure:
      send(.rstStream(SPDYRstStream(streamID: syn.streamID, status: .cancel)))
      return
    case .success(let stream):
      accepted = stream
    }
    var state = StreamState(accepted: accepted)
    state.remoteFinished = syn.flags.contains(.fin)
    streams[syn.streamID] = state
    send(.synReply(SPDYSynReply(streamID: syn.streamID)))

    switch pairing.add(accepted) {
    case .started(let requestID):
      guard let context else { return }
      let session = NIOLoopBound(self, eventLoop: context.eventLoop)
      pairTimers[requestID] = context.eventLoop.scheduleTask(in: configuration.streamCreationTimeout) {
        session.value.pairTimedOut(requestID)
      }
    case .waiting:
      break
    case .complete(let error, let data):
      pairTimers.removeValue(forKey: data.requestID)?.cancel()
      startForward(error: error, data: data)
    case .duplicate(let message, let errorStream):
      if let errorStream { sendText(message, on: errorStream) }
    }
  }

  private func receive(_ frame: SPDYDataFrame) {
    // Unknown, reset or already finished streams: dropped silently, as spdystream does.
    guard var state = streams[frame.streamID], !state.remoteFinished else { return }
    if frame.isFin { state.remoteFinished = true }
    let forward = forwards[frame.streamID]
    if state.accepted.type == .data, !frame.payload.isEmpty, let context {
      let buffer = context.channel.allocator.buffer(bytes: frame.payload)
      if let forward {
        if forward.connected, let channel = forward.channel {
          channel.writeAndFlush(buffer, promise: nil)
        } else if !forward.done {
          forward.pending.append(buffer)
        }
      } else {
        state.early.append(buffer)
      }
    }
    // The error stream carries nothing from kubectl; its FIN just half-closes it.
    streams[frame.streamID] = state
    if frame.isFin, let forward { clientFinishedData(forward) }
    retireIfClosed(frame.streamID)
  }

  private func receiveReset(_ id: SPDYStreamID) {
    guard streams.removeValue(forKey: id) != nil else { return }
    // The client gave up on the connection: close the pod socket now. Its closing then finishes the
    // error stream (the data stream is gone and gets nothing more).
    if let forward = forwards[id] {
      if forward.connected {
        forward.channel?.close(promise: nil)
      } else {
        forward.pending = []
      }
    }
  }

  // MARK: - Pairs

  private func pairTimedOut(_ requestID: String) {
    pairTimers[requestID] = nil
    guard let pair = pairing.expire(requestID) else { return }
    let message = StreamPairing.timeoutMessage(connection: connectionName, requestID: requestID)
    // The kubelet only prints the message to the error stream. We also finish that stream and reset a
    // lone data stream, so a client reading them is not left waiting until the connection ends.
    if let error = pair.error {
      sendText(message, on: error.id)
      finish(error.id)
    }
    if let data = pair.data { reset(data.id) }
    context?.flush()
  }

  private func startForward(error: AcceptedStream, data: AcceptedStream) {
    guard let context else { return }
    // The data stream's port is the one forwarded (the kubelet reads it from that stream).
    let forward = ForwardedConnection(errorStream: error.id, dataStream: data.id, port: data.port)
    forwards[data.id] = forward
    forward.pending = streams[data.id]?.early ?? []
    streams[data.id]?.early = []

    // A pod deleted after the session started: the runtime would find its sandbox gone.
    guard let current = directory.pod(namespace: pod.namespace, name: pod.name), current.uid == pod.uid else {
      forwardFailed(forward, PodDialError("network namespace for sandbox \"\(pod.uid)\" is closed"))
      return
    }
    let loop = context.eventLoop
    let session = NIOLoopBound(self, eventLoop: loop)
    let bound = NIOLoopBound(forward, eventLoop: loop)
    dialer.dial(pod: pod, port: data.port, on: loop) { channel in
      channel.eventLoop.makeCompletedFuture {
        bound.value.channel = channel
        // containerd reads the pod socket with io.Copy's 32 KiB buffer: one read, one DATA frame.
        try channel.syncOptions?.setOption(
          ChannelOptions.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: RealWireShape.copyBufferSize))
        try channel.pipeline.syncOperations.addHandler(PodSocketHandler(session: session, forward: bound))
      }
    }.whenComplete { result in
      switch result {
      case .success(let channel): session.value.podConnected(bound.value, channel: channel)
      case .failure(let error): session.value.forwardFailed(bound.value, error)
      }
    }
  }

  private func podConnected(_ forward: ForwardedConnection, channel: Channel) {
    forward.channel = channel
    // The client reset the data stream, or the session ended, while we were dialing.
    guard !forward.done, context != nil, streams[forward.dataStream] != nil else {
      channel.close(promise: nil)
      return
    }
    forward.connected = true
    for buffer in forward.pending { channel.write(buffer, promise: nil) }
    forward.pending = []
    channel.flush()
    if let context, !context.channel.isWritable {
      _ = channel.setOption(ChannelOptions.autoRead, value: false)
    }
    if streams[forward.dataStream]?.remoteFinished == true { clientFinishedData(forward) }
  }

  /// kubelet: `error forwarding port P to pod <id>, uid : <err>` on the error stream, then (1.32+) a
  /// reset of both streams.
  private func forwardFailed(_ forward: ForwardedConnection, _ error: Error) {
    guard !forward.done else { return }
    forward.done = true
    forwards[forward.dataStream] = nil
    forward.pending = []
    let reason = (error as? PodDialError)?.description ?? "\(error)"
    sendText("error forwarding port \(forward.port) to pod \(pod.uid), uid : \(reason)", on: forward.errorStream)
    reset(forward.errorStream)
    reset(forward.dataStream)
    context?.flush()
    closeIfIdle()
  }

  /// The client will send nothing more: shut down the pod socket's output, close it fully after the grace.
  private func clientFinishedData(_ forward: ForwardedConnection) {
    guard forward.connected, !forward.outputShutDown, let channel = forward.channel else { return }
    forward.outputShutDown = true
    channel.close(mode: .output, promise: nil)
    scheduleClose(forward)
  }

  private func scheduleClose(_ forward: ForwardedConnection) {
    guard forward.closeTimer == nil, let channel = forward.channel else { return }
    forward.closeTimer = channel.eventLoop.scheduleTask(in: configuration.halfCloseGrace) {
      channel.close(promise: nil)
    }
  }

  // MARK: - Events of the pod socket (called by PodSocketHandler, on this loop)

  func podRead(_ forward: ForwardedConnection, _ buffer: inout ByteBuffer) {
    guard let context, let state = streams[forward.dataStream], !state.localFinished else { return }
    lastActivity = .now()
    while buffer.readableBytes > 0 {
      let length = min(configuration.maximumDataFrame, buffer.readableBytes)
      var header: [UInt8] = []
      header.reserveCapacity(8)
      do {
        try SPDYFrameEncoder.appendDataFrameHeader(streamID: forward.dataStream, length: length, into: &header)
      } catch {
        context.close(promise: nil)
        return
      }
      // spdystream's framer writes the stream id, the flags and length, then the payload, each as its
      // own TLS write (RealWireShape).
      goWrite(context.channel.allocator.buffer(bytes: header[..<4]), context: context)
      goWrite(context.channel.allocator.buffer(bytes: header[4...]), context: context)
      goWrite(buffer.readSlice(length: length)!, context: context)
    }
  }

  /// One `tls.Conn.Write` of Go's: a write per record it would make (NIOSSL turns each into one record).
  private func goWrite(_ buffer: ByteBuffer, context: ChannelHandlerContext) {
    var buffer = buffer
    while buffer.readableBytes > 0 {
      let length = recordSizer.nextRecord(remaining: buffer.readableBytes)
      context.write(wrapOutboundOut(buffer.readSlice(length: length)!), promise: nil)
    }
  }

  func podReadComplete() {
    context?.flush()
  }

  /// The pod half-closed: the pod→client direction is over; the other one gets the grace.
  func podInputClosed(_ forward: ForwardedConnection) {
    if forward.outputShutDown {
      forward.channel?.close(promise: nil)
    } else {
      scheduleClose(forward)
    }
  }

  /// The pod socket is closed: FIN the data stream, then the error stream (the kubelet's deferred
  /// closes run in that order).
  func podClosed(_ forward: ForwardedConnection) {
    forward.closeTimer?.cancel()
    forward.closeTimer = nil
    if !forward.podWritable {
      forward.podWritable = true
      podWritabilityChanged(forward, writable: true)
    }
    guard !forward.done else { return }
    forward.done = true
    forwards[forward.dataStream] = nil
    finish(forward.dataStream)
    finish(forward.errorStream)
    context?.flush()
    closeIfIdle()
  }

  func podWritabilityChanged(_ forward: ForwardedConnection, writable: Bool) {
    if writable != forward.podWritable {
      forward.podWritable = writable
      unwritablePods += writable ? -1 : 1
    }
    _ = context?.channel.setOption(ChannelOptions.autoRead, value: unwritablePods == 0)
  }

  // MARK: - Writing

  private func send(_ frame: SPDYFrame) {
    guard let context else { return }
    lastActivity = .now()
    do {
      var bytes = context.channel.allocator.buffer(bytes: try encoder.encode(frame))
      // The framer's field-by-field writes (RealWireShape).
      for length in SpdystreamWrites.writes(header: bytes.readableBytesView.prefix(8)) {
        goWrite(bytes.readSlice(length: length)!, context: context)
      }
    } catch {
      context.close(promise: nil)
    }
  }

  private func sendText(_ text: String, on id: SPDYStreamID) {
    guard let state = streams[id], !state.localFinished else { return }
    send(.data(SPDYDataFrame(streamID: id, payload: ArraySlice(text.utf8))))
  }

  /// FIN: an empty DATA frame with the FIN flag.
  private func finish(_ id: SPDYStreamID) {
    guard var state = streams[id], !state.localFinished else { return }
    state.localFinished = true
    streams[id] = state
    send(.data(SPDYDataFrame(streamID: id, flags: .fin)))
    retireIfClosed(id)
  }

  private func reset(_ id: SPDYStreamID) {
    guard streams.removeValue(forKey: id) != nil else { return }
    send(.rstStream(SPDYRstStream(streamID: id, status: .cancel)))
  }

  /// A stream closed in both directions is forgotten (later frames for it are dropped).
  private func retireIfClosed(_ id: SPDYStreamID) {
    guard let state = streams[id], state.localFinished, state.remoteFinished else { return }
    streams[id] = nil
  }

  private func closeIfIdle() {
    guard goingAway, forwards.isEmpty, let context else { return }
    context.flush()
    context.close(promise: nil)
  }

  private func tearDown() {
    idleTimer?.cancel()
    idleTimer = nil
    for timer in pairTimers.values { timer.cancel() }
    pairTimers = [:]
    let open = forwards.values
    forwards = [:]
    for forward in open {
      forward.done = true
      forward.closeTimer?.cancel()
      forward.channel?.close(promise: nil)
    }
  }
}
