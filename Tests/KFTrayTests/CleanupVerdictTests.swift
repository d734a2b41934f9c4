import Foundation
import KFTray
import KubeClient
import Testing

@Suite struct CleanupVerdictTests {
  static let now = Date(timeIntervalSince1970: 1_800_000_000)
  static let here = OwnerProbe(hostName: "laptop") { $0 == 100 }

  static func pod(host: String?, pid: String?, heartbeat: Date?, created: Date, phase: String = "Running") -> PluginPod {
    var annotations: [String: String] = [:]
    annotations[RelayLabels.ownerHost] = host
    annotations[RelayLabels.ownerPID] = pid
    annotations[RelayLabels.heartbeat] = heartbeat.map(Timestamps.format)
    var meta = ObjectMeta(name: "kftray-relay-abcde", namespace: "dev", labels: [RelayLabels.managedBy: RelayLabels.manager], annotations: annotations)
    meta.creationTimestamp = Timestamps.format(created)
    var p = Pod(metadata: meta, spec: PodSpec(containers: []))
    p.status = PodStatus()
    p.status?.phase = phase
    return PluginPod(p)
  }

  @Test func ownerOnThisHostDecides() {
    let old = Self.now.addingTimeInterval(-3600)
    #expect(Self.pod(host: "laptop", pid: "100", heartbeat: old, created: old).verdict(now: Self.now, staleAfter: 120, probe: Self.here).status == .active)
    let gone = Self.pod(host: "laptop", pid: "101", heartbeat: Self.now, created: Self.now).verdict(now: Self.now, staleAfter: 120, probe: Self.here)
    #expect(gone == CleanupVerdict(status: .orphaned, reason: "owner process 101 is gone on this host"))
  }

  @Test func elsewhereTheHeartbeatDecides() {
    let fresh = Self.pod(host: "desk", pid: "100", heartbeat: Self.now.addingTimeInterval(-30), created: Self.now.addingTimeInterval(-600))
    #expect(fresh.verdict(now: Self.now, staleAfter: 120, probe: Self.here).status == .active)
    let stale = Self.pod(host: "desk", pid: "100", heartbeat: Self.now.addingTimeInterval(-300), created: Self.now.addingTimeInterval(-600))
    #expect(stale.verdict(now: Self.now, staleAfter: 120, probe: Self.here) == CleanupVerdict(status: .orphaned, reason: "last heartbeat 5m ago (threshold 2m)"))
    let none = Self.pod(host: nil, pid: nil, heartbeat: nil, created: Self.now.addingTimeInterval(-7200))
    #expect(none.verdict(now: Self.now, staleAfter: 120, probe: Self.here).reason == "no heartbeat since it was created 2h ago (threshold 2m)")
  }

  @Test func anEndedPodIsOrphaned() {
    let ended = Self.pod(host: "laptop", pid: "100", heartbeat: Self.now, created: Self.now, phase: "Failed")
    #expect(ended.verdict(now: Self.now, staleAfter: 120, probe: Self.here).status == .orphaned)
  }
}
