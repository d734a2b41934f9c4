/// The plugin's version, as the release archive, the krew manifest and the User-Agent carry it.
public enum PluginVersion {
  public static let current = "0.1.0"
  public static var userAgent: String {
    #if arch(x86_64)
      let arch = "amd64"
    #elseif arch(arm64)
      let arch = "arm64"
    #else
      let arch = "unknown"
    #endif
    #if os(Linux)
      let os = "linux"
    #else
      let os = "darwin"
    #endif
    return "kubectl-kftray/v\(current) (\(os)/\(arch))"
  }
}
