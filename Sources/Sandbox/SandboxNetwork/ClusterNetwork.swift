import Foundation
import PodNetwork
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The sandbox cluster's network, built from Linux network namespaces and nothing in the host's:
///
/// - `kft-<id>-node`: the node. A bridge `br0` (10.244.0.1/24) for the pods, a veth to the services
///   namespace (10.96.0.0/24) and one to the external namespace (203.0.113.0/24); forwarding on
///   here only; `firewalled`'s address is a blackhole route here (this kernel has no dummy driver,
///   and no iptables/nft exist: a blackhole route drops forwarded packets without an ICMP reply, so
///   a SYN simply vanishes).
/// - `kft-<id>-svc`: every Service address, the seeded services, and the cluster DNS (dnsmasq at
///   10.96.0.10, seeded names only, never forwarding).
/// - `kft-<id>-ext`: database.region.rds.amazonaws.com, "outside" the cluster, reachable only
///   through the node.
/// - `kft-<id>-p<n>`: one per pod, a veth into the bridge, default route via the bridge.
///
/// Every link is created inside these namespaces (a veth's peer directly in its target namespace),
/// so the host namespace gets no link, no address and no route of the cluster: the host cannot
/// reach a pod or a service, and its resolver knows no cluster name.
public final class ClusterNetwork: Sendable {
  public let id: String
  public let directory: URL
  public let tools: NetworkTools
  /// Configuration, logs (dnsmasq's query log among them) and the state file of this network.
  public let stateDirectory: URL
  public let nodeNamespace: String
  public let servicesNamespace: String
  public let externalNamespace: String
  /// The seeded names, their addresses and what serves them.
  public let services: [SeededService]
  private let ip: IPRoute
  private let state: Mutex<NetworkState>

  /// The file dnsmasq logs every query and its answer to.
  public var dnsLogPath: String { stateDirectory.appendingPathComponent("dnsmasq.log").path }

  /// Builds the network with the standard tools; see `create(directory:id:tools:)`.
  public static func create(directory: URL, id: String) throws(NetworkError) -> ClusterNetwork {
    try create(directory: directory, id: id, tools: .standard)
  }

  /// What `create` needs from the machine (Linux, root, the programs of `tools`), checked without
  /// changing anything, so a caller can refuse early with the same message.
  public static func checkRequirements(tools: NetworkTools) throws(NetworkError) {
    #if !os(Linux)
      throw .unsupportedPlatform
    #else
      guard geteuid() == 0 else { throw .needsRoot }
      try tools.verify()
    #endif
  }

  /// Builds the network and starts the DNS server and the seeded services, after removing whatever
  /// an earlier run with the same `id` left behind. `id` (1–12 lowercase letters or digits, e.g. a
  /// short hash of the sandbox directory) names everything: namespaces `kft-<id>-*`, the state
  /// directory `<directory>/network-<id>`. On failure everything made so far is removed again.
  public static func create(directory: URL, id: String, tools: NetworkTools) throws(NetworkError) -> ClusterNetwork {
    #if !os(Linux)
      throw .unsupportedPlatform
    #else
      try checkRequirements(tools: tools)
      try validate(id: id)
      try removeLeftovers(directory: directory, id: id, ipPath: tools.ip)
      let network = ClusterNetwork(directory: directory, id: id, tools: tools)
      do throws(NetworkError) {
        try network.build()
      } catch {
        try? network.destroy()
        throw error
      }
      return network
    #endif
  }

  private init(directory: URL, id: String, tools: NetworkTools) {
    self.id = id
    self.directory = directory
    self.tools = tools
    stateDirectory = Self.stateDirectory(directory: directory, id: id)
    nodeNamespace = "kft-\(id)-node"
    servicesNamespace = "kft-\(id)-svc"
    externalNamespace = "kft-\(id)-ext"
    services = ClusterAddressing.seededServices
    ip = IPRoute(path: tools.ip)
    state = Mutex(NetworkState(id: id))
  }

