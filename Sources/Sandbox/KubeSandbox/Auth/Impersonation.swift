import NIOHTTP1

/// `Impersonate-User`, `Impersonate-Group` (repeatable) and `Impersonate-Uid` headers (kubectl `--as`,
/// `--as-group`, `--as-uid`), as kube-apiserver's impersonation filter handles them: each requested
/// identity needs the `impersonate` verb on `users`, `groups` or `uids.authentication.k8s.io` (service
/// accounts: `serviceaccounts` in their namespace); the request then runs as the impersonated user.
enum Impersonation {
  static func apply(headers: HTTPHeaders, to user: UserInfo, authorizer: Authorizer) throws(StatusError) -> UserInfo {
    let name = headers.first(name: "impersonate-user")
    let groups = headers["impersonate-group"]
    let uid = headers.first(name: "impersonate-uid")
    guard let name else {
      if !groups.isEmpty || uid != nil {
        throw .internalError("requested impersonation of groups or uid without impersonating a user")
      }
      return user
    }

    var checks: [RequestAttributes] = []
    let serviceAccount = name.hasPrefix("system:serviceaccount:") ? name.split(separator: ":") : []
    if serviceAccount.count == 4 {
      checks.append(
        .resource(
          user: user, verb: "impersonate", namespace: String(serviceAccount[2]), resource: "serviceaccounts",
          name: String(serviceAccount[3])))
    } else {
      checks.append(.resource(user: user, verb: "impersonate", resource: "users", name: name))
    }
    for group in groups {
      checks.append(.resource(user: user, verb: "impersonate", resource: "groups", name: group))
    }
    if let uid {
      checks.append(
        .resource(user: user, verb: "impersonate", group: "authentication.k8s.io", resource: "uids", name: uid))
    }
    for attributes in checks {
      if case .deny(let reason) = authorizer.authorize(attributes) {
        throw Authorizer.forbidden(attributes, reason: reason)
      }
    }
    // Service accounts carry their groups; everybody but the anonymous user is authenticated.
    var resultGroups = groups
    if serviceAccount.count == 4 {
      resultGroups += ["system:serviceaccounts", "system:serviceaccounts:\(serviceAccount[2])"]
    }
    if name == Authenticator.anonymous.name {
      return UserInfo(anonymous: name, groups: resultGroups)
    }
    return UserInfo(name: name, uid: uid ?? "", groups: resultGroups)
  }
}
