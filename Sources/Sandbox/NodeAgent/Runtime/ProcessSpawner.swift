import ChildProcess

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
    var spawn = ChildSpawn(executable: executable, arguments: arguments, environment: environment, stdout: .descriptor(out.write))
    spawn.stderr = .descriptor(err.write)
    spawn.grouping = .newProcessGroup
    // Without closefrom a container would hold whatever the agent has open (API sockets, other
    // containers' pipes from a concurrent spawn), and a pipe held elsewhere never reports EOF.
    spawn.closeOtherDescriptors = true
    spawn.workingDirectory = workingDirectory
    let pid: pid_t
    do { pid = try spawn.start() } catch {
      close(out.read)
      close(err.read)
      throw Failure(description: "cannot start \(executable): \(error.reason)")
    }
    return Spawned(pid: pid, stdout: out.read, stderr: err.read)
  }

  private static func pipe() throws(Failure) -> (read: Int32, write: Int32) {
    do { return try ChildSpawn.pipe() } catch {
      throw Failure(description: "cannot create a pipe: \(error.reason)")
    }
  }
}