  /// A valid id derived from a sandbox directory (FNV-1a of its path, base 36, 12 characters):
  /// the same directory always gives the same id, so `down` finds what a crashed `up` left.
  public static func identifier(for directory: URL) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in directory.standardizedFileURL.path.utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x100_0000_01b3
    }
    let text = String(hash, radix: 36)
    return String(repeating: "0", count: max(0, 12 - text.count)) + text.prefix(12)
  }

  static func stateDirectory(directory: URL, id: String) -> URL {
    directory.appendingPathComponent("network-\(id)")
  }

  static func validate(id: String) throws(NetworkError) {
    let allowed = id.utf8.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    guard (1...12).contains(id.utf8.count), allowed else { throw .invalidID(id) }
  }

  private func build() throws(NetworkError) {
    do {
      try FileManager.default.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
    } catch {
      throw .file(path: stateDirectory.path, reason: "\(error)")
    }
    let namespaces = [nodeNamespace, servicesNamespace, externalNamespace]
    // Recorded before anything exists, so a crash half-way is still cleaned up.
    try updateState { $0.namespaces = namespaces }
    for namespace in namespaces {
      try ip.run(["netns", "add", namespace])
      try ip.run(in: namespace, ["link", "set", "lo", "up"])
    }
    try buildNode()
    try buildServices()
    try buildExternal()
    try startDNS()
    try startServices()
  }

  private func buildNode() throws(NetworkError) {
    let node = nodeNamespace
    // A fixed (locally administered) MAC: a bridge without one borrows the lowest MAC of its ports,
    // so a pod's veth joining or leaving would change the gateway's MAC under every other pod's ARP
    // entry, and their traffic would stall for seconds until ARP noticed (seen as connections
    // through a relay pod hanging while another pod started or stopped).
    try ip.run(in: node, ["link", "add", "br0", "address", ClusterAddressing.podGatewayMAC, "type", "bridge"])
    try ip.run(in: node, ["addr", "add", "\(ClusterAddressing.podGateway)/24", "dev", "br0"])
    try ip.run(in: node, ["link", "set", "br0", "up"])
    // Forwarding between pods, services and the external network, in the node namespace only
    // (a new namespace starts with its own ip_forward; the host's is never touched).
    try ip.execute(in: node, [tools.busybox, "sysctl", "-w", "net.ipv4.ip_forward=1"])
    for service in services where service.behavior == .firewalled {
      try ip.run(in: node, ["route", "add", "blackhole", "\(service.ipv4)/32"])
    }
  }

  private func buildServices() throws(NetworkError) {
    let svc = servicesNamespace
    try ip.run(in: nodeNamespace, ["link", "add", "svc0", "type", "veth", "peer", "name", "eth0", "netns", svc])
    try ip.run(in: nodeNamespace, ["addr", "add", "\(ClusterAddressing.serviceGateway)/24", "dev", "svc0"])
    try ip.run(in: nodeNamespace, ["link", "set", "svc0", "up"])
    var addresses = [ClusterAddressing.dnsServer]
    addresses += services.filter { $0.placement == .services && $0.behavior != .firewalled }.map(\.ipv4)
    for address in addresses {
      try ip.run(in: svc, ["addr", "add", "\(address)/24", "dev", "eth0"])
    }
    try ip.run(in: svc, ["link", "set", "eth0", "up"])
    try ip.run(in: svc, ["route", "add", "default", "via", ClusterAddressing.serviceGateway])
  }

  private func buildExternal() throws(NetworkError) {
    let ext = externalNamespace
    try ip.run(in: nodeNamespace, ["link", "add", "ext0", "type", "veth", "peer", "name", "eth0", "netns", ext])
    try ip.run(in: nodeNamespace, ["addr", "add", "\(ClusterAddressing.externalGateway)/24", "dev", "ext0"])
    try ip.run(in: nodeNamespace, ["link", "set", "ext0", "up"])
    for service in services where service.placement == .external {
      try ip.run(in: ext, ["addr", "add", "\(service.ipv4)/24", "dev", "eth0"])
    }
    try ip.run(in: ext, ["link", "set", "eth0", "up"])
    try ip.run(in: ext, ["route", "add", "default", "via", ClusterAddressing.externalGateway])
  }

  private func startDNS() throws(NetworkError) {
    let configuration = stateDirectory.appendingPathComponent("dnsmasq.conf")
    let text = ClusterDNS.dnsmasqConfiguration(services: services, logPath: dnsLogPath)
    do {
      try text.write(to: configuration, atomically: true, encoding: .utf8)
    } catch {
      throw .file(path: configuration.path, reason: "\(error)")
    }
    try startDaemon(
      name: "dnsmasq", in: servicesNamespace, [tools.dnsmasq, "--conf-file=\(configuration.path)"],
      ready: (.udp, ClusterAddressing.dnsServer, 53))
  }

  private func startServices() throws(NetworkError) {
    for service in services {
      let namespace = service.placement == .services ? servicesNamespace : externalNamespace
      let port = String(service.port)
      let name = String(service.hostname.prefix { $0 != "." })
      switch service.behavior {
      case .tcpEcho:
        try startDaemon(
          name: name, in: namespace, [tools.testServer, "echo", "--port", port, "--bind", service.ipv4],
          ready: (.tcp, service.ipv4, service.port))
      case let .http(greeting):
        try startDaemon(
          name: name, in: namespace, [tools.testServer, "http", "--port", port, "--name", greeting, "--bind", service.ipv4],
          ready: (.tcp, service.ipv4, service.port))
      case .tcpReset:
        try startDaemon(
          name: name, in: namespace, [tools.testServer, "reset", "--port", port, "--bind", service.ipv4],
          ready: (.tcp, service.ipv4, service.port))
      case .udpEcho:
        try startDaemon(
          name: name, in: namespace, [tools.testServer, "udp-echo", "--port", port, "--bind", service.ipv4],
          ready: (.udp, service.ipv4, service.port))
      case .iperf3:
        try startDaemon(
          name: name, in: namespace, [tools.iperf3, "--server", "--port", port, "--bind", service.ipv4],
          ready: (.tcp, service.ipv4, service.port))
      case .closed, .firewalled:
        break
      }
    }
  }

  private func startDaemon(
    name: String, in namespace: String, _ arguments: [String],
    ready: (ListeningSockets.Transport, String, UInt16)
  ) throws(NetworkError) {
    let logPath = stateDirectory.appendingPathComponent("\(name).log").path
    let pid = try ip.startDaemon(in: namespace, arguments, logPath: logPath)
    try updateState { $0.daemons.append(.init(name: name, pid: pid)) }
    guard ListeningSockets.waitUntilListening(pid: pid, transport: ready.0, ipv4: ready.1, port: ready.2) else {
      let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
      throw .serviceDidNotStart(name: "\(name) (\(ready.1):\(ready.2))", log: String(log.suffix(2000)))
    }
  }

  private func updateState(_ change: (inout NetworkState) -> Void) throws(NetworkError) {
    let snapshot = state.withLock { state in
      change(&state)
      return state
    }
    try snapshot.save(stateDirectory: stateDirectory)
  }
}

