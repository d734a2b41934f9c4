#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Starts POSIX threads for blocking socket work. Plain pthreads rather than Foundation's Thread so
/// that the relay binary links no Foundation (a much smaller static binary in the image).
enum Threads {
  private final class Body {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
  }

  /// 1 MiB is plenty for the relay loops (buffers are on the heap) and getaddrinfo's NSS modules,
  /// and keeps the address space of many connections modest.
  private static let stackSize = 1 << 20

  /// Starts a thread. A detached thread cleans up by itself; otherwise call `join` exactly once.
  static func start(detached: Bool, _ body: @escaping @Sendable () -> Void) throws(SocketError) -> pthread_t {
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setstacksize(&attributes, stackSize)
    if detached { pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED)) }
    let box = Unmanaged.passRetained(Body(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, &attributes, { argument in
      let body = Unmanaged<Body>.fromOpaque(argument!).takeRetainedValue()
      body.run()
      return nil
    }, box)
    guard rc == 0 else {
      Unmanaged<Body>.fromOpaque(box).release()
      throw .system(operation: "pthread_create", errno: rc)
    }
    return thread
  }

  static func join(_ thread: pthread_t) {
    _ = pthread_join(thread, nil)
  }
}
