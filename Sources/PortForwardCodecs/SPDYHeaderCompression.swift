import CZlib

// One zlib context per direction for the life of a SPDY session (SPDY/3 §2.6.10.1): every
// SYN_STREAM, SYN_REPLY and HEADERS block of a direction continues the same deflate stream,
// which is never reset. Each block ends with Z_SYNC_FLUSH so it decodes completely from the
// bytes of its own frame.
//
// These classes are deliberately not Sendable: a z_stream is mutable C state with an internal
// back-pointer, and compression order must equal wire order. One session owns each context and
// drives it from one place; moving it across isolation domains would invite exactly the
// reordering bug spdystream guards against with its write lock.

/// Deflates header blocks of one direction (ours → peer).
public final class HeaderCompressor {
  private let stream: UnsafeMutablePointer<z_stream>
  private var initialized = false
  private var broken = false
  private let level: Int32

  /// `level` 9 is what Go's spdystream uses (`BestCompression`); with it the output matches the
  /// spec's golden bytes. Any level interoperates.
  public init(level: Int32 = 9) {
    self.level = level
    stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    stream.initialize(to: z_stream())
  }

  deinit {
    if initialized { deflateEnd(stream) }
    stream.deinitialize(count: 1)
    stream.deallocate()
  }

  private func start() throws(SPDYError) {
    // windowBits 15 (zlib wrapper, RFC 1950), memLevel 8: zlib's and Go's defaults.
    let rc = czlib_deflateInit2(stream, level, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY)
    guard rc == Z_OK else {
      broken = true
      throw .zlib(operation: "deflateInit2", code: rc)
    }
    initialized = true
    // Right after init, before any data: the dictionary id goes into the zlib header (FDICT).
    let dictRC = SPDY3Dictionary.bytes.withUnsafeBufferPointer { dict in
      deflateSetDictionary(stream, dict.baseAddress, uInt(dict.count))
    }
    guard dictRC == Z_OK else {
      broken = true
      throw .zlib(operation: "deflateSetDictionary", code: dictRC)
    }
  }

  /// Marks the context as out of step with the peer (its output was not sent); later calls throw.
  func markUnusable() { broken = true }

  /// Compresses one uncompressed name/value block and appends the bytes, ending with a sync
  /// flush (`00 00 FF FF`), to `output`. On error `output` is left as it was and the context is
  /// unusable (the peer's decompressor would be out of step anyway).
  public func compress(_ block: [UInt8], appendingTo output: inout [UInt8]) throws(SPDYError) {
    guard !broken else { throw .compressionContextUnusable }
    if !initialized { try start() }
    let start = output.count
    var rc: Int32 = Z_OK
    var availOut: uInt = 0
    block.withUnsafeBufferPointer { input in
      stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
      stream.pointee.avail_in = uInt(input.count)
      // A sync flush adds a few bytes; deflate may also expand incompressible input slightly.
      var room = input.count + input.count / 8 + 64
      repeat {
        let produced = output.count
        output.append(contentsOf: repeatElement(0, count: room))
        output.withUnsafeMutableBufferPointer { out in
          stream.pointee.next_out = out.baseAddress! + produced
          stream.pointee.avail_out = uInt(room)
          rc = deflate(stream, Z_SYNC_FLUSH)
          availOut = stream.pointee.avail_out
        }
        output.removeLast(Int(availOut))
        room *= 2
        // zlib: with a flush, deflate returning avail_out == 0 means "call again with more room".
      } while (rc == Z_OK || rc == Z_BUF_ERROR) && availOut == 0
      stream.pointee.next_in = nil
      stream.pointee.next_out = nil
    }
    guard rc == Z_OK || rc == Z_BUF_ERROR, stream.pointee.avail_in == 0 else {
      output.removeSubrange(start...)
      broken = true
      throw .zlib(operation: "deflate", code: rc)
    }
  }
}

@available(*, unavailable, message: "a zlib context belongs to one session; see the comment above")
extension HeaderCompressor: Sendable {}

/// Inflates header blocks of one direction (peer → us).
public final class HeaderDecompressor {
  private let stream: UnsafeMutablePointer<z_stream>
  private var initialized = false
  private var ended = false
  private var broken = false
  /// Largest decompressed block accepted; protects against a tiny frame inflating to gigabytes.
  public let maxBlockSize: Int