// MARK: - Pods

extension ClusterNetwork {
  /// Gives a pod its network: a namespace `kft-<id>-p<n>`, a veth into the node's bridge, the next
  /// free address, loopback up, a default route via the bridge, and its resolv.conf (cluster DNS,
  /// search path of `namespace`) and hosts file under /etc/netns/<netnsName>/. Attaching a uid
  /// that is attached already returns its attachment.
  public func attachPod(uid: String, namespace: String, name: String) throws(NetworkError) -> PodNetworkAttachment {
    // One attach or detach at a time: the address pool and the pod index are allocated under the
    // lock, and the few `ip` calls of an attach take milliseconds.
    try state.withLock { (state: inout NetworkState) throws(NetworkError) -> PodNetworkAttachment in
      guard !state.destroyed else { throw .destroyed }
      if let pod = state.pods.first(where: { $0.uid == uid }) { return attachment(pod) }
      let used = Set(state.pods.map(\.ipv4))
      guard let host = ClusterAddressing.podHosts.first(where: { !used.contains(ClusterAddressing.podPrefix + String($0)) }) else {
        throw .addressPoolExhausted(cidr: ClusterAddressing.podCIDR)
      }
      let pod = NetworkState.Pod(
        uid: uid, index: state.nextPodIndex, netnsName: "kft-\(id)-p\(state.nextPodIndex)",
        ipv4: ClusterAddressing.podPrefix + String(host))
      state.nextPodIndex += 1
      state.pods.append(pod)
      try state.save(stateDirectory: stateDirectory)
      do throws(NetworkError) {
        try plumb(pod, namespace: namespace, name: name)
      } catch {
        try? unplumb(pod)
        state.pods.removeAll { $0.uid == uid }
        try? state.save(stateDirectory: stateDirectory)
        throw error
      }
      return attachment(pod)
    }
  }

