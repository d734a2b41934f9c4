import Foundation
import TestSupport
import Testing
import Yams

/// Bad input, as a user makes it: each case runs the built plugin through kubectl and checks the
/// message (what is wrong and what to do), the exit code, and that nothing is left in the cluster.
@Suite("bad input: messages, exit codes, nothing left", .serialized)
struct BadInputTests {
  struct Case: Sendable, CustomStringConvertible {
    var name: String
    var arguments: [String]
    /// A kubeconfig made from the sandbox's by this edit (nil: the sandbox's own).
    var kubeconfig: (@Sendable (inout [String: Any]) -> Void)?
    var files: [String: String] = [:]
    var exit: Int32
    var messages: [String]
    /// Run without CAP_NET_BIND_SERVICE (still root, as CI runs): `setpriv` drops it from the
    /// bounding set, which is what root's capabilities come from at exec.
    var withoutBindCapability = false
    var description: String { name }
  }

  /// A port below `net.ipv4.ip_unprivileged_port_start` (80 where that is the default 1024), which
  /// needs CAP_NET_BIND_SERVICE to bind.
  static let privilegedPort: Int = {
    let start = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_unprivileged_port_start", encoding: .utf8))
      .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 1024
    return start > 80 ? 80 : max(start - 1, 1)
  }()

  /// A user `name` (its fields as JSON) and a context "bad" that uses it, made current.
  static func user(_ name: String, _ json: String) -> @Sendable (inout [String: Any]) -> Void {
    { config in
      let body = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
      var users = config["users"] as? [[String: Any]] ?? []
      users.append(["name": name, "user": body])
      config["users"] = users
      var contexts = config["contexts"] as? [[String: Any]] ?? []
      contexts.append(["name": "bad", "context": ["cluster": "kftray-sandbox", "user": name, "namespace": "dev"]])
      config["contexts"] = contexts
      config["current-context"] = "bad"
    }
  }

