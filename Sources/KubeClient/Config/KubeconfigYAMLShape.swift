import Yams

/// What a kubeconfig's YAML may look like before Yams turns it into values. Yams traps (a force
/// unwrap in its Constructor) on a mapping key that is a mapping or a sequence (`? [a]: b`,
/// `{[a]: b}`), found by the kubeconfig fuzz target, and expands aliases without limit (a few hundred
/// bytes of `&a`/`*a` make billions of nodes). sigs.k8s.io/yaml, which kubectl reads with, refuses
/// both (keys must be strings; "excessive aliasing"), so they are refused here as invalid YAML.
struct KubeconfigYAMLShape {
  /// Far more than any real kubeconfig (a node per scalar, list and map) and small enough to walk in
  /// milliseconds.
  static let maxNodes = 200_000

  let path: String

  func check(_ root: Node) throws(KubeconfigError) {
    var remaining = Self.maxNodes
    var pending = [root]
    while let node = pending.popLast() {
      remaining -= 1
      guard remaining >= 0 else {
        throw .invalidYAML(path: path, reason: "more than \(Self.maxNodes) values once aliases are expanded (excessive aliasing)")
      }
      switch node {
      case .scalar: break
      case .sequence(let items): pending.append(contentsOf: items)
      case .mapping(let pairs):
        for (key, value) in pairs {
          guard case .scalar = key else {
            throw .invalidYAML(path: path, reason: "a mapping key\(Self.at(key)) is not a string")
          }
          pending.append(value)
        }
      case .alias:
        // The parser resolves aliases; one left here would trap in the constructor.
        throw .invalidYAML(path: path, reason: "an unresolved alias\(Self.at(node))")
      }
    }
  }

  static func at(_ node: Node) -> String {
    node.mark.map { " at line \($0.line), column \($0.column)" } ?? ""
  }
}