  /// Takes a pod's network away: ends every process still in its namespace, deletes the namespace
  /// (and with it the veth), its /etc/netns directory, and frees its address. Unknown or already
  /// detached uids are fine.
  public func detachPod(uid: String) throws(NetworkError) {
    try state.withLock { (state: inout NetworkState) throws(NetworkError) in
      guard let pod = state.pods.first(where: { $0.uid == uid }) else { return }
      try unplumb(pod)
      state.pods.removeAll { $0.uid == uid }
      try state.save(stateDirectory: stateDirectory)
    }
  }

  /// The pods attached now, by uid.
  public var attachedPods: [String: PodNetworkAttachment] {
    state.withLock { state in Dictionary(uniqueKeysWithValues: state.pods.map { ($0.uid, attachment($0)) }) }
  }

  private func attachment(_ pod: NetworkState.Pod) -> PodNetworkAttachment {
    PodNetworkAttachment(netnsName: pod.netnsName, netnsPath: "/run/netns/\(pod.netnsName)", ipv4: pod.ipv4)
  }

  private func plumb(_ pod: NetworkState.Pod, namespace: String, name: String) throws(NetworkError) {
    let netns = pod.netnsName
    let bridgePort = "vp\(pod.index)"
    try ip.run(["netns", "add", netns])
    try ip.run(in: nodeNamespace, ["link", "add", bridgePort, "type", "veth", "peer", "name", "eth0", "netns", netns])
    try ip.run(in: nodeNamespace, ["link", "set", bridgePort, "master", "br0", "up"])
    try ip.run(in: netns, ["link", "set", "lo", "up"])
    try ip.run(in: netns, ["addr", "add", "\(pod.ipv4)/24", "dev", "eth0"])
    try ip.run(in: netns, ["link", "set", "eth0", "up"])
    try ip.run(in: netns, ["route", "add", "default", "via", ClusterAddressing.podGateway])
    let files = Self.etcDirectory(netns)
    // A few attempts: another network's detach may remove an empty /etc/netns between the
    // creation of /etc/netns and of our directory in it.
    var attempt = 0
    while true {
      do {
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
        try ClusterDNS.resolvConf(namespace: namespace).write(to: files.appendingPathComponent("resolv.conf"), atomically: true, encoding: .utf8)
        try ClusterDNS.hosts(ipv4: pod.ipv4, podName: name).write(to: files.appendingPathComponent("hosts"), atomically: true, encoding: .utf8)
        return
      } catch {
        attempt += 1
        guard attempt < 3 else { throw .file(path: files.path, reason: "\(error)") }
      }
    }
  }

