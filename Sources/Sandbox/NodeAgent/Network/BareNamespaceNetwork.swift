import Foundation
import PodNetwork
import Synchronization

/// A pod network with nothing but loopback: each pod gets a network namespace `kft-<id>-p<n>` with `lo`
/// up and a resolv.conf (`nameserver 127.0.0.1`, no search path) that `ip netns exec` shows as
/// /etc/resolv.conf; the pod IP is 127.0.0.1. For development and for pointing the node agent at a real
/// API server; the sandbox plugs in its cluster network instead.
public final class BareNamespaceNetwork: PodNetworkProvider {
  /// Namespaces are named `kft-<id>-p<n>`; `id` tells this agent's namespaces from others'.
  public let id: String
  private let state = Mutex<State>(State())

  private struct State {
    var next = 1
    var byUID: [String: String] = [:]
  }

  public init(id: String) { self.id = id }

  /// A short id derived from a node name (FNV-1a), so that one node's namespaces are recognisable after
  /// a crash and stay well below the length limits of `ip` tooling.
  public static func id(forNode nodeName: String) -> String {
    var hash: UInt32 = 2_166_136_261
    for byte in nodeName.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
    return String(hash % 0xFFFF, radix: 16)
  }

  public var prefix: String { "kft-\(id)-p" }

  public func attachPod(uid: String, namespace: String, name: String) throws -> PodNetworkAttachment {
    let netns: String = state.withLock { state in
      if let existing = state.byUID[uid] { return existing }
      let netns = "\(prefix)\(state.next)"
      state.next += 1
      state.byUID[uid] = netns
      return netns
    }
    do {
      _ = try? HostCommand.run(ContainerLaunch.ip, ["netns", "del", netns])  // left over by a crashed run
      try HostCommand.run(ContainerLaunch.ip, ["netns", "add", netns])
      try HostCommand.run(ContainerLaunch.ip, ["-n", netns, "link", "set", "lo", "up"])
      let etc = "/etc/netns/\(netns)"
      try FileManager.default.createDirectory(atPath: etc, withIntermediateDirectories: true)
      try Data("nameserver 127.0.0.1\n".utf8).write(to: URL(fileURLWithPath: etc + "/resolv.conf"))
    } catch {
      detachPod(uid: uid)
      throw error
    }
    return PodNetworkAttachment(netnsName: netns, netnsPath: "/run/netns/\(netns)", ipv4: "127.0.0.1")
  }

  public func detachPod(uid: String) {
    guard let netns = state.withLock({ $0.byUID.removeValue(forKey: uid) }) else { return }
    Self.remove(netns)
  }

  /// Removes every namespace of this id and kills what still runs in them (after a crash of the agent:
  /// nothing in this process knows their uids, and a namespace outlives its name while processes use it).
  public func removeLeftovers() {
    for netns in Self.namespaces() where netns.hasPrefix(prefix) {
      let pids = (try? HostCommand.run(ContainerLaunch.ip, ["netns", "pids", netns])) ?? ""
      for pid in pids.split(separator: "\n").compactMap({ Int32(String($0)) }) { kill(pid, SIGKILL) }
      Self.remove(netns)
    }
  }

  /// The names `ip netns list` shows.
  public static func namespaces() -> [String] {
    let output = (try? HostCommand.run(ContainerLaunch.ip, ["netns", "list"])) ?? ""
    return output.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
  }

  private static func remove(_ netns: String) {
    _ = try? HostCommand.run(ContainerLaunch.ip, ["netns", "del", netns])
    try? FileManager.default.removeItem(atPath: "/etc/netns/\(netns)")
  }
}
