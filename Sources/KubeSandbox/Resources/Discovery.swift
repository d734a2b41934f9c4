enum Discovery {
  static func document(for path: String, request: APIRequest) -> APIResponse? { nil }
}
