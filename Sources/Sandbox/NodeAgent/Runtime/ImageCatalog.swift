import Foundation

/// The "images" this node can run: each maps to a program on this machine. Anything else fails to pull,
/// as an image that exists in no registry does.
struct ImageCatalog: Sendable {
  /// Where `kftray-relay` and `kftray-testserver` are.
  let binDirectory: String
  let busybox: String
  /// What `busybox --list` names (nil when it could not be asked: then every name is tried).
  let busyboxApplets: Set<String>?

  /// A directory of `<applet> → busybox` links, first in a busybox container's PATH: the busybox image
  /// has every applet in /bin, while Debian's busybox installs none, so without it `sh -c 'nslookup x'`
  /// would find the host's programs or nothing.
  let appletDirectory: String?

  init(binDirectory: String, stateDirectory: String? = nil, busybox: String = "/usr/bin/busybox") {
    self.binDirectory = binDirectory
    self.busybox = busybox
    let applets = (try? HostCommand.run(busybox, ["--list"])).map { Set($0.split(separator: "\n").map(String.init)) }
    busyboxApplets = applets
    appletDirectory = stateDirectory.flatMap { Self.linkApplets(applets ?? [], of: busybox, into: $0 + "/busybox-applets") }
  }

  /// Creates the applet links (again after a crash: existing links are kept). Nil when it fails.
  static func linkApplets(_ applets: Set<String>, of busybox: String, into directory: String) -> String? {
    let manager = FileManager.default
    guard !applets.isEmpty, (try? manager.createDirectory(atPath: directory, withIntermediateDirectories: true)) != nil
    else { return nil }
    for applet in applets where !applet.contains("/") {
      let link = directory + "/" + applet
      if (try? manager.destinationOfSymbolicLink(atPath: link)) == nil {
        try? manager.createSymbolicLink(atPath: link, withDestinationPath: busybox)
      }
    }
    return directory
  }

  /// What an image provides: its program and the image's ENTRYPOINT and CMD.
  struct Image: Sendable, Equatable {
    /// `docker.io/library/busybox:latest`, as containerd reports a normalised reference.
    var reference: String
    var entrypoint: [String]
    var cmd: [String]
    /// Resolves `argv[0]` of the container's final command line to a program on this machine.
    var program: Program
    /// The image's PATH (its `ENV PATH`).
    var path = Image.standardPath

    static let standardPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// What the image weighs here: the size of the program that stands in for it.
    var size: Int64 {
      let path: String
      switch program {
      case .fixed(let fixed): path = fixed
      case .busybox(let busybox, _): path = busybox
      }
      return ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
    }

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
      var image = Image(reference: reference, entrypoint: [], cmd: ["sh"], program: .busybox(busybox, applets: busyboxApplets))
      if let appletDirectory { image.path = appletDirectory + ":" + Image.standardPath }
      return image
    case "ghcr.io/hcavarsan/kftray-server", "ghcr.io/kubectl-kftray/kftray-relay":
      // Our relay's own image (Sources/kftray-relay/Containerfile) runs the same binary.
      let relay = binDirectory + "/kftray-relay"
      return Image(reference: reference, entrypoint: [relay], cmd: [], program: .fixed(relay))
    case "docker.io/kftray-sandbox/bench":
      // The benchmarks' load servers (`kftray-bench bulk-server`, `echo-server`) as pods.
      let bench = binDirectory + "/kftray-bench"
      return Image(reference: reference, entrypoint: [bench], cmd: [], program: .fixed(bench))
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
