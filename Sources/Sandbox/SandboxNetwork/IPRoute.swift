import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The network is built with iproute2's `ip` rather than hand-written rtnetlink messages: `ip` is
/// the reference implementation of every operation used here (named netns files under /run/netns,
/// veth peers created directly in another namespace, bridge ports, blackhole routes), `ip netns
/// exec` also bind-mounts /etc/netns/<name>/resolv.conf and hosts for the programs it starts, and
/// a failure comes back as the same message an operator would see typing the command. A few dozen
/// short-lived processes per sandbox start cost far less than a netlink codec to maintain.
struct IPRoute: Sendable {
  let path: String

  /// `ip <arguments>`, throwing the command and its message on failure.
  @discardableResult
  func run(_ arguments: [String]) throws(NetworkError) -> String {
    try ProgramRunner.check([path] + arguments)
  }

  /// `ip -n <namespace> <arguments>`.
  @discardableResult
  func run(in namespace: String, _ arguments: [String]) throws(NetworkError) -> String {
    try run(["-n", namespace] + arguments)
  }

  /// Named network namespaces (`ip netns list`), names only.
  func namespaces() -> [String] {
    guard let output = try? ProgramRunner.run([path, "netns", "list"]), output.status == 0 else { return [] }
    return output.text.split(separator: "\n").compactMap { line in line.split(separator: " ").first.map(String.init) }
  }

  /// The processes inside a named namespace (`ip netns pids`).
  func pids(in namespace: String) -> [pid_t] {
    guard let output = try? ProgramRunner.run([path, "netns", "pids", namespace]), output.status == 0 else { return [] }
    return output.text.split(whereSeparator: \.isWhitespace).compactMap { pid_t($0) }
  }

  /// Deletes a named namespace; gone already is fine. Its links go with it (a veth's peer too).
  func deleteNamespace(_ namespace: String) throws(NetworkError) {
    guard namespaces().contains(namespace) else { return }
    try run(["netns", "delete", namespace])
  }

  /// Deletes a link in a namespace; gone already (or the namespace gone) is fine.
  func deleteLink(_ name: String, in namespace: String) throws(NetworkError) {
    guard let shown = try? ProgramRunner.run([path, "-n", namespace, "link", "show", name]), shown.status == 0 else { return }
    try run(in: namespace, ["link", "delete", name])
  }

  /// Starts `arguments` inside `namespace` (`ip netns exec`, which execs the program: the pid
  /// returned is the program's own).
  func startDaemon(in namespace: String, _ arguments: [String], logPath: String) throws(NetworkError) -> pid_t {
    try ProgramRunner.startDaemon([path, "netns", "exec", namespace] + arguments, logPath: logPath)
  }

  /// Runs `arguments` to completion inside `namespace`.
  func execute(in namespace: String, _ arguments: [String]) throws(NetworkError) {
    try ProgramRunner.check([path, "netns", "exec", namespace] + arguments)
  }
}
