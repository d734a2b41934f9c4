import Foundation
import PodNetwork
import SandboxNetwork
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

private func tools() -> NetworkTools { .debian(testServer: Binaries.path("kftray-testserver")) }

private func service(_ hostname: String) -> SeededService {
  ClusterAddressing.seededServices.first { $0.hostname == hostname }!
}

/// Waits until `path` contains `text` (a background program's "listening" line).
private func waitForLog(_ path: String, containing text: String, seconds: Double = 30) async throws {
  let deadline = ContinuousClock.now + .seconds(seconds)
  while ContinuousClock.now < deadline {
    if let log = try? String(contentsOfFile: path, encoding: .utf8), log.contains(text) { return }
    try await Task.sleep(for: .milliseconds(50))
  }
  Issue.record("\(path) never showed \(text)")
}

@Suite("cluster network (real namespaces, dnsmasq, busybox; root)", .enabled(if: canBuildNamespaces))
struct ClusterNetworkTests {
  @Test("a pod resolves every seeded name through the cluster DNS, and nothing else")
  func clusterDNS() async throws {
    let directory = URL(fileURLWithPath: try Teardown.temporaryDirectory("kft-net"))
    let network = try ClusterNetwork.create(directory: directory, id: uniqueNetworkID("dns"), tools: tools())
    defer { try? network.destroy() }
    let pod = try network.attachPod(uid: "uid-dns", namespace: "default", name: "dns-client")
    let shell = PodShell(netns: pod.netnsName)

    for seeded in ClusterAddressing.seededServices {
      let result = try shell.busybox("nslookup", seeded.hostname)
      #expect(result.status == 0, "\(seeded.hostname): \(result.stdout)\(result.stderr)")
      #expect(result.stdout.contains("Address: \(seeded.ipv4)"), "\(seeded.hostname): \(result.stdout)")
    }
    for unknown in ["nope.example.com", "x.echo.default.svc.cluster.local", "other.default.svc.cluster.local", "rds.example.amazonaws.com"] {
      let result = try shell.busybox("nslookup", unknown)
      #expect(result.status != 0)
      #expect((result.stdout + result.stderr).contains("NXDOMAIN"), "\(unknown): \(result.stdout)\(result.stderr)")
    }
    // Parents of seeded names exist as empty non-terminals (NOERROR without an address), as in
    // any real zone: amazonaws.com has no address but is no NXDOMAIN either.
    let parent = try shell.busybox("nslookup", "amazonaws.com")
    #expect(!parent.stdout.contains("Address: 203.0.113") && !(parent.stdout + parent.stderr).contains("NXDOMAIN"), "\(parent)")
    // Short and partial names through the pod's search path (glibc's resolver, as applications use it).
    for (name, address) in [("echo", "10.96.0.11"), ("web.default.svc", "10.96.0.12"), ("udp-echo.default", "10.96.0.14")] {
      let result = try Binaries.run(PodShell.ip, ["netns", "exec", pod.netnsName, "getent", "hosts", name])
      #expect(result.status == 0 && result.stdout.contains(address), "\(name): \(result.stdout)\(result.stderr)")
    }
    let resolv = try String(contentsOfFile: "/etc/netns/\(pod.netnsName)/resolv.conf", encoding: .utf8)
    #expect(resolv == "nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n")
    let seen = try Binaries.run(PodShell.ip, ["netns", "exec", pod.netnsName, "cat", "/etc/resolv.conf", "/etc/hosts"]).stdout
    #expect(seen.contains("nameserver 10.96.0.10") && seen.contains("\(pod.ipv4)\tdns-client"))

    // dnsmasq answered everything itself: every query has a "config ... is" answer, none was forwarded.
    let log = try String(contentsOfFile: network.dnsLogPath, encoding: .utf8)
    #expect(log.contains("config nope.example.com is NXDOMAIN"), "\(log)")
    #expect(log.contains("config echo.default.svc.cluster.local is 10.96.0.11"))
    #expect(!log.contains("forwarded"), "\(log)")
    let configuration = try String(contentsOfFile: network.stateDirectory.appendingPathComponent("dnsmasq.conf").path, encoding: .utf8)
    #expect(configuration.contains("no-resolv") && configuration.contains("local=/#/"))
    #expect(!configuration.split(separator: "\n").contains { $0.hasPrefix("server=") })
  }

