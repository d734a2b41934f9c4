/// A minimal, truthful OpenAPI v3 publication.
///
/// kubectl's default `--validate=strict` needs one of two things before `create`/`apply`/`replace`:
/// either the server says (in OpenAPI v3) that the kind's PATCH operation takes the `fieldValidation`
/// query parameter — then kubectl leaves validation to the server and sends `?fieldValidation=Strict`
/// — or a full OpenAPI v2 schema to validate against on the client. With neither (404s) kubectl
/// refuses: `error validating data: failed to download openapi`.
///
/// The sandbox takes the first way: `/openapi/v3` lists the group versions, and each group-version
/// document carries the PATCH operations of the served kinds with their query parameters (no schemas:
/// the documents say nothing they cannot back). The server then does the field validation
/// (`FieldValidation`).
enum OpenAPI {
  static func document(for path: String) -> JSONValue? {
    switch path {
    case "/openapi/v3", "/openapi/v3/":
      var paths: JSONValue = [:]
      for groupVersion in documents.keys.sorted() {
        paths[groupVersion] = ["serverRelativeURL": .string("/openapi/v3/\(groupVersion)?hash=\(hash(groupVersion))")]
      }
      return ["paths": paths]
    default:
      guard path.hasPrefix("/openapi/v3/") else { return nil }
      return documents[String(path.dropFirst("/openapi/v3/".count))]
    }
  }

  /// A stable per-document tag (the documents never change within a build).
  private static func hash(_ groupVersion: String) -> String {
    var value: UInt64 = 14_695_981_039_346_656_037
    for byte in (documents[groupVersion]?.serialized() ?? []) {
      value = (value ^ UInt64(byte)) &* 1_099_511_628_211
    }
    return String(value, radix: 16, uppercase: true)
  }

  private static func parameter(_ name: String) -> JSONValue {
    ["name": .string(name), "in": "query", "schema": ["type": "string", "uniqueItems": true]]
  }

  private static func patchOperation(kind: String, group: String = "", operationID: String) -> JSONValue {
    [
      "operationId": .string(operationID),
      "parameters": [parameter("dryRun"), parameter("fieldManager"), parameter("fieldValidation"), parameter("force")],
      "x-kubernetes-action": "patch",
      "x-kubernetes-group-version-kind": ["group": .string(group), "version": "v1", "kind": .string(kind)],
    ]
  }

  private static func createOperation(kind: String, group: String = "", operationID: String) -> JSONValue {
    [
      "operationId": .string(operationID),
      "parameters": [parameter("dryRun"), parameter("fieldManager"), parameter("fieldValidation")],
      "x-kubernetes-action": "post",
      "x-kubernetes-group-version-kind": ["group": .string(group), "version": "v1", "kind": .string(kind)],
    ]
  }

  private static func document(paths: JSONValue) -> JSONValue {
    ["openapi": "3.0.0", "info": ["title": "Kubernetes", "version": "v1.32.0"], "paths": paths, "components": [:]]
  }

  static let documents: [String: JSONValue] = [
    "api/v1": document(paths: [
      "/api/v1/namespaces/{namespace}/pods": ["post": createOperation(kind: "Pod", operationID: "createCoreV1NamespacedPod")],
      "/api/v1/namespaces/{namespace}/pods/{name}": ["patch": patchOperation(kind: "Pod", operationID: "patchCoreV1NamespacedPod")],
      "/api/v1/namespaces/{namespace}/pods/{name}/status": [
        "patch": patchOperation(kind: "Pod", operationID: "patchCoreV1NamespacedPodStatus")
      ],
      "/api/v1/namespaces": ["post": createOperation(kind: "Namespace", operationID: "createCoreV1Namespace")],
      "/api/v1/namespaces/{name}": ["patch": patchOperation(kind: "Namespace", operationID: "patchCoreV1Namespace")],
      "/api/v1/nodes": ["post": createOperation(kind: "Node", operationID: "createCoreV1Node")],
      "/api/v1/nodes/{name}": ["patch": patchOperation(kind: "Node", operationID: "patchCoreV1Node")],
      "/api/v1/nodes/{name}/status": ["patch": patchOperation(kind: "Node", operationID: "patchCoreV1NodeStatus")],
    ]),
    "apis/authentication.k8s.io/v1": document(paths: [
      "/apis/authentication.k8s.io/v1/selfsubjectreviews": [
        "post": createOperation(
          kind: "SelfSubjectReview", group: "authentication.k8s.io", operationID: "createAuthenticationV1SelfSubjectReview")
      ]
    ]),
    "apis/authorization.k8s.io/v1": document(paths: [
      "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews": [
        "post": createOperation(
          kind: "SelfSubjectAccessReview", group: "authorization.k8s.io",
          operationID: "createAuthorizationV1SelfSubjectAccessReview")
      ]
    ]),
  ]
}

