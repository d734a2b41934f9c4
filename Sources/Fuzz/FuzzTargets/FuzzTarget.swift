/// The parsers that read bytes from outside (the API server's tunnel, the user's files, local proxy
/// clients, the relay's peers), each with the invariants its output must keep on any input. The fuzz
/// executable (`kftray-fuzz`, built by `scripts/fuzz.sh` with libFuzzer) and the seed replay test
/// call the same `run`.
///
/// The first input byte of the binary targets chooses how the rest is cut into reads (bits 1...7:
/// chunk size − 1) and a variant (bit 0), so the fuzzer explores partial reads too.
public enum FuzzTarget: String, CaseIterable, Sendable {
  case spdy
  case websocket
  case kubeconfig
  case kftrayJSON = "kftray-json"
  case socks5
  case httpConnect = "http-connect"
  case relayDestination = "relay-destination"
  case relayUDPFrames = "relay-udp-frames"

  public var summary: String {
    switch self {
    case .spdy: return "SPDY/3 frame decoder with header-block decompression (PortForwardCodecs)"
    case .websocket: return "WebSocket frame decoder, server frames (bit 0 = 0) and masked client frames (bit 0 = 1)"
    case .kubeconfig: return "kubeconfig loader: YAML, stanzas, exec/auth-provider, merge of up to 3 files split at 0x01"
    case .kftrayJSON: return "kftray JSON config reader (proxy --config)"
    case .socks5: return "SOCKS5 greeting, RFC 1929 auth (bit 0 = 1: user:pass required) and request (proxy --socks)"
    case .httpConnect: return "HTTP CONNECT and absolute-form request head (proxy --http-connect)"
    case .relayDestination: return "relay's dynamic destination header, then the rest as an --allow list"
    case .relayUDPFrames: return "UDP associate stream framing and datagram addresses (relay and SOCKS front end)"
    }
  }

  /// Runs one input; returns normally when every invariant held.
  public func run(_ input: [UInt8]) throws(InvariantViolation) {
    switch self {
    case .spdy: try SPDYTarget.run(input)
    case .websocket: try WebSocketTarget.run(input)
    case .kubeconfig: try KubeconfigTarget.run(input)
    case .kftrayJSON: try KFTrayJSONTarget.run(input)
    case .socks5: try SocksTarget.run(input)
    case .httpConnect: try HTTPConnectTarget.run(input)
    case .relayDestination: try RelayDestinationTarget.run(input)
    case .relayUDPFrames: try RelayUDPFramesTarget.run(input)
    }
  }
}

/// A broken invariant: the parser accepted or produced something it must not. The fuzz executable
/// aborts on it (libFuzzer then saves the input); the replay test reports it.
public struct InvariantViolation: Error, Sendable, CustomStringConvertible {
  public var message: String
  public var description: String { message }
  public init(_ message: String) { self.message = message }
}

@inline(__always)
func check(_ condition: Bool, _ message: @autoclosure () -> String) throws(InvariantViolation) {
  if !condition { throw InvariantViolation(message()) }
}

/// The binary targets' first byte: chunk size and variant.
struct InputMode {
  var chunk: Int
  var variant: Bool
  var rest: [UInt8]

  init?(_ input: [UInt8]) {
    guard let first = input.first else { return nil }
    chunk = Int(first >> 1) + 1
    variant = first & 1 == 1
    rest = Array(input.dropFirst())
  }

  /// The rest cut into reads of `chunk` bytes (the last may be shorter).
  var chunks: [ArraySlice<UInt8>] {
    stride(from: 0, to: rest.count, by: chunk).map { rest[$0..<min(rest.count, $0 + chunk)] }
  }
}

/// Bytes that decode to a String and back unchanged (names compared byte for byte only then).
func isValidUTF8(_ bytes: some Collection<UInt8>) -> Bool {
  String(validating: bytes, as: UTF8.self) != nil
}

func hex(_ bytes: some Collection<UInt8>) -> String {
  bytes.prefix(64).map { String($0, radix: 16) }.joined(separator: " ") + (bytes.count > 64 ? " …" : "")
}