  @Test("pods reach the seeded services, the external database and each other; closed refuses, firewalled times out")
  func reachability() async throws {
    let directory = URL(fileURLWithPath: try Teardown.temporaryDirectory("kft-net"))
    let network = try ClusterNetwork.create(directory: directory, id: uniqueNetworkID("reach"), tools: tools())
    defer { try? network.destroy() }
    let podA = try network.attachPod(uid: "uid-a", namespace: "default", name: "pod-a")
    let podB = try network.attachPod(uid: "uid-b", namespace: "dev", name: "pod-b")
    #expect(podA.ipv4 != podB.ipv4)
    #expect(podA.netnsPath == "/run/netns/\(podA.netnsName)")
    #expect(FileManager.default.fileExists(atPath: podA.netnsPath))
    let a = PodShell(netns: podA.netnsName)

    let echo = try a.tcpRoundTrip(host: "echo.default.svc.cluster.local", port: 7000, payload: "ping over the bridge")
    #expect(echo.status == 0 && echo.stdout == "ping over the bridge", "\(echo)")
    let database = try a.tcpRoundTrip(host: "database.region.rds.amazonaws.com", port: 5432, payload: "select 1")
    #expect(database.status == 0 && database.stdout == "select 1", "\(database)")

    let web = try a.busybox("wget", "-qO-", "http://web.default.svc.cluster.local/")
    #expect(web.status == 0 && web.stdout == "hello from web", "\(web)")
    let internalService = try a.busybox("wget", "-qO-", "http://internal-service.cluster.local/")
    #expect(internalService.status == 0 && internalService.stdout == "hello from internal-service", "\(internalService)")
    let short = try a.busybox("wget", "-qO-", "http://web/")
    #expect(short.stdout == "hello from web", "search path: \(short)")

    let closed = try a.busybox("nc", "-w", "2", "closed.default.svc.cluster.local", "7001")
    #expect(closed.status != 0 && closed.stderr.contains("Connection refused"), "\(closed)")
    // -w 4 outlasts the ~3 s after which an unanswered ARP would turn into "No route to host":
    // only a silent drop ends in "timed out".
    let firewalled = try a.busybox("nc", "-w", "4", "firewalled.default.svc.cluster.local", "7002")
    #expect(firewalled.status != 0 && firewalled.stderr.contains("timed out"), "\(firewalled)")
    let drop = try Binaries.run(PodShell.ip, ["-n", network.nodeNamespace, "route", "show", "10.96.0.16"])
    #expect(drop.stdout.hasPrefix("blackhole 10.96.0.16"), "\(drop)")

    let datagram = Array("udp through the node".utf8)
    let udp = service("udp-echo.default.svc.cluster.local")
    let reply = try await NamespacedUDP.roundTrip(netnsPath: podA.netnsPath, host: udp.ipv4, port: udp.port, payload: datagram)
    #expect(reply == datagram)

    let bulk = try a.run(["/usr/bin/iperf3", "--client", "bulk.default.svc.cluster.local", "--port", "5201", "--bytes", "1M"])
    #expect(bulk.status == 0 && bulk.stdout.contains("receiver"), "\(bulk)")

    // Pod to pod: an echo server in pod B, reached from pod A by address.
    let log = network.stateDirectory.appendingPathComponent("pod-b-echo.log").path
    let server = try BackgroundProcess(
      PodShell.ip, ["netns", "exec", podB.netnsName, Binaries.path("kftray-testserver"), "echo", "--port", "9000"], logPath: log)
    defer { server.stop() }
    try await waitForLog(log, containing: "listening")
    let podToPod = try a.tcpRoundTrip(host: podB.ipv4, port: 9000, payload: "hi pod b")
    #expect(podToPod.stdout == "hi pod b", "\(podToPod)")

    // Detaching pod B ends its processes, its namespace, its veth and its files, and frees its address.
    try network.detachPod(uid: "uid-b")
    try network.detachPod(uid: "uid-b")
    #expect(!server.isRunning)
    #expect(try HostView.namespaces(prefix: podB.netnsName).filter { $0 == podB.netnsName }.isEmpty)
    #expect(!FileManager.default.fileExists(atPath: "/etc/netns/\(podB.netnsName)"))
    let nodeLinks = try Binaries.run(PodShell.ip, ["-n", network.nodeNamespace, "-o", "link", "show"]).stdout
    #expect(nodeLinks.contains("vp1") && !nodeLinks.contains("vp2"), "\(nodeLinks)")
    let podC = try network.attachPod(uid: "uid-c", namespace: "default", name: "pod-c")
    #expect(podC.ipv4 == podB.ipv4 && podC.netnsName != podB.netnsName)
    #expect(try network.attachPod(uid: "uid-c", namespace: "default", name: "pod-c") == podC)
  }

