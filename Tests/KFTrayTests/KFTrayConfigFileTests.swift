import Foundation
import KFTray
import Testing

@Suite struct KFTrayConfigFileTests {
  static func parse(_ json: String) throws(KFTrayConfigError) -> KFTrayConfigFile {
    try KFTrayConfigFile.parse(Data(json.utf8), path: "configs.json")
  }

  @Test func arrayWithMixedWorkloadTypes() throws {
    let file = try Self.parse(
      """
      [
        {"alias": "db", "workload_type": "proxy", "protocol": "tcp", "namespace": "dev", "context": "kind-dev",
         "remote_address": "database.region.rds.amazonaws.com", "remote_port": 5432, "local_port": 15432},
        {"alias": "web", "workload_type": "service", "service": "web", "namespace": "default", "remote_port": 80},
        {"workload_type": "proxy", "protocol": "udp", "remote_address": "udp-echo.default.svc.cluster.local",
         "remote_port": 5353, "kubeconfig": "default", "context": "current-context"},
        {"alias": "x", "workload_type": "expose"}
      ]
      """)
    #expect(file.proxies.count == 2)
    let db = file.proxies[0]
    #expect(db.alias == "db" && db.index == 0 && db.namespace == "dev" && db.context == "kind-dev")
    #expect(db.target == ProxyTarget(localPort: 15432, remoteAddress: "database.region.rds.amazonaws.com", remotePort: 5432))
    let udp = file.proxies[1]
    #expect(udp.target.transport == .udp && udp.target.localPort == nil)
    #expect(udp.kubeconfig == nil && udp.context == nil && udp.namespace == nil, "kftray placeholders read as missing")
    #expect(file.skipped.map(\.workloadType) == ["service", "expose"])
    #expect(file.skipped.map(\.index) == [1, 3])
  }

  @Test func singleObjectAsKftrayImportsIt() throws {
    let file = try Self.parse(#"{"workload_type":"proxy","remote_address":"web","remote_port":"80","local_port":0}"#)
    #expect(file.proxies.map(\.target) == [ProxyTarget(remoteAddress: "web", remotePort: 80)])
  }

  @Test(arguments: [
    (#"[{"workload_type":"proxy","remote_port":80}]"#, #"entry 0: field "remote_address" is missing"#),
    (#"[{"workload_type":"proxy","alias":"db","remote_address":"db"}]"#, #"entry 0 (alias "db"): field "remote_port" is missing"#),
    (#"[{"workload_type":"proxy","remote_address":"db","remote_port":70000}]"#, #"field "remote_port" must be a port number from 1 to 65535, got 70000"#),
    (#"[{"workload_type":"proxy","remote_address":"db","remote_port":true}]"#, #"field "remote_port" must be a port number"#),
    (#"[{"workload_type":"proxy","remote_address":"db","remote_port":5,"protocol":"sctp"}]"#, #"field "protocol" "sctp" is not tcp or udp"#),
    (#"[{"workload_type":"proxy","remote_address":"http://x/y","remote_port":5}]"#, #"is not a host name or IP address"#),
    (#"[1]"#, "entry 0 is not a JSON object"),
    (#""text""#, "holds no kftray configs"),
    ("[\n  {\"workload_type\": \"proxy\",\n   oops}\n]", "line 3"),
  ])
  func errorsPointAtTheEntryAndField(_ json: String, _ message: String) {
    #expect {
      _ = try Self.parse(json)
    } throws: { error in
      "\(error)".contains(message)
    }
  }

  @Test func aliasesPickEntriesAndUnknownOnesAreNamed() throws {
    let file = try Self.parse(
      #"[{"workload_type":"proxy","alias":"a","remote_address":"x","remote_port":1},{"workload_type":"proxy","alias":"b","remote_address":"y","remote_port":2}]"#
    )
    #expect(try file.selecting(aliases: ["b"], path: "f").map(\.alias) == ["b"])
    #expect(try file.selecting(aliases: [], path: "f").count == 2)
    #expect {
      _ = try file.selecting(aliases: ["c"], path: "f")
    } throws: { error in
      "\(error)" == #"f has no proxy entry with alias "c": its proxy aliases are a, b"#
    }
  }
}
