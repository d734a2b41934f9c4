/// The REST resources (namespaces, pods, nodes, access reviews).
final class ResourceAPI: Sendable {
  let store: ObjectStore

  init(store: ObjectStore) { self.store = store }

  func handle(_ request: APIRequest, info: RequestInfo, user: UserInfo) -> APIResponse {
    .error(.pathNotFound)
  }
}