/// Server-side field validation (`?fieldValidation=Strict|Warn|Ignore`, default Warn) for the fields the
/// sandbox knows: the top level, `metadata`, a pod's `spec` and its containers. Deeper structures are
/// taken as sent.
enum FieldValidation {
  enum Mode: String { case strict = "Strict", warn = "Warn", ignore = "Ignore" }

  static func mode(_ request: APIRequest) throws(StatusError) -> Mode {
    guard let text = request.query["fieldValidation"], !text.isEmpty else { return .warn }
    guard let mode = Mode(rawValue: text) else {
      throw .badRequest("fieldValidation parameter unsupported: \(text)")
    }
    return mode
  }

  static let topLevel: Set<String> = ["apiVersion", "kind", "metadata", "spec", "status"]
  static let objectMeta: Set<String> = [
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers",
    "managedFields",
  ]
  static let podSpec: Set<String> = [
    "volumes", "initContainers", "containers", "ephemeralContainers", "restartPolicy", "terminationGracePeriodSeconds",
    "activeDeadlineSeconds", "dnsPolicy", "nodeSelector", "serviceAccountName", "serviceAccount",
    "automountServiceAccountToken", "nodeName", "hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace",
    "securityContext", "imagePullSecrets", "hostname", "subdomain", "affinity", "schedulerName", "tolerations",
    "hostAliases", "priorityClassName", "priority", "dnsConfig", "readinessGates", "runtimeClassName",
    "enableServiceLinks", "preemptionPolicy", "overhead", "topologySpreadConstraints", "setHostnameAsFQDN", "os",
    "hostUsers", "schedulingGates", "resourceClaims", "resources",
  ]
  static let container: Set<String> = [
    "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources", "resizePolicy",
    "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle",
    "terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce",
    "tty",
  ]

  /// Unknown field paths, in kube's notation (`spec.containers[0].foo`).
  static func unknownFields(_ object: JSONValue, kind: String) -> [String] {
    var unknown: [String] = []
    func check(_ value: JSONValue?, known: Set<String>, prefix: String) {
      guard let members = value?.objectValue else { return }
      for key in members.keys.sorted() where !known.contains(key) {
        unknown.append(prefix.isEmpty ? key : "\(prefix).\(key)")
      }
    }
    check(object, known: topLevel, prefix: "")
    check(object["metadata"], known: objectMeta, prefix: "metadata")
    if kind == "Pod" {
      check(object["spec"], known: podSpec, prefix: "spec")
      for list in ["containers", "initContainers"] {
        for (index, item) in (object["spec"]?[list]?.arrayValue ?? []).enumerated() {
          check(item, known: container, prefix: "spec.\(list)[\(index)]")
        }
      }
    }
    return unknown
  }

  /// Applies the mode: Strict refuses (400), Warn returns `Warning` header values, Ignore nothing.
  static func check(_ object: JSONValue, kind: String, mode: Mode) throws(StatusError) -> [String] {
    guard mode != .ignore else { return [] }
    let unknown = unknownFields(object, kind: kind)
    guard !unknown.isEmpty else { return [] }
    let descriptions = unknown.map { "unknown field \"\($0)\"" }
    if mode == .strict {
      throw .badRequest(
        "\(kind) in version \"v1\" cannot be handled as a \(kind): strict decoding error: "
          + descriptions.joined(separator: ", "))
    }
    return descriptions.map { "299 - \"\($0.replacingOccurrences(of: "\"", with: "\\\""))\"" }
  }
}

import Foundation
