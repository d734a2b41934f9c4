import KFTray
import KFTrayRelay

/// What every accepted destination must satisfy, whoever parsed it: the allow-list and the resolver
/// see the same name (no NUL, which getaddrinfo would cut the name at), the relay header carries it
/// unchanged, and the relay decodes that header back to the same request.
func checkDestination(_ request: DynamicDestination.Request, _ who: String) throws(InvariantViolation) {
  switch request.address {
  case .ipv4(let bytes): try check(bytes.count == 4, "\(who): IPv4 address of \(bytes.count) bytes")
  case .ipv6(let bytes): try check(bytes.count == 16, "\(who): IPv6 address of \(bytes.count) bytes")
  case .name(let name):
    try check(!name.isEmpty, "\(who): empty name accepted")
    try check(!name.utf8.contains(0), "\(who): name \(name.debugDescription) holds a NUL: the allow-list judges the whole name, the resolver looks up the part before it")
    try check(name.utf8.count <= 255, "\(who): name of \(name.utf8.count) bytes does not fit the relay header")
  }
  let header = request.encoded()
  var offset = 0
  let decoded = Result { () throws(DynamicDestination.DecodeError) in
    try DynamicDestination.decode { count in
      guard count <= header.count - offset else { return nil }
      defer { offset += count }
      return Array(header[offset..<offset + count])
    }
  }
  try check(decoded == .success(request), "\(who): relay decodes the header of \(request) as \(decoded)")
  try check(offset == header.count, "\(who): relay read \(offset) of \(header.count) header bytes")
}

/// SOCKS5 as `proxy --socks` reads it (variant bit: `--socks-auth user:pass`). Invariants: never reads
/// past the input; a request is accepted only after the right method choice (and, with credentials,
/// only when the client sent exactly them); the destination's wire form is the bytes read.
enum SocksTarget {
  static let credentials = try! DynamicFrontend.Credentials(parsing: "user:pass")

  static func run(_ input: [UInt8]) throws(InvariantViolation) {
    guard let mode = InputMode(input) else { return }
    let bytes = mode.rest
    let outcome = FrontendRequestParser.socks(bytes, credentials: mode.variant ? credentials : nil)
    try check(outcome.consumed <= bytes.count, "read \(outcome.consumed) of \(bytes.count) bytes")
    try check(outcome.answered.count <= 2 + 2 + 10, "answered \(outcome.answered.count) bytes: \(hex(outcome.answered))")
    guard let request = outcome.destination else { return }
    let read = Array(bytes[..<outcome.consumed])
    try check(read.count >= 2 && read[0] == 5, "accepted greeting \(hex(read.prefix(2)))")
    var requestStart = 2 + Int(read[1])
    if mode.variant {
      let auth: [UInt8] = [1, 4] + Array("user".utf8) + [4] + Array("pass".utf8)
      try check(outcome.answered == [5, 2, 1, 0], "accepted with answers \(hex(outcome.answered))")
      try check(read.count >= requestStart + auth.count && Array(read[requestStart..<requestStart + auth.count]) == auth,
        "accepted without the credentials: \(hex(read))")
      requestStart += auth.count
    } else {
      try check(outcome.answered == [5, 0], "accepted with answers \(hex(outcome.answered))")
    }
    try check(outcome.pending.isEmpty, "SOCKS request with pending bytes")
    // VER CMD RSV, then address type, address and port: the rest of what was read.
    let raw = Array(read[min(requestStart, read.count)...])
    try check(raw.count >= 4 + 1 + 2 && raw[0] == 5 && raw[1] == request.command.rawValue,
      "request \(request) from \(hex(raw))")
    let nameIsText = raw[3] != 3 || isValidUTF8(raw[5..<min(raw.count, 5 + Int(raw[4]))])
    if nameIsText {
      let wire = DynamicDestination.encode(request.address, port: request.port)
      try check(Array(raw.dropFirst(3)) == wire, "request \(request) re-encodes as \(hex(wire)), read \(hex(raw.dropFirst(3)))")
    }
    try checkDestination(request, "socks5")
  }
}

/// HTTP CONNECT and absolute-form requests as `proxy --http-connect` reads them. Invariants: never
/// reads past the input or the 16 KiB head limit; a CONNECT has a port; a plain request is sent on
/// as its origin-form request line followed by exactly the bytes the client sent after its own.
enum HTTPConnectTarget {
  static func run(_ input: [UInt8]) throws(InvariantViolation) {
    let outcome = FrontendRequestParser.httpConnect(input)
    try check(outcome.consumed <= input.count, "read \(outcome.consumed) of \(input.count) bytes")
    try check(outcome.consumed <= 16 * 1024, "read \(outcome.consumed) bytes of head, over the 16 KiB limit")
    guard let request = outcome.destination else {
      try check(outcome.answered.isEmpty || outcome.answered.starts(with: Array("HTTP/1.1 4".utf8)),
        "refused with \(String(decoding: outcome.answered, as: UTF8.self).debugDescription)")
      return
    }
    try check(outcome.answered.isEmpty, "answered before the relay did: \(hex(outcome.answered))")
    try check(request.port > 0 && request.command == .connect, "destination \(request)")
    let read = Array(input[..<outcome.consumed])
    guard let firstLineEnd = firstCRLF(read) else {
      throw InvariantViolation("accepted a head without a line end: \(hex(read))")
    }
    if outcome.isTunnel {
      try check(outcome.pending.isEmpty, "CONNECT with pending bytes")
    } else {
      // The request line is rewritten; everything after it goes to the target byte for byte.
      guard let rewrittenEnd = firstCRLF(outcome.pending) else {
        throw InvariantViolation("plain request sent on without a request line: \(hex(outcome.pending))")
      }
      let rest = Array(outcome.pending[(rewrittenEnd + 2)...])
      try check(rest == Array(read[(firstLineEnd + 2)...]),
        "the headers sent on (\(hex(rest))) are not the client's (\(hex(read[(firstLineEnd + 2)...])))")
      let line = String(decoding: outcome.pending[..<rewrittenEnd], as: UTF8.self)
      let parts = line.split(separator: " ", omittingEmptySubsequences: false)
      try check(parts.count == 3 && parts[1].hasPrefix("/") && parts[2].hasPrefix("HTTP/") && !parts[0].isEmpty
          && parts[0].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "!#$%&'*+-.^_`|~".contains($0)) },
        "rewritten request line \(line.debugDescription) is not METHOD /path HTTP/x.y")
    }
    try checkDestination(request, "http-connect")
  }

  static func firstCRLF(_ bytes: [UInt8]) -> Int? {
    guard bytes.count >= 2 else { return nil }
    return (0..<bytes.count - 1).first { bytes[$0] == 13 && bytes[$0 + 1] == 10 }
  }
}

