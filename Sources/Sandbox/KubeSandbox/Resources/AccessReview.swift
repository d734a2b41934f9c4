import NIOHTTP1

/// `selfsubjectaccessreviews`: "may I do X?", answered by the same RBAC rules that guard requests.
enum AccessReview {
  static func selfSubjectAccessReview(_ request: APIRequest, user: UserInfo, authorizer: Authorizer) throws(StatusError)
    -> APIResponse
  {
    var review: JSONValue
    if request.contentType == KubeProtobuf.mediaType {
      do {
        let envelope = try KubeProtobuf.envelope(request.body)
        review = try KubeProtobuf.selfSubjectAccessReview(envelope.raw)
      } catch {
        throw .badRequest("the object provided is unrecognized (must be of type SelfSubjectAccessReview): invalid protobuf body")
      }
    } else {
      do { review = try JSONValue.parse(request.body) } catch {
      throw .badRequest("the object provided is unrecognized (must be of type SelfSubjectAccessReview): couldn't get version/kind; json parse error: \(error.description)")
      }
    }
    let spec = review["spec"] ?? [:]
    let attributes: RequestAttributes
    if let resource = spec["resourceAttributes"], resource.objectValue != nil {
      attributes = .resource(
        user: user, verb: resource["verb"]?.stringValue ?? "", group: resource["group"]?.stringValue ?? "",
        version: resource["version"]?.stringValue ?? "", namespace: resource["namespace"]?.stringValue ?? "",
        resource: resource["resource"]?.stringValue ?? "", subresource: resource["subresource"]?.stringValue ?? "",
        name: resource["name"]?.stringValue ?? "")
    } else if let nonResource = spec["nonResourceAttributes"], nonResource.objectValue != nil {
      attributes = .nonResource(
        user: user, verb: nonResource["verb"]?.stringValue ?? "", path: nonResource["path"]?.stringValue ?? "")
    } else {
      throw .invalid(
        kind: "SelfSubjectAccessReview", group: "authorization.k8s.io", name: "",
        errors: [.invalid("spec.resourceAttributes", value: .null, "exactly one of nonResourceAttributes or resourceAttributes must be specified")])
    }
    var status: JSONValue = [:]
    switch authorizer.authorize(attributes) {
    case .allow(let reason):
      status["allowed"] = true
      status["reason"] = .string(reason)
    case .deny(let reason):
      status["allowed"] = false
      if !reason.isEmpty { status["reason"] = .string(reason) }
    }
    review["kind"] = "SelfSubjectAccessReview"
    review["apiVersion"] = "authorization.k8s.io/v1"
    review["metadata"] = ["creationTimestamp": .null]
    review["status"] = status
    return .json(review, status: .created)
  }
}

/// `selfsubjectreviews` (`kubectl auth whoami`): who the server thinks the caller is. The request body
/// has no inputs, so it is not read (kubectl sends it as protobuf).
enum SelfSubjectReview {
  static func respond(user: UserInfo) -> APIResponse {
    var userInfo: JSONValue = ["username": .string(user.name), "groups": .array(user.groups.map { .string($0) })]
    if !user.uid.isEmpty { userInfo["uid"] = .string(user.uid) }
    return .json(
      [
        "kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1", "metadata": ["creationTimestamp": .null],
        "status": ["userInfo": userInfo],
      ], status: .created)
  }
}
