/// Bytes received but not decoded yet, kept as the caller's own chunks.
///
/// Appending never copies: the queue keeps a reference to the chunk's storage (an `ArraySlice`
/// shares its array's buffer). Reading `n` bytes that lie inside one chunk returns a slice of
/// that chunk, again without copying; only a frame that straddles chunk boundaries is gathered
/// into a fresh array (each of its bytes copied once). This is why both decoders can hand out
/// DATA / binary payloads with at most one copy, and usually none.
///
/// Cost of the zero-copy design: a returned slice keeps its whole source chunk alive. A consumer
/// that parks payloads for a long time should copy them (`Array(slice)`).
struct ChunkQueue {
  private var chunks: [ArraySlice<UInt8>] = []
  private var head = 0
  /// Readable bytes in the queue.
  private(set) var count = 0

  mutating func append(_ bytes: ArraySlice<UInt8>) {
    guard !bytes.isEmpty else { return }
    chunks.append(bytes)
    count += bytes.count
  }

  /// The byte `offset` bytes past the read position. Precondition: `offset < count`.
  func peek(_ offset: Int) -> UInt8 {
    var remaining = offset
    var index = head
    while true {
      let chunk = chunks[index]
      if remaining < chunk.count { return chunk[chunk.startIndex + remaining] }
      remaining -= chunk.count
      index += 1
    }
  }

  /// Big-endian UInt32 at `offset` past the read position. Precondition: `offset + 4 <= count`.
  func peekUInt32(_ offset: Int) -> UInt32 {
    let first = chunks[head]
    if offset + 4 <= first.count {
      let i = first.startIndex + offset
      return UInt32(first[i]) << 24 | UInt32(first[i + 1]) << 16 | UInt32(first[i + 2]) << 8
        | UInt32(first[i + 3])
    }
    return UInt32(peek(offset)) << 24 | UInt32(peek(offset + 1)) << 16
      | UInt32(peek(offset + 2)) << 8 | UInt32(peek(offset + 3))
  }

  /// Removes and returns the next `n` bytes. Precondition: `n <= count`.
  /// The result shares storage with the source chunk when the bytes lie in one chunk.
  mutating func read(_ n: Int) -> ArraySlice<UInt8> {
    precondition(n <= count, "ChunkQueue.read past the end")
    if n == 0 { return [] }
    let first = chunks[head]
    if first.count >= n {
      let out = first.prefix(n)
      consumeHead(first, n)
      count -= n
      compact()
      return out
    }
    var gathered = [UInt8]()
    gathered.reserveCapacity(n)
    var need = n
    while need > 0 {
      let chunk = chunks[head]
      let take = min(need, chunk.count)
      gathered.append(contentsOf: chunk.prefix(take))
      consumeHead(chunk, take)
      need -= take
    }
    count -= n
    compact()
    return gathered[...]
  }

  /// Removes and returns up to `n` bytes from the first chunk only, never copying: a consumer that can
  /// take a payload in pieces (streamed DATA, WebSocket fragments) gets it without any gathering.
  /// Empty when the queue is.
  mutating func readContiguous(upTo n: Int) -> ArraySlice<UInt8> {
    guard n > 0, count > 0 else { return [] }
    let first = chunks[head]
    let take = min(n, first.count)
    let out = first.prefix(take)
    consumeHead(first, take)
    count -= take
    compact()
    return out
  }

  /// Drops the next `n` bytes. Precondition: `n <= count`.
  mutating func skip(_ n: Int) {
    precondition(n <= count, "ChunkQueue.skip past the end")
    var need = n
    while need > 0 {
      let chunk = chunks[head]
      let take = min(need, chunk.count)
      consumeHead(chunk, take)
      need -= take
    }
    count -= n
    compact()
  }

  private mutating func consumeHead(_ chunk: ArraySlice<UInt8>, _ n: Int) {
    if n == chunk.count {
      chunks[head] = []
      head += 1
    } else {
      chunks[head] = chunk.dropFirst(n)
    }
  }

  private mutating func compact() {
    if head == chunks.count {
      chunks.removeAll(keepingCapacity: true)
      head = 0
    } else if head >= 64 && head * 2 >= chunks.count {
      chunks.removeFirst(head)
      head = 0
    }
  }
}