  @Test("the host namespace has no route, link or resolver entry of the cluster")
  func hostIsolation() throws {
    let resolvBefore = try Data(contentsOf: URL(fileURLWithPath: "/etc/resolv.conf"))
    let hostsBefore = try Data(contentsOf: URL(fileURLWithPath: "/etc/hosts"))
    let routesBefore = try Binaries.run(PodShell.ip, ["-4", "route", "show", "table", "all"]).stdout
    let directory = URL(fileURLWithPath: try Teardown.temporaryDirectory("kft-net"))
    let network = try ClusterNetwork.create(directory: directory, id: uniqueNetworkID("host"), tools: tools())
    defer { try? network.destroy() }
    let pod = try network.attachPod(uid: "uid-h", namespace: "default", name: "pod-h")

    // Checked on the routing table only: no packet leaves the host for these addresses.
    let defaultRoute = try HostView.defaultRoute()
    let addresses = [pod.ipv4, ClusterAddressing.podGateway, ClusterAddressing.dnsServer] + ClusterAddressing.seededServices.map(\.ipv4)
    for address in addresses {
      let route = try HostView.routeGet(address)
      if let defaultRoute {
        #expect(route.status == 0 && route.stdout.contains(defaultRoute), "\(address): \(route.stdout)")
      } else {
        #expect(route.status != 0, "\(address): \(route.stdout)")
      }
      for ours in ["br0", "svc0", "ext0", "vp", "kft"] {
        #expect(!route.stdout.contains("dev \(ours)"), "\(address): \(route.stdout)")
      }
    }
    #expect(try Binaries.run(PodShell.ip, ["-4", "route", "show", "table", "all"]).stdout == routesBefore)
    let links = try HostView.links()
    #expect(!links.contains { $0.hasPrefix("vp") || $0.hasPrefix("kft") || ["br0", "svc0", "ext0"].contains($0) }, "\(links)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: "/etc/resolv.conf")) == resolvBefore)
    #expect(try Data(contentsOf: URL(fileURLWithPath: "/etc/hosts")) == hostsBefore)
    let hostResolv = String(decoding: resolvBefore, as: UTF8.self)
    #expect(!hostResolv.contains("10.96.0.10") && !hostResolv.contains("cluster.local"))
    // The node forwards; the host's own setting is left as it was.
    let nodeForwarding = try Binaries.run(PodShell.ip, ["netns", "exec", network.nodeNamespace, "cat", "/proc/sys/net/ipv4/ip_forward"])
    #expect(nodeForwarding.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
  }