  static let cases: [Case] = [
    Case(name: "missing kubeconfig", arguments: ["--kubeconfig", "/nonexistent/config", "web:80"], exit: 1,
      messages: ["/nonexistent/config", "does not exist", "check the path"]),
    Case(name: "malformed kubeconfig", arguments: ["--kubeconfig", "FILE:bad.yaml", "web:80"], files: ["bad.yaml": "::: [not yaml\n"],
      exit: 1, messages: ["bad.yaml", "not valid YAML"]),
    Case(name: "unknown context", arguments: ["--context", "nope", "web:80"], exit: 1,
      messages: ["context \"nope\"", "kubectl config get-contexts"]),
    Case(name: "unknown cluster", arguments: ["--cluster", "nope", "web:80"], exit: 1, messages: ["cluster \"nope\"", "fix the name"]),
    Case(name: "unknown user", arguments: ["--user", "nope", "web:80"], exit: 1, messages: ["user \"nope\"", "fix the name"]),
    Case(name: "certificate without key", arguments: ["web:80"],
      kubeconfig: user("half", #"{"client-certificate-data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="}"#), exit: 1,
      messages: ["half", "key"]),
    Case(name: "unreadable key", arguments: ["web:80"],
      kubeconfig: user("nokey", #"{"client-certificate": "/nonexistent/cert.pem", "client-key": "/nonexistent/key.pem"}"#), exit: 1,
      messages: ["/nonexistent/"]),
    Case(name: "exec plugin missing", arguments: ["web:80"],
      kubeconfig: user("exec", #"{"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "kftray-no-such-plugin", "interactiveMode": "Never", "installHint": "install it with: apt-get install kftray-no-such-plugin"}}"#),
      exit: 1, messages: ["kftray-no-such-plugin", "install it with: apt-get install kftray-no-such-plugin"]),
    Case(name: "exec plugin failing", arguments: ["web:80"],
      kubeconfig: user("exec", #"{"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/false", "interactiveMode": "Never"}}"#),
      exit: 1, messages: ["/bin/false"]),
    Case(name: "exec plugin printing garbage", arguments: ["web:80"],
      kubeconfig: user("exec", #"{"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/echo", "args": ["not json"], "interactiveMode": "Never"}}"#),
      exit: 1, messages: ["/bin/echo"]),
    Case(name: "wrong CA", arguments: ["web:80"], kubeconfig: { config in
        var clusters = config["clusters"] as! [[String: Any]]
        var cluster = clusters[0]["cluster"] as! [String: Any]
        // Another CA: the admin's own client certificate, which did not sign the server's.
        let users = config["users"] as! [[String: Any]]
        cluster["certificate-authority-data"] = (users[0]["user"] as! [String: Any])["client-certificate-data"]
        clusters[0]["cluster"] = cluster
        config["clusters"] = clusters
      }, exit: 1, messages: ["certificate"]),
    Case(name: "rejected token (401)", arguments: ["--context", "sandbox-dev", "--token", "wrong", "web:80"], exit: 1,
      messages: ["did not accept your credentials", "log in again"]),
    Case(name: "RBAC denial (403)", arguments: ["--context", "sandbox-readonly", "web:80"], exit: 1,
      messages: ["cannot create resource \"pods\"", "fix: ask for a Role"]),
    Case(name: "missing namespace", arguments: ["-n", "does-not-exist", "web:80"], exit: 1,
      messages: ["namespace \"does-not-exist\" does not exist", "choose an existing namespace"]),
    Case(name: "Pod Security rejection", arguments: ["-n", "restricted", "--patch", #"{"spec":{"securityContext":{"runAsNonRoot":false}}}"#, "web:80"],
      exit: 1, messages: ["refused by Pod Security admission", "runAsNonRoot"]),
    Case(name: "image that cannot be pulled", arguments: ["--image", "registry.example/nope:v1", "web:80"], exit: 1,
      messages: ["cannot be pulled", "--image-pull-secret"]),
    // A scheduler nobody runs: the pod stays Pending without a verdict, until the timeout.
    Case(name: "pod never Ready", arguments: ["--patch", #"{"spec":{"schedulerName":"nobody"}}"#, "--pod-running-timeout", "2s", "web:80"],
      exit: 1, messages: ["not Ready after 2s", "--pod-running-timeout"]),
    Case(name: "relay pod unschedulable", arguments: ["--node-selector", "pool=nowhere", "web:80"], exit: 1,
      messages: ["no node can run it", "didn't match Pod's node affinity/selector", "--node-selector"]),
    Case(name: "API server unreachable", arguments: ["-s", "https://127.0.0.1:1", "web:80"], exit: 1,
      messages: ["cannot reach the API server", "kubectl kftray version"]),
    Case(name: "invalid target syntax", arguments: ["web"], exit: 64, messages: ["invalid target \"web\"", "[LOCAL_PORT:]REMOTE_ADDRESS:REMOTE_PORT"]),
    Case(name: "remote port out of range", arguments: ["web:70000"], exit: 64, messages: ["70000 is out of range", "1 to 65535"]),
    Case(name: "local port out of range", arguments: ["99999:web:80"], exit: 64, messages: ["99999 is out of range"]),
    Case(name: "port not a number", arguments: ["web:http"], exit: 64, messages: ["\"http\" is not a number"]),
    Case(name: "unknown protocol", arguments: ["web:80/sctp"], exit: 64, messages: ["unknown protocol \"sctp\"", "/udp"]),
    Case(name: "local port in use", arguments: ["--address", "127.0.0.1", "PORT_IN_USE:web:80"], exit: 1,
      messages: ["cannot listen on local port", "pick a free one"]),
    Case(name: "privileged local port without permission", arguments: ["--address", "127.0.0.1", "PRIVILEGED_PORT:web:80"], exit: 1,
      messages: ["cannot listen on local port PRIVILEGED_PORT", "Permission denied", "CAP_NET_BIND_SERVICE", "ip_unprivileged_port_start"],
      withoutBindCapability: true),
    Case(name: "duplicate local ports", arguments: ["28080:web:80", "28080:echo:7000"], exit: 1,
      messages: ["local port 28080 is used twice"]),
    Case(name: "invalid --address", arguments: ["--address", "my-laptop", "web:80"], exit: 64, messages: ["\"my-laptop\" is not an IP address"]),
    Case(name: "malformed kftray JSON", arguments: ["-f", "FILE:configs.json"], files: ["configs.json": "[\n  {\"workload_type\": \"proxy\",\n   oops}\n]"],
      exit: 1, messages: ["configs.json is not valid JSON", "line 3"]),
    Case(name: "entry with missing fields", arguments: ["-f", "FILE:configs.json"],
      files: ["configs.json": #"[{"alias":"db","workload_type":"proxy","remote_address":"db"}]"#], exit: 1,
      messages: [#"entry 0 (alias "db"): field "remote_port" is missing"#]),
    Case(name: "unknown --alias", arguments: ["-f", "FILE:configs.json", "--alias", "nope"],
      files: ["configs.json": #"[{"alias":"db","workload_type":"proxy","remote_address":"db","remote_port":5432}]"#], exit: 1,
      messages: [#"no proxy entry with alias "nope""#, "db"]),
    Case(name: "no proxy entries", arguments: ["-f", "FILE:configs.json"],
      files: ["configs.json": #"[{"alias":"w","workload_type":"service","service":"web","remote_port":80}]"#], exit: 1,
      messages: ["has no proxy entries", "skipped"]),
    Case(name: "--alias without -f", arguments: ["--alias", "db", "web:80"], exit: 64, messages: ["give the file with -f"]),
    Case(name: "invalid --patch", arguments: ["--patch", "{not json", "web:80"], exit: 64, messages: ["not a JSON object"]),
    Case(name: "invalid --toleration", arguments: ["--toleration", "key:Sometimes", "web:80"], exit: 64,
      messages: ["NoSchedule, PreferNoSchedule or NoExecute"]),
    Case(name: "invalid --pod-running-timeout", arguments: ["--pod-running-timeout", "soon", "web:80"], exit: 64,
      messages: ["\"soon\" is not a duration"]),
    Case(name: "invalid --allow rule", arguments: ["--socks", "0", "--allow", "10.0.0.0/33"], exit: 64, messages: ["invalid allow rule"]),
    Case(name: "--socks-auth without --socks", arguments: ["--socks-auth", "a:b", "web:80"], exit: 64, messages: ["--socks-auth"]),
    Case(name: "no target", arguments: [], exit: 64, messages: ["give at least one target"]),
  ]

  @Test(arguments: cases)
  func badInput(_ item: Case) async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let scratch = try Teardown.temporaryDirectory("bad-input")
    let label = ClusterTests.uniqueName("t")
    var environment = ProxyTests.environment(sandbox)
    if let edit = item.kubeconfig {
      var config = try #require(try Yams.load(yaml: String(contentsOfFile: sandbox.kubeconfig, encoding: .utf8)) as? [String: Any])
      edit(&config)
      let path = scratch + "/kubeconfig"
      try Yams.dump(object: config).write(toFile: path, atomically: true, encoding: .utf8)
      environment["KUBECONFIG"] = path
    }
    for (name, content) in item.files { try content.write(toFile: scratch + "/" + name, atomically: true, encoding: .utf8) }
    // Something already listens where the case needs a port in use.
    let holder = try HeldLoopbackPort()
    let arguments = item.arguments.map { argument in
      argument.replacingOccurrences(of: "FILE:", with: scratch + "/").replacingOccurrences(of: "PORT_IN_USE", with: "\(holder.port)")
        .replacingOccurrences(of: "PRIVILEGED_PORT", with: "\(Self.privilegedPort)")
    }
    let command = [ClusterTests.kubectlPath, "kftray", "proxy", "--pod-label", "kftray-test=\(label)"] + arguments
    let r =
      item.withoutBindCapability
      ? try await Binaries.runOffPool(
        "/usr/bin/setpriv", ["--inh-caps=-all", "--bounding-set=-net_bind_service", "--"] + command, environment: environment)
      : try await Binaries.runOffPool(command[0], Array(command.dropFirst()), environment: environment)
    #expect(r.status == item.exit, "\(item.name): exit \(r.status)\n\(r.stderr)")
    for message in item.messages.map({ $0.replacingOccurrences(of: "PRIVILEGED_PORT", with: "\(Self.privilegedPort)") }) {
      #expect(r.stderr.contains(message), "\(item.name): no \"\(message)\" in\n\(r.stderr)")
    }
    #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("Stack dump"), "\(item.name) crashed:\n\(r.stderr)")
    for namespace in ["default", "dev", "restricted"] {
      try await ProxyTests.expectNoRelayPods(sandbox, namespace: namespace, label: label)
    }
  }
}
