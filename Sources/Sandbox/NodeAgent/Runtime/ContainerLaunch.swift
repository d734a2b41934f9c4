import KubeClient

/// Everything needed to start one container: the program and its arguments after the image's
/// ENTRYPOINT/CMD and the pod's command/args, the environment, the user and capabilities, all turned
/// into one command line `ip netns exec <ns> setpriv ... <program> <args>`.
struct ContainerLaunch: Sendable, Equatable {
  var executable: String
  var arguments: [String]
  var environment: [String]
  var workingDirectory: String?

  enum Failure: Error, Equatable {
    /// The spec cannot be turned into a container (`CreateContainerConfigError`).
    case config(String)
    /// The command names a program the image does not have (runc's StartError, exit code 128).
    case programNotFound(String)

    var message: String {
      switch self {
      case .config(let message): return message
      case .programNotFound(let program):
        return "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"\(program)\": executable file not found in $PATH: unknown"
      }
    }
  }

  static let ip = "/usr/sbin/ip"
  static let setpriv = "/usr/bin/setpriv"

  /// containerd's default capability set for containers.
  static let defaultCapabilities = [
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
    "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
  ]

  static func make(
    pod: Pod, container: Container, image: ImageCatalog.Image, netnsName: String
  ) throws(Failure) -> ContainerLaunch {
    let podName = pod.metadata.name ?? ""
    let podRef = "\(podName)_\(pod.metadata.namespace ?? "")(\(pod.metadata.uid ?? ""))"
    let podContext = pod.spec?.securityContext
    let context = container.securityContext
    let explicitUser = context?.runAsUser ?? podContext?.runAsUser
    let user = explicitUser ?? 0  // every image here runs as root unless told otherwise
    let group = context?.runAsGroup ?? podContext?.runAsGroup ?? 0
    if context?.runAsNonRoot ?? podContext?.runAsNonRoot ?? false, user == 0 {
      // The kubelet's verifyRunAsNonRoot texts.
      if explicitUser != nil {
        throw .config("container's runAsUser breaks non-root policy (pod: \"\(podRef)\", container: \(container.name))")
      }
      throw .config("container has runAsNonRoot and image will run as root (pod: \"\(podRef)\", container: \(container.name))")
    }

    let environment = Environment.resolve(container.env ?? [], podName: podName, user: user, path: image.path)
    let lookup = Environment.lookup(environment)
    let command = (container.command ?? image.entrypoint).map { Environment.expand($0, lookup) }
    let args = (container.args ?? (container.command == nil ? image.cmd : [])).map { Environment.expand($0, lookup) }
    var argv = command + args
    guard !argv.isEmpty else { throw .config("no command specified") }
    switch image.program {
    case .fixed(let path): argv[0] = path
    case .busybox(let path, let applets):
      let applet = argv[0].split(separator: "/").last.map(String.init) ?? argv[0]
      guard applets?.contains(applet) ?? true else { throw .programNotFound(argv[0]) }
      argv = [path, applet] + argv.dropFirst()
    }

    var capabilities = Set(defaultCapabilities)
    let drop = (context?.capabilities?.drop ?? []).map(Self.capabilityName)
    if drop.contains("ALL") { capabilities.removeAll() } else { capabilities.subtract(drop) }
    let add = (context?.capabilities?.add ?? []).map(Self.capabilityName)
    if add.contains("ALL") { capabilities.formUnion(defaultCapabilities) } else { capabilities.formUnion(add) }
    let bounding = (["-all"] + capabilities.sorted().map { "+" + $0.lowercased() }).joined(separator: ",")

    var prefix = [
      "netns", "exec", netnsName, setpriv, "--reuid=\(user)", "--regid=\(group)", "--clear-groups", "--inh-caps=-all",
      "--bounding-set=\(bounding)",
    ]
    if context?.allowPrivilegeEscalation == false { prefix.append("--no-new-privs") }
    return ContainerLaunch(
      executable: ip, arguments: prefix + argv, environment: environment, workingDirectory: container.workingDir)
  }

  private static func capabilityName(_ name: String) -> String {
    let upper = name.uppercased()
    return upper.hasPrefix("CAP_") ? String(upper.dropFirst(4)) : upper
  }
}

/// A container's environment as the kubelet builds it: runtime defaults, then the spec's `env` in order,
/// each value expanded with `$(VAR)` against what came before.
enum Environment {
  static func resolve(_ env: [EnvVar], podName: String, user: Int, path: String = ImageCatalog.Image.standardPath)
    -> [String]
  {
    var ordered: [(String, String)] = [
      ("PATH", path), ("HOSTNAME", podName),
      ("HOME", user == 0 ? "/root" : "/"),
    ]
    for variable in env {
      let value = expand(variable.value ?? "", lookup(ordered.map { "\($0.0)=\($0.1)" }))
      if let index = ordered.firstIndex(where: { $0.0 == variable.name }) {
        ordered[index].1 = value
      } else {
        ordered.append((variable.name, value))
      }
    }
    return ordered.map { "\($0.0)=\($0.1)" }
  }

  static func lookup(_ environment: [String]) -> [String: String] {
    var map: [String: String] = [:]
    for entry in environment {
      guard let equals = entry.firstIndex(of: "=") else { continue }
      map[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
    }
    return map
  }

  /// Kubernetes' `$(VAR)` expansion: `$(NAME)` becomes its value when defined and stays as written
  /// otherwise, `$$` is an escaped `$`, any other `$` is kept.
  static func expand(_ input: String, _ values: [String: String]) -> String {
    var output = ""
    var index = input.startIndex
    while index < input.endIndex {
      let character = input[index]
      let next = input.index(after: index)
      guard character == "$", next < input.endIndex else {
        output.append(character)
        index = next
        continue
      }
      if input[next] == "$" {
        output.append("$")
        index = input.index(after: next)
      } else if input[next] == "(", let close = input[next...].firstIndex(of: ")") {
        let name = String(input[input.index(after: next)..<close])
        output += values[name] ?? "$(\(name))"
        index = input.index(after: close)
      } else {
        output.append(character)
        index = next
      }
    }
    return output
  }
}
