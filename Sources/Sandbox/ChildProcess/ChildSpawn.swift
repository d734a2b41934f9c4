import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// One posix_spawn with what every child of this project needs: stdin from /dev/null (or a file), an empty
/// signal mask and default signal dispositions. The spawning thread may block or ignore signals
/// (Dispatch and Swift concurrency workers do), and a child inheriting that would never see the
/// SIGTERM meant to stop it.
///
/// Written by hand because swift-subprocess and Foundation's `Process` offer neither a new session
/// nor a new process group, nor `closefrom` in the child.
public struct ChildSpawn {
  /// Where the child's stdout or stderr goes.
  public enum Output {
    /// Appended to this file (created with mode 0600 if missing).
    case file(String)
    /// This descriptor of ours (duplicated; we keep ours).
    case descriptor(Int32)
    /// stderr only: wherever stdout goes.
    case sameAsStdout
  }

  public enum Grouping {
    case inherit
    /// Its own process group, so a signal to the group reaches what it forks.
    case newProcessGroup
    /// A new session (`setsid`): a daemon that outlives us and our terminal.
    case newSession
  }

  /// The program's path; also its argv[0].
  public var executable: String
  /// argv after argv[0].
  public var arguments: [String]
  /// `KEY=value` entries; nil passes ours on.
  public var environment: [String]?
  /// A file the child reads as stdin; nil: /dev/null.
  public var stdin: String?
  public var stdout: Output
  public var stderr: Output = .sameAsStdout
  public var grouping: Grouping = .inherit
  /// Closes every descriptor above 2 in the child, whatever its close-on-exec flag.
  public var closeOtherDescriptors = false
  public var workingDirectory: String?

  public init(executable: String, arguments: [String], environment: [String]?, stdout: Output) {
    self.executable = executable
    self.arguments = arguments
    self.environment = environment
    self.stdout = stdout
  }

  /// Starts the child; the caller reaps it.
  public func start() throws(ChildSpawnError) -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, stdin ?? "/dev/null", O_RDONLY, 0)
    Self.redirect(&actions, 1, stdout)
    Self.redirect(&actions, 2, stderr)
    if closeOtherDescriptors { GlibcExtensions.addCloseFrom(&actions, 3) }
    if let workingDirectory { GlibcExtensions.addChdir(&actions, workingDirectory) }

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigdefault(&attributes, &all)
    var flags = Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
    switch grouping {
    case .inherit: break
    case .newProcessGroup:
      posix_spawnattr_setpgroup(&attributes, 0)
      flags |= Int16(POSIX_SPAWN_SETPGROUP)
    case .newSession:
      flags |= GlibcExtensions.spawnSetSID
    }
    posix_spawnattr_setflags(&attributes, flags)

    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let entries = environment ?? ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
    let envp: [UnsafeMutablePointer<CChar>?] = entries.map { strdup($0) } + [nil]
    defer { envp.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
    guard rc == 0 else { throw ChildSpawnError(executable: executable, code: rc) }
    return pid
  }

  /// A pipe whose both ends are close-on-exec from the start (pipe2), so that no concurrent spawn
  /// in this process can inherit it.
  public static func pipe() throws(ChildSpawnError) -> (read: Int32, write: Int32) {
    var fds: [Int32] = [-1, -1]
    guard GlibcExtensions.pipe2(&fds, O_CLOEXEC) == 0 else { throw ChildSpawnError(executable: "pipe2", code: errno) }
    return (fds[0], fds[1])
  }

  private static func redirect(_ actions: inout posix_spawn_file_actions_t, _ target: Int32, _ output: Output) {
    switch output {
    case .file(let path): posix_spawn_file_actions_addopen(&actions, target, path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    case .descriptor(let fd): posix_spawn_file_actions_adddup2(&actions, fd, target)
    case .sameAsStdout: posix_spawn_file_actions_adddup2(&actions, 1, target)
    }
  }
}

/// posix_spawn (or pipe2) failed with `code` (an errno value).
public struct ChildSpawnError: Error, CustomStringConvertible {
  public var executable: String
  public var code: Int32
  public var reason: String { String(cString: strerror(code)) }
  public var description: String { "cannot start \(executable): \(reason)" }
}

/// glibc calls that Swift does not import because glibc declares them only under `__USE_GNU`
/// (`pipe2`, `posix_spawn_file_actions_addclosefrom_np`, `posix_spawn_file_actions_addchdir_np`,
/// `POSIX_SPAWN_SETSID`), looked up by name at run time; all exist in glibc ≥ 2.34.
enum GlibcExtensions {
  /// glibc's `POSIX_SPAWN_SETSID`.
  static let spawnSetSID: Int16 = 0x80

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