/// The relay's dynamic destination header (what any pod-network client can send the relay), then the
/// rest of the input as an `--allow`/`ALLOW` list. Invariants: never reads past the input; a decoded
/// request is the bytes read; rules re-parse from their own text; an IPv4-mapped IPv6 address is
/// judged as its IPv4 address.
enum RelayDestinationTarget {
  static func run(_ input: [UInt8]) throws(InvariantViolation) {
    var offset = 0
    var overread = false
    let decoded = Result { () throws(DynamicDestination.DecodeError) in
      try DynamicDestination.decode { count in
        guard count >= 0 else { overread = true; return nil }
        guard count <= input.count - offset else { return nil }
        defer { offset += count }
        return Array(input[offset..<offset + count])
      }
    }
    try check(!overread && offset <= input.count, "read \(offset) of \(input.count) bytes")
    if case .success(let request) = decoded {
      let read = Array(input[..<offset])
      if case .name = request.address, !isValidUTF8(read.dropFirst(7).dropLast(2)) {
        // Not UTF-8: decoded with replacement characters.
      } else {
        try check(request.encoded() == read, "\(request) encodes as \(hex(request.encoded())), read \(hex(read))")
      }
      try checkDestination(request, "relay")
    }

    let text = String(decoding: input[offset...], as: UTF8.self)
    guard let allow = try? AllowList(parsing: text) else { return }
    for rule in allow.rules {
      let again: AllowList
      do { again = try AllowList(parsing: rule.text) } catch {
        throw InvariantViolation("rule \(rule.text.debugDescription) does not re-parse: \(error)")
      }
      try check(again.rules == [rule], "rule \(rule.text.debugDescription) re-parses as \(again.rules)")
    }
    if case .success(let request) = decoded {
      switch request.address {
      case .ipv4(let bytes):
        let mapped = Array(repeating: 0, count: 10) + [0xff, 0xff] + bytes
        try check(allow.allowsAddress(bytes, port: request.port) == allow.allowsAddress(mapped, port: request.port),
          "\(allow) judges \(request.address) and its IPv4-mapped form differently")
      case .name, .ipv6: break
      }
    }
  }
}

/// A UDP associate stream (relay side and SOCKS front end side). Invariants: frames independent of read
/// sizes; the bytes held stay below one maximal frame; the frames re-assemble to the bytes consumed;
/// a body that decodes re-encodes to itself.
enum RelayUDPFramesTarget {
  static func run(_ input: [UInt8]) throws(InvariantViolation) {
    guard let mode = InputMode(input) else { return }
    let limit = mode.variant ? 300 : DatagramStreamReader.maximumBodyLength
    let whole = split([mode.rest[...]], limit: limit)
    let split = split(mode.chunks, limit: limit)
    try check(whole.bodies == split.bodies && whole.failure == split.failure,
      "reads of \(mode.chunk) bytes give \(split.bodies.count) frames (\(String(describing: split.failure))); one read \(whole.bodies.count) (\(String(describing: whole.failure)))")
    try check(split.maxBuffered <= 4 + limit + mode.chunk, "held \(split.maxBuffered) bytes with frames limited to \(limit)")
    var reassembled: [UInt8] = []
    for body in whole.bodies {
      try check(body.count <= limit, "frame body of \(body.count) bytes over \(limit)")
      reassembled += UDPFraming.header(length: body.count) + body
      guard let (address, port, payload) = DynamicDestination.decodeAddress(body[...]) else { continue }
      if case .name(let name) = address {
        try check(!name.isEmpty && !name.utf8.contains(0), "datagram to name \(name.debugDescription)")
        guard isValidUTF8(body.dropFirst(2).prefix(Int(body[1]))) else { continue }
      }
      let frame = DynamicDestination.datagramFrame(address, port: port, payload: payload)
      try check(Array(frame.dropFirst(4)) == body, "datagram body \(hex(body)) re-encodes as \(hex(frame.dropFirst(4)))")
    }
    try check(reassembled == Array(mode.rest.prefix(reassembled.count)), "frames do not re-assemble to the input")
  }

  static func split(_ chunks: [ArraySlice<UInt8>], limit: Int) -> (bodies: [[UInt8]], failure: DatagramStreamReader.Failure?, maxBuffered: Int) {
    var reader = DatagramStreamReader(maximumBodyLength: limit)
    var bodies: [[UInt8]] = []
    var maxBuffered = 0
    for chunk in chunks {
      reader.append(chunk)
      maxBuffered = max(maxBuffered, reader.bufferedByteCount)
      do {
        while let body = try reader.next() { bodies.append(Array(body)) }
      } catch {
        return (bodies, error, maxBuffered)
      }
    }
    return (bodies, nil, maxBuffered)
  }
}
