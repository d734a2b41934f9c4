#if canImport(Glibc)
  import Glibc
#endif

/// Spawns one container process: its own process group (so a signal to the group reaches what it
/// forks), an empty signal mask and default dispositions (the agent's threads block or ignore some),
/// stdin from /dev/null, stdout and stderr into two new pipes, nothing else inherited.
struct ProcessSpawner {
  struct Spawned {
    var pid: pid_t
    /// Read ends, close-on-exec, owned by the caller.
    var stdout: Int32
    var stderr: Int32
  }

  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  static func spawn(
    executable: String, arguments: [String], environment: [String], workingDirectory: String? = nil
  ) throws(Failure) -> Spawned {
    let out = try pipe()
    let err: (read: Int32, write: Int32)
    do { err = try pipe() } catch {
      close(out.read)
      close(out.write)
      throw error
    }
    defer {
      close(out.write)
      close(err.write)
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, out.write, 1)
    posix_spawn_file_actions_adddup2(&actions, err.write, 2)
    // Without closefrom a container would hold whatever the agent has open (API sockets, other
    // containers' pipes from a concurrent spawn), and a pipe held elsewhere never reports EOF.
    GNUSpawn.addCloseFrom(&actions, 3)
    if let workingDirectory { GNUSpawn.addChdir(&actions, workingDirectory) }

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setpgroup(&attributes, 0)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
    defer { envp.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
    guard rc == 0 else {
      close(out.read)
      close(err.read)
      throw Failure(description: "cannot start \(executable): \(String(cString: strerror(rc)))")
    }
    return Spawned(pid: pid, stdout: out.read, stderr: err.read)
  }

  /// A pipe whose both ends are close-on-exec from the start (pipe2), so that no other spawn in this
  /// process can inherit it.
  private static func pipe() throws(Failure) -> (read: Int32, write: Int32) {
    var fds: [Int32] = [-1, -1]
    guard GNUSpawn.pipe2(&fds, O_CLOEXEC) == 0 else {
      throw Failure(description: "cannot create a pipe: \(String(cString: strerror(errno)))")
    }
    return (fds[0], fds[1])
  }
}

/// glibc calls that Swift does not import because glibc declares them only under `__USE_GNU`
/// (`pipe2`, `posix_spawn_file_actions_addclosefrom_np`, `posix_spawn_file_actions_addchdir_np`), looked
/// up by name at run time; all exist in glibc ≥ 2.34.
private enum GNUSpawn {
  private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
  private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
  private typealias Chdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

  private static func symbol<T>(_ name: String, as type: T.Type) -> T {
    guard let pointer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else {
      fatalError("glibc has no \(name) (glibc ≥ 2.34 is required)")
    }
    return unsafeBitCast(pointer, to: type)
  }

  static func pipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32 {
    symbol("pipe2", as: Pipe2.self)(fds, flags)
  }

  static func addCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) {
    _ = symbol("posix_spawn_file_actions_addclosefrom_np", as: CloseFrom.self)(actions, from)
  }

  static func addChdir(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: String) {
    _ = path.withCString { symbol("posix_spawn_file_actions_addchdir_np", as: Chdir.self)(actions, $0) }
  }
}