  @Test("destroy leaves no namespace, process, link or file; a second destroy is fine")
  func destroyRemovesEverything() throws {
    let directory = URL(fileURLWithPath: try Teardown.temporaryDirectory("kft-net"))
    let id = uniqueNetworkID("down")
    let linksBefore = try HostView.links()
    let network = try ClusterNetwork.create(directory: directory, id: id, tools: tools())
    let pod = try network.attachPod(uid: "uid-d", namespace: "default", name: "pod-d")
    // A process that ignores SIGTERM (as a stuck container might): it must still end, by SIGKILL.
    let sleeper = try BackgroundProcess(
      PodShell.ip, ["netns", "exec", pod.netnsName, PodShell.busybox, "sh", "-c", "trap '' TERM; echo ready; while true; do sleep 1; done"],
      logPath: directory.path + "/sleeper.log")
    let deadline = ContinuousClock.now + .seconds(10)
    while !sleeper.log.contains("ready") && ContinuousClock.now < deadline { usleep(20_000) }
    let namespaces = try HostView.namespaces(prefix: "kft-\(id)-")
    #expect(Set(namespaces) == ["kft-\(id)-node", "kft-\(id)-svc", "kft-\(id)-ext", pod.netnsName])
    let processes = try namespaces.flatMap { try HostView.pids(inNamespace: $0) }
    #expect(processes.count >= 8, "dnsmasq, 6 seeded servers, iperf3 and the sleeper: \(processes)")

    let inodes = namespaces.compactMap(HostView.namespaceInode)
    #expect(inodes.count == namespaces.count)
    #expect(Set(HostView.processes(inNamespaces: inodes)).isSuperset(of: processes))
    try network.destroy()
    #expect(try HostView.namespaces(prefix: "kft-\(id)-").isEmpty)
    #expect(processes.filter(HostView.isAlive).isEmpty, "still running: \(processes.filter(HostView.isAlive))")
    // Nothing at all left in a namespace of ours, not even a child started during the grace period
    // (a namespace lives on, unnamed, while a process is in it).
    #expect(HostView.processes(inNamespaces: inodes).isEmpty, "\(HostView.processes(inNamespaces: inodes))")
    #expect(!sleeper.isRunning)
    #expect(try HostView.links() == linksBefore)
    let etc = (try? FileManager.default.contentsOfDirectory(atPath: "/etc/netns")) ?? []
    #expect(!etc.contains { $0.hasPrefix("kft-\(id)-") })
    #expect(!FileManager.default.fileExists(atPath: network.stateDirectory.path))
    try network.destroy()
    #expect(throws: NetworkError.destroyed) { try network.attachPod(uid: "late", namespace: "default", name: "late") }
  }

  @Test("after a crash, removeLeftovers (and a new create with the same id) clean up everything")
  func leftoversAfterCrash() throws {
    let directory = URL(fileURLWithPath: try Teardown.temporaryDirectory("kft-net"))
    let id = uniqueNetworkID("crash")
    // The "crashed" sandbox: its object is simply forgotten, nothing is stopped.
    var processes: [pid_t] = []
    do {
      let crashed = try ClusterNetwork.create(directory: directory, id: id, tools: tools())
      _ = try crashed.attachPod(uid: "uid-x", namespace: "default", name: "pod-x")
      _ = try crashed.attachPod(uid: "uid-y", namespace: "default", name: "pod-y")
      processes = try HostView.namespaces(prefix: "kft-\(id)-").flatMap { try HostView.pids(inNamespace: $0) }
    }
    #expect(try HostView.namespaces(prefix: "kft-\(id)-").count == 5)
    #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("network-\(id)/state.json").path))

    // A new sandbox with the same id starts from a clean slate.
    let again = try ClusterNetwork.create(directory: directory, id: id, tools: tools())
    #expect(processes.filter(HostView.isAlive).isEmpty)
    #expect(Set(try HostView.namespaces(prefix: "kft-\(id)-")) == ["kft-\(id)-node", "kft-\(id)-svc", "kft-\(id)-ext"])
    let pod = try again.attachPod(uid: "uid-z", namespace: "default", name: "pod-z")
    #expect(try PodShell(netns: pod.netnsName).busybox("wget", "-qO-", "http://web.default.svc.cluster.local/").stdout == "hello from web")
    let survivors = try HostView.namespaces(prefix: "kft-\(id)-").flatMap { try HostView.pids(inNamespace: $0) }

    // `kftray-sandbox down` after a crash: only the directory and the id are known.
    try ClusterNetwork.removeLeftovers(directory: directory, id: id)
    #expect(try HostView.namespaces(prefix: "kft-\(id)-").isEmpty)
    #expect(survivors.filter(HostView.isAlive).isEmpty)
    let etc = (try? FileManager.default.contentsOfDirectory(atPath: "/etc/netns")) ?? []
    #expect(!etc.contains { $0.hasPrefix("kft-\(id)-") })
    #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("network-\(id)").path))
    try ClusterNetwork.removeLeftovers(directory: directory, id: id)
    try again.destroy()
  }

