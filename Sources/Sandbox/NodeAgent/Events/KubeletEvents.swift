import Foundation
import KubeClient

/// The events a kubelet records about a pod's containers, with the reasons and messages of
/// `pkg/kubelet/events` and the image manager and runtime manager that use them.
struct KubeletEvents: Sendable {
  let recorder: EventRecorder
  let pod: Pod

  private func container(_ name: String, _ type: String, _ reason: String, _ message: String) {
    recorder.record(pod, fieldPath: "spec.containers{\(name)}", type, reason, message)
  }

  func pulling(_ container: String, image: String) {
    self.container(container, "Normal", "Pulling", "Pulling image \(goQuoted(image))")
  }

  func pulled(_ container: String, image: String, seconds: Double, size: Int64) {
    let took = GoDuration.string(seconds: seconds)
    self.container(
      container, "Normal", "Pulled",
      "Successfully pulled image \(goQuoted(image)) in \(took) (\(took) including waiting). Image size: \(size) bytes.")
  }

  func alreadyPresent(_ container: String, image: String) {
    self.container(container, "Normal", "Pulled", "Container image \(goQuoted(image)) already present on machine")
  }

  /// A failed pull: the image manager's message, then the runtime manager's `Error: ErrImagePull`.
  func pullFailed(_ container: String, image: String, error: String) {
    self.container(container, "Warning", "Failed", "Failed to pull image \(goQuoted(image)): \(error)")
    self.container(container, "Warning", "Failed", "Error: ErrImagePull")
  }

  func pullBackOff(_ container: String, image: String) {
    self.container(container, "Normal", "BackOff", "Back-off pulling image \(goQuoted(image))")
    self.container(container, "Warning", "Failed", "Error: ImagePullBackOff")
  }

  func created(_ container: String) { self.container(container, "Normal", "Created", "Created container: \(container)") }
  func started(_ container: String) { self.container(container, "Normal", "Started", "Started container \(container)") }
  func killing(_ container: String) { self.container(container, "Normal", "Killing", "Stopping container \(container)") }

  /// `format.Pod`: `name_namespace(uid)`.
  func restartBackOff(_ container: String, podRef: String) {
    self.container(
      container, "Warning", "BackOff", "Back-off restarting failed container \(container) in pod \(podRef)")
  }

  /// Go's `%q` for the plain strings image references are.
  private func goQuoted(_ text: String) -> String {
    "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
  }
}

/// Go's `time.Duration.String()` for the durations a pull takes (sub-second and seconds ranges, minutes
/// and hours as `1m2.5s`, `1h0m0s`).
enum GoDuration {
  static func string(seconds: Double) -> String {
    let nanos = Int64((seconds * 1e9).rounded())
    if nanos == 0 { return "0s" }
    if nanos < 1_000 { return "\(nanos)ns" }
    if nanos < 1_000_000 { return fraction(nanos, unit: 1_000, digits: 3) + "µs" }
    if nanos < 1_000_000_000 { return fraction(nanos, unit: 1_000_000, digits: 6) + "ms" }
    let hours = nanos / 3_600_000_000_000
    let minutes = (nanos / 60_000_000_000) % 60
    let rest = nanos % 60_000_000_000
    var text = fraction(rest, unit: 1_000_000_000, digits: 9) + "s"
    if hours > 0 || minutes > 0 { text = "\(minutes)m" + text }
    if hours > 0 { text = "\(hours)h" + text }
    return text
  }

  private static func fraction(_ value: Int64, unit: Int64, digits: Int) -> String {
    var fractional = String(value % unit)
    fractional = String(repeating: "0", count: digits - fractional.count) + fractional
    while fractional.hasSuffix("0") { fractional.removeLast() }
    return fractional.isEmpty ? "\(value / unit)" : "\(value / unit).\(fractional)"
  }
}