  public init(maxBlockSize: Int = 1 << 20) {
    self.maxBlockSize = max(4, maxBlockSize)
    stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    stream.initialize(to: z_stream())
  }

  deinit {
    if initialized { inflateEnd(stream) }
    stream.deinitialize(count: 1)
    stream.deallocate()
  }

  private enum Outcome {
    case done
    case streamEnded(leftover: Int)
    case tooLarge
    case needDictFailed
    case corrupt(String)
  }

  /// Inflates all of `compressed` (the header-block bytes of exactly one frame) and returns the
  /// decompressed bytes. Every input byte is consumed; the caller checks that the output is
  /// exactly one name/value block. `frameType` only labels errors.
  public func decompress(_ compressed: ArraySlice<UInt8>, frameType: SPDYFrameType) throws(SPDYError) -> [UInt8] {
    guard !broken else { throw .compressionContextUnusable }
    // The peer finished its zlib stream earlier (Z_STREAM_END). spdystream's reader returns EOF
    // for the next block, which is fatal; so is this.
    guard !ended else { throw .compressedHeaderBlockSizeMismatch(frameType) }
    if !initialized {
      let rc = czlib_inflateInit(stream)
      guard rc == Z_OK else {
        broken = true
        throw .zlib(operation: "inflateInit", code: rc)
      }
      initialized = true
    }
    let limit = maxBlockSize + 1  // one byte over the limit proves the block is too large
    var output = [UInt8](repeating: 0, count: min(limit, max(256, compressed.count * 4)))
    var produced = 0
    let outcome: Outcome = compressed.withUnsafeBufferPointer { input in
      stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
      stream.pointee.avail_in = uInt(input.count)
      defer {
        stream.pointee.next_in = nil
        stream.pointee.next_out = nil
      }
      // Each pass either consumes input, produces output or ends; the cap is a belt-and-braces
      // bound so no input can make this loop forever.
      for _ in 0..<10_000 {
        if produced == output.count {
          if output.count >= limit { return .tooLarge }
          output.append(contentsOf: repeatElement(0, count: min(limit, output.count * 2) - output.count))
        }
        var rc: Int32 = Z_OK
        var availOut: uInt = 0
        output.withUnsafeMutableBufferPointer { out in
          stream.pointee.next_out = out.baseAddress! + produced
          stream.pointee.avail_out = uInt(out.count - produced)
          rc = inflate(stream, Z_SYNC_FLUSH)
          availOut = stream.pointee.avail_out
        }
        produced = output.count - Int(availOut)
        let availIn = Int(stream.pointee.avail_in)
        switch rc {
        case Z_OK, Z_BUF_ERROR:
          // All input consumed and zlib stopped with room left: everything is out.
          if availIn == 0 && availOut > 0 { return .done }
          if rc == Z_BUF_ERROR && availOut > 0 { return .corrupt("no progress possible") }
        case Z_NEED_DICT:
          let dictRC = SPDY3Dictionary.bytes.withUnsafeBufferPointer { dict in
            inflateSetDictionary(stream, dict.baseAddress, uInt(dict.count))
          }
          // Z_DATA_ERROR here means the stream's dict-id is not the SPDY/3 dictionary.
          if dictRC != Z_OK { return .needDictFailed }
        case Z_STREAM_END:
          return .streamEnded(leftover: availIn)
        default:
          let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(rc)"
          return .corrupt(message)
        }
      }
      return .corrupt("inflate made no progress")
    }
    switch outcome {
    case .done:
      output.removeLast(output.count - produced)
      return output
    case .streamEnded(let leftover):
      ended = true
      guard leftover == 0 else { throw .compressedHeaderBlockSizeMismatch(frameType) }
      output.removeLast(output.count - produced)
      return output
    case .tooLarge:
      broken = true
      throw .headerBlockTooLarge(limit: maxBlockSize)
    case .needDictFailed:
      broken = true
      throw .headerBlockCorrupt("the zlib stream does not use the SPDY/3 dictionary")
    case .corrupt(let message):
      broken = true
      throw .headerBlockCorrupt(message)
    }
  }
}

@available(*, unavailable, message: "a zlib context belongs to one session; see the comment above")
extension HeaderDecompressor: Sendable {}
