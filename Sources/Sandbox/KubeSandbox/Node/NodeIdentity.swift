import KubeClient

/// The API as a node sees it: a kubeconfig with the node's credentials, loaded as kubectl loads it but
/// without the environment (a `KUBECONFIG` of whoever started the sandbox must not change the node's identity).
enum NodeIdentity {
  static func api(kubeconfig: String, context: String? = nil) throws -> KubeAPI {
    var overrides = ConfigOverrides()
    overrides.kubeconfig = kubeconfig
    overrides.context = context
    let config = try KubeconfigLoader(environment: [:]).load(overrides)
    return KubeAPI(config: config, credentials: KubeCredentials(config: config))
  }
}
