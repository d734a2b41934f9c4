/// The "images" this node can run: each maps to a program on this machine. Anything else fails to pull,
/// as an image that exists in no registry does.
struct ImageCatalog: Sendable {
  /// Where `kftray-relay` and `kftray-testserver` are.
  let binDirectory: String
  let busybox: String
  /// What `busybox --list` names (nil when it could not be asked: then every name is tried).
  let busyboxApplets: Set<String>?

  init(binDirectory: String, busybox: String = "/usr/bin/busybox") {
    self.binDirectory = binDirectory
    self.busybox = busybox
    busyboxApplets = (try? HostCommand.run(busybox, ["--list"])).map { Set($0.split(separator: "\n").map(String.init)) }
  }

  /// What an image provides: its program and the image's ENTRYPOINT and CMD.
  struct Image: Sendable, Equatable {
    /// `docker.io/library/busybox:latest`, as containerd reports a normalised reference.
    var reference: String
    var entrypoint: [String]
    var cmd: [String]
    /// Resolves `argv[0]` of the container's final command line to a program on this machine.
    var program: Program

    enum Program: Sendable, Equatable {
      /// Runs as given: argv[0] is replaced by this path.
      case fixed(String)
      /// Busybox: argv[0] names the applet (`sh`, `/bin/sleep`), run as `busybox <applet> ...`; a name
      /// that is no applet is a program the image does not have.
      case busybox(String, applets: Set<String>?)
    }
  }

  struct PullError: Error, Equatable {
    var reference: String
    /// The waiting message, worded like containerd's NotFound as the kubelet reports it.
    var message: String { "rpc error: code = NotFound desc = failed to pull and unpack image \"\(reference)\": failed to resolve reference \"\(reference)\": \(reference): not found" }
  }

  func resolve(_ image: String) throws(PullError) -> Image {
    let reference = Self.normalise(image)
    let repository = Self.repository(of: reference)
    switch repository {
    case "docker.io/library/busybox":
      return Image(reference: reference, entrypoint: [], cmd: ["sh"], program: .busybox(busybox, applets: busyboxApplets))
    case "ghcr.io/hcavarsan/kftray-server":
      let relay = binDirectory + "/kftray-relay"
      return Image(reference: reference, entrypoint: [relay], cmd: [], program: .fixed(relay))
    case "docker.io/kftray-sandbox/testserver":
      let server = binDirectory + "/kftray-testserver"
      return Image(reference: reference, entrypoint: [server], cmd: [], program: .fixed(server))
    default:
      throw PullError(reference: reference)
    }
  }

  /// Docker's normalisation: no registry → docker.io, no namespace on docker.io → library/, no tag → latest.
  static func normalise(_ image: String) -> String {
    var name = image
    let firstSlash = name.firstIndex(of: "/")
    let firstComponent = firstSlash.map { String(name[..<$0]) }
    let hasRegistry = firstComponent.map { $0.contains(".") || $0.contains(":") || $0 == "localhost" } ?? false
    if !hasRegistry {
      name = (firstSlash == nil ? "docker.io/library/" : "docker.io/") + name
    }
    let lastComponent = name.split(separator: "/").last ?? ""
    if !lastComponent.contains(":") && !lastComponent.contains("@") { name += ":latest" }
    return name
  }

  /// The reference without its tag or digest.
  static func repository(of reference: String) -> String {
    var name = reference
    if let at = name.firstIndex(of: "@") { name = String(name[..<at]) }
    if let slash = name.lastIndex(of: "/"), let colon = name[slash...].lastIndex(of: ":") { name = String(name[..<colon]) }
    return name
  }
}