  private func unplumb(_ pod: NetworkState.Pod) throws(NetworkError) {
    ProcessTerminator.terminateAll(in: [pod.netnsName], ip: ip)
    // The veth explicitly, which deletes both ends at once: the kernel dismantles a deleted
    // namespace (and the links in it) asynchronously, so the bridge port would outlive the detach.
    try ip.deleteLink("vp\(pod.index)", in: nodeNamespace)
    try ip.deleteNamespace(pod.netnsName)
    try Self.removeEtcDirectory(pod.netnsName)
  }

  static func etcDirectory(_ netns: String) -> URL { URL(fileURLWithPath: "/etc/netns").appendingPathComponent(netns) }

  static func removeEtcDirectory(_ netns: String) throws(NetworkError) {
    let url = etcDirectory(netns)
    do {
      if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
    } catch {
      throw .file(path: url.path, reason: "\(error)")
    }
    // `ip netns exec` does not need /etc/netns; leave no empty directory behind (rmdir fails,
    // harmlessly, while any other namespace still has files there).
    rmdir("/etc/netns")
  }
}

// MARK: - Teardown

extension ClusterNetwork {
  /// Stops the DNS server, the seeded services and every process in a pod namespace, deletes every
  /// namespace (and so every link), /etc/netns/kft-<id>-* and the state directory. Idempotent.
  public func destroy() throws(NetworkError) {
    let daemons = state.withLock { state in
      state.destroyed = true
      return state.daemons
    }
    defer { reap(daemons.map(\.pid)) }
    try Self.removeLeftovers(directory: directory, id: id, ipPath: tools.ip)
  }

  /// Removes everything a network with `id` made, whether or not its process is still alive (e.g.
  /// after a crash of the sandbox): the namespaces named `kft-<id>-*` and those in the state file,
  /// their processes (SIGTERM, then SIGKILL), /etc/netns/kft-<id>-* and the state directory.
  /// Links need no search of their own: they were all made inside these namespaces and go with
  /// them; none was ever made in the host namespace. Idempotent.
  public static func removeLeftovers(directory: URL, id: String) throws(NetworkError) {
    try removeLeftovers(directory: directory, id: id, ipPath: NetworkTools.standard.ip)
  }

  static func removeLeftovers(directory: URL, id: String, ipPath: String) throws(NetworkError) {
    try validate(id: id)
    let ip = IPRoute(path: ipPath)
    let prefix = "kft-\(id)-"
    let stateDirectory = stateDirectory(directory: directory, id: id)
    var names = Set(ip.namespaces().filter { $0.hasPrefix(prefix) })
    if let saved = NetworkState.load(stateDirectory: stateDirectory) {
      names.formUnion(saved.namespaces + saved.pods.map(\.netnsName))
    }
    // Processes first (all at once, one grace period): a namespace deleted while a process is
    // still in it lives on, unnamed, until that process ends.
    ProcessTerminator.terminateAll(in: Array(names), ip: ip)
    var failures: [NetworkError] = []
    for name in names.sorted() {
      do throws(NetworkError) { try ip.deleteNamespace(name) } catch { failures.append(error) }
    }
    let etcEntries = (try? FileManager.default.contentsOfDirectory(atPath: "/etc/netns")) ?? []
    for entry in etcEntries where entry.hasPrefix(prefix) {
      do throws(NetworkError) { try removeEtcDirectory(entry) } catch { failures.append(error) }
    }
    do {
      if FileManager.default.fileExists(atPath: stateDirectory.path) { try FileManager.default.removeItem(at: stateDirectory) }
    } catch {
      failures.append(.file(path: stateDirectory.path, reason: "\(error)"))
    }
    if let first = failures.first { throw first }
  }

  /// Collects the exit status of the daemons this process started (they are ended by now).
  private func reap(_ pids: [pid_t]) {
    for pid in pids {
      var status: Int32 = 0
      let deadline = ContinuousClock.now + .seconds(5)
      while ContinuousClock.now < deadline {
        let rc = waitpid(pid, &status, WNOHANG)
        if rc == pid || (rc == -1 && errno != EINTR) { break }
        usleep(20_000)
      }
    }
  }
}