  @Test("the pods' gateway keeps one MAC while pods come and go (no stale ARP entries in other pods)")
  func gatewayMACIsFixed() throws {
    let directory = URL(fileURLWithPath: try Teardown.temporaryDirectory("kft-net"))
    let network = try ClusterNetwork.create(directory: directory, id: uniqueNetworkID("mac"), tools: tools())
    defer { try? network.destroy() }
    func gatewayMAC(seenFrom pod: PodNetworkAttachment) throws -> String {
      // The pod's own view: the MAC its ARP resolves for the gateway.
      let shell = PodShell(netns: pod.netnsName)
      _ = try shell.busybox("ping", "-c", "1", "-W", "2", ClusterAddressing.podGateway)
      let neighbours = try shell.run([PodShell.ip, "neigh", "show", ClusterAddressing.podGateway])
      return neighbours.stdout.split(separator: " ").drop { $0 != "lladdr" }.dropFirst().first.map(String.init) ?? ""
    }
    let a = try network.attachPod(uid: "uid-m1", namespace: "default", name: "pod-m1")
    #expect(try gatewayMAC(seenFrom: a) == ClusterAddressing.podGatewayMAC)
    for index in 2...6 { _ = try network.attachPod(uid: "uid-m\(index)", namespace: "default", name: "pod-m\(index)") }
    for index in 2...5 { try network.detachPod(uid: "uid-m\(index)") }
    #expect(try gatewayMAC(seenFrom: a) == ClusterAddressing.podGatewayMAC)
  }

  @Test("pods attached at the same time get distinct namespaces and addresses")
  func concurrentAttach() async throws {
    let directory = URL(fileURLWithPath: try Teardown.temporaryDirectory("kft-net"))
    let network = try ClusterNetwork.create(directory: directory, id: uniqueNetworkID("many"), tools: tools())
    defer { try? network.destroy() }
    let attachments = try await withThrowingTaskGroup(of: PodNetworkAttachment.self) { group in
      for index in 0..<12 {
        group.addTask { try network.attachPod(uid: "uid-\(index)", namespace: "default", name: "pod-\(index)") }
      }
      return try await group.reduce(into: []) { $0.append($1) }
    }
    #expect(Set(attachments.map(\.ipv4)).count == 12)
    #expect(Set(attachments.map(\.netnsName)).count == 12)
    #expect(network.attachedPods.count == 12)
    let last = try #require(attachments.first { $0.ipv4 == "10.244.0.13" })
    let reply = try PodShell(netns: last.netnsName).tcpRoundTrip(host: "echo", port: 7000, payload: "twelfth")
    #expect(reply.stdout == "twelfth", "\(reply)")
    try await withThrowingTaskGroup(of: Void.self) { group in
      for index in 0..<12 { group.addTask { try network.detachPod(uid: "uid-\(index)") } }
      try await group.waitForAll()
    }
    #expect(network.attachedPods.isEmpty)
    #expect(Set(try HostView.namespaces(prefix: "kft-\(network.id)-")) == [network.nodeNamespace, network.servicesNamespace, network.externalNamespace])
  }

  @Test("the id derived from a directory is stable, valid and differs between directories")
  func identifiers() throws {
    let a = ClusterNetwork.identifier(for: URL(fileURLWithPath: "/tmp/kftray-sandbox"))
    #expect(a == ClusterNetwork.identifier(for: URL(fileURLWithPath: "/tmp/kftray-sandbox/")))
    #expect(a != ClusterNetwork.identifier(for: URL(fileURLWithPath: "/tmp/kftray-sandbox-2")))
    #expect(a.count == 12 && a.allSatisfy { $0.isLowercase || $0.isNumber })
    let directory = URL(fileURLWithPath: try Teardown.temporaryDirectory("kft-net"))
    try ClusterNetwork.removeLeftovers(directory: directory, id: ClusterNetwork.identifier(for: directory))
  }

  @Test("ids that would make unsafe or too long names are refused")
  func invalidIDs() {
    for id in ["", "UPPER", "has-dash", "a/b", "thirteenchars", "../x"] {
      #expect(throws: NetworkError.invalidID(id)) { try ClusterNetwork.create(directory: URL(fileURLWithPath: "/tmp"), id: id, tools: tools()) }
      #expect(throws: NetworkError.invalidID(id)) { try ClusterNetwork.removeLeftovers(directory: URL(fileURLWithPath: "/tmp"), id: id) }
    }
  }

  @Test("a missing program is named with its Debian package")
  func missingTool() {
    var broken = tools()
    broken.dnsmasq = "/nonexistent/dnsmasq"
    #expect(throws: NetworkError.toolMissing(path: "/nonexistent/dnsmasq", debianPackage: "dnsmasq-base")) {
      try ClusterNetwork.create(directory: URL(fileURLWithPath: "/tmp"), id: "missing", tools: broken)
    }
  }
}
