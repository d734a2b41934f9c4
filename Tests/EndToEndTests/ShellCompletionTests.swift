import Foundation
import TestSupport
import Testing

/// The shells themselves: an interactive bash with bash-completion and `kubectl completion bash`
/// loaded, driven through tmux, completes `kubectl kftray …`; zsh and fish load the standalone
/// scripts for `kubectl-kftray` without errors.
@Suite(.serialized) struct ShellCompletionTests {
  /// One interactive bash in a tmux server of its own (own socket), stopped at the end.
  final class InteractiveBash {
    let socket: String
    let dir: String

    init(sandbox: SandboxCluster.Running) throws {
      dir = try Teardown.temporaryDirectory("kftray-bash")
      socket = dir + "/tmux.sock"
      let rc = dir + "/bashrc"
      try Data(
        """
        PS1='$ '
        source /usr/share/bash-completion/bash_completion
        source <(kubectl completion bash)

        """.utf8
      ).write(to: URL(fileURLWithPath: rc))
      let path = "\(Binaries.directory):\(CompletionTests.completions):/usr/local/bin:/usr/bin:/bin"
      let command =
        "env -i HOME=\(sandbox.directory) TERM=xterm KUBECONFIG=\(sandbox.kubeconfig) PATH=\(path) bash --noprofile --rcfile \(rc) -i"
      let r = try tmux(["new-session", "-d", "-x", "200", "-y", "50", command])
      guard r.status == 0 else { throw TestFailure("tmux: \(r.stderr)") }
      _ = try screen(containing: "$")  // capture-pane drops trailing spaces
    }

    deinit { _ = try? tmux(["kill-server"]) }

    @discardableResult
    func tmux(_ arguments: [String]) throws -> Binaries.Result {
      try Binaries.run("/usr/bin/tmux", ["-S", socket] + arguments)
    }

    func type(_ keys: String...) throws { try tmux(["send-keys", "-t", "0"] + keys) }

    /// The visible screen once it contains `text` (polled; completion runs kubectl and the plugin).
    func screen(containing text: String, seconds: Int = 20) throws -> String {
      let deadline = ContinuousClock.now + .seconds(seconds)
      var last = ""
      while ContinuousClock.now < deadline {
        last = try tmux(["capture-pane", "-p", "-t", "0"]).stdout
        if last.contains(text) { return last }
        Thread.sleep(forTimeInterval: 0.2)
      }
      throw TestFailure("the screen never showed \"\(text)\":\n\(last)")
    }
  }

  @Test func bashCompletesThroughKubectl() async throws {
    let sandbox = try await SandboxCluster.shared.start()
    let bash = try InteractiveBash(sandbox: sandbox)
    try bash.type("kubectl kftray pr", "Tab")
    let completed = try bash.screen(containing: "$ kubectl kftray proxy")
    #expect(completed.split(separator: "\n").contains("$ kubectl kftray proxy"), "\(completed)")
    try bash.type("C-u")
    try bash.type("kubectl kftray proxy --context ", "Tab")
    _ = try bash.screen(containing: "--context sandbox-")  // the common prefix first
    try bash.type("Tab", "Tab")  // then the list
    let screen = try bash.screen(containing: "sandbox-readonly")
    #expect(screen.contains("sandbox-admin") && screen.contains("sandbox-dev"), "\(screen)")
    try bash.type("C-u")
    try bash.type("kubectl kftray proxy --context sandbox-admin echo.def", "Tab")
    _ = try bash.screen(containing: "echo.default.svc.cluster.local:7000")
  }

  @Test func zshLoadsItsScript() throws {
    let dir = try Teardown.temporaryDirectory("kftray-zsh")
    let script = """
      fpath=(\(CompletionTests.completions) $fpath)
      autoload -Uz compinit && compinit -u -d \(dir)/zcompdump
      print -r -- ${_comps[kubectl-kftray]}
      autoload -Uz +X _kubectl-kftray
      """
    let r = try Binaries.run("/usr/bin/zsh", ["-f", "-c", script], environment: ["HOME": dir, "PATH": "/usr/bin:/bin"])
    #expect(r.status == 0 && r.stderr.isEmpty, "\(r.stderr)")
    #expect(r.stdout == "_kubectl-kftray\n")
  }

  @Test func fishLoadsItsScriptAndCompletes() throws {
    let dir = try Teardown.temporaryDirectory("kftray-fish")
    let script = "source \(CompletionTests.completions)/kubectl-kftray.fish; complete -C 'kubectl-kftray pr'; complete -C 'kubectl-kftray doctor -o '"
    let r = try Binaries.run(
      "/usr/bin/fish", ["--no-config", "-c", script],
      environment: ["HOME": dir, "XDG_CONFIG_HOME": dir, "XDG_DATA_HOME": dir, "PATH": "\(Binaries.directory):/usr/bin:/bin"])
    #expect(r.status == 0 && r.stderr.isEmpty, "\(r.stderr)")
    let words = r.stdout.split(separator: "\n").map { String($0.split(separator: "\t").first ?? "") }
    #expect(words.contains("proxy") && words.contains("json"), "\(r.stdout)")
  }

  @Test func bashLoadsTheStandaloneScript() throws {
    let r = try Binaries.run(
      "/bin/bash", ["-c", "source /usr/share/bash-completion/bash_completion; source \(CompletionTests.completions)/kubectl-kftray.bash; complete -p kubectl-kftray"])
    #expect(r.status == 0 && r.stderr.isEmpty, "\(r.stderr)")
    #expect(r.stdout.contains("kubectl-kftray"), "\(r.stdout)")
  }
}
