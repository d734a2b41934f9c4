import Foundation
import NIOCore
import NIOHTTP1

/// The REST resources: generic create/get/list/watch/update/patch/delete over `ResourceDefinition`s,
/// plus the subresources (`status`, `pods/binding`, `pods/log`, `pods/portforward`) and
/// `selfsubjectaccessreviews`. Authorization has already happened in the `Router`.
final class ResourceAPI: Sendable {
  let store: ObjectStore
  let authorizer: Authorizer
  /// By `apiVersion/resource` (`v1/pods`, `events.k8s.io/v1/events`).
  let definitions: [String: ResourceDefinition]
  /// Where `pods/log` and `pods/portforward` go once a pod is bound to a node.
  let nodeStreams: NodeStreamProvider

  /// Seconds between a watch's periodic bookmarks (kube: a minute; tests shorten it).
  let bookmarkInterval: Double

  init(
    store: ObjectStore, authorizer: Authorizer, nodeStreams: NodeStreamProvider = NoNodeStreams(),
    bookmarkInterval: Double = BookmarkSchedule.defaultInterval
  ) {
    self.store = store
    self.authorizer = authorizer
    self.nodeStreams = nodeStreams
    self.bookmarkInterval = bookmarkInterval
    let served = [
      Pods.definition, Namespaces.definition, Nodes.definition, Events.definition, Events.eventsV1Definition,
      Services.definition,
    ]
    definitions = Dictionary(uniqueKeysWithValues: served.map { ("\($0.apiVersion)/\($0.resource)", $0) })
  }

  func handle(_ request: APIRequest, info: RequestInfo, user: UserInfo) -> APIResponse {
    do {
      return try route(request, info: info, user: user)
    } catch {
      return .error(error)
    }
  }

  private func route(_ request: APIRequest, info: RequestInfo, user: UserInfo) throws(StatusError) -> APIResponse {
    if info.apiGroup == "authorization.k8s.io", info.apiVersion == "v1", info.resource == "selfsubjectaccessreviews",
      info.name.isEmpty
    {
      guard request.method == .POST else { throw .methodNotAllowed }
      return try AccessReview.selfSubjectAccessReview(request, user: user, authorizer: authorizer)
    }
    if info.apiGroup == "authentication.k8s.io", info.apiVersion == "v1", info.resource == "selfsubjectreviews",
      info.name.isEmpty
    {
      guard request.method == .POST else { throw .methodNotAllowed }
      return SelfSubjectReview.respond(user: user)
    }
    let groupVersion = info.apiGroup.isEmpty ? info.apiVersion : "\(info.apiGroup)/\(info.apiVersion)"
    guard let definition = definitions["\(groupVersion)/\(info.resource)"] else { throw .pathNotFound }
    if definition.readOnly, !(info.subresource.isEmpty && [.GET, .HEAD].contains(request.method)) {
      throw .methodNotAllowed
    }
    if !definition.namespaced && !info.namespace.isEmpty { throw .pathNotFound }
    let namespace = definition.namespaced ? info.namespace : ""

    switch info.subresource {
    case "":
      return try serveMain(request, info: info, definition: definition, namespace: namespace)
    case "status" where definition.resource != "namespaces" || request.method == .GET:
      return try serveStatus(request, info: info, definition: definition, namespace: namespace)
    case "binding" where definition.resource == "pods":
      guard request.method == .POST else { throw .methodNotAllowed }
      return try bind(request, namespace: namespace, name: info.name)
    case "log" where definition.resource == "pods":
      guard request.method == .GET else { throw .methodNotAllowed }
      return try podLog(request, namespace: namespace, name: info.name)
    case "portforward" where definition.resource == "pods":
      guard request.method == .GET || request.method == .POST else { throw .methodNotAllowed }
      try authorizeWebSocketPortForward(request, info: info, user: user)  // Proxy/PortForwardProxy.swift
      return try portForward(request, namespace: namespace, name: info.name)
    default:
      throw .pathNotFound
    }
  }

  private func key(_ definition: ResourceDefinition, _ namespace: String, _ name: String) -> ObjectKey {
    ObjectKey(resource: definition.resource, namespace: namespace, name: name)
  }

  private func get(_ definition: ResourceDefinition, _ namespace: String, _ name: String) throws(StatusError)
    -> JSONValue
  {
    guard let object = store.get(key(definition, namespace, name)) else {
      throw .notFound(resource: definition.resource, name: name)
    }
    return object
  }

  // MARK: - Main resource

  private func serveMain(
    _ request: APIRequest, info: RequestInfo, definition: ResourceDefinition, namespace: String
  ) throws(StatusError) -> APIResponse {
    let name = info.name
    switch (request.method, name.isEmpty) {
    case (.GET, true), (.HEAD, true):
      if request.query.flag("watch") {
        return try watch(request, definition: definition, namespace: namespace, name: nil)
      }
      return try list(request, definition: definition, namespace: namespace)
    case (.GET, false), (.HEAD, false):
      if request.query.flag("watch") {
        return try watch(request, definition: definition, namespace: namespace, name: name)
      }
      return respond(definition.present(try get(definition, namespace, name)), request: request, definition: definition)
    case (.POST, true):
      return try create(request, definition: definition, namespace: namespace)
    case (.PUT, false):
      return try update(request, definition: definition, namespace: namespace, name: name, subresource: nil)
    case (.PATCH, false):
      return try patch(request, definition: definition, namespace: namespace, name: name, subresource: nil)
    case (.DELETE, false):
      return try delete(request, definition: definition, namespace: namespace, name: name)
    case (.DELETE, true):
      return try deleteCollection(request, definition: definition, namespace: namespace)
    default:
      throw .methodNotAllowed
    }
  }

  private func decodeBody(_ request: APIRequest, definition: ResourceDefinition) throws(StatusError) -> JSONValue {
    // The sandbox stores JSON; of the protobuf encoding it reads only what kubectl's typed clients send
    // (`KubeProtobuf`): namespaces here, access reviews in `AccessReview`.
    if request.contentType == KubeProtobuf.mediaType {
      if definition.kind == "Namespace", let envelope = try? KubeProtobuf.envelope(request.body),
        envelope.kind == "Namespace", let namespace = try? KubeProtobuf.namespace(envelope.raw)
      {
        return namespace
      }
      throw StatusError(
        code: 415, reason: "UnsupportedMediaType",
        message: "the body of the request was in an unknown format - accepted media types include: application/json")
    }
    let body: JSONValue
    do { body = try JSONValue.parse(request.body) } catch {
      throw .badRequest("the object provided is unrecognized (must be of type \(definition.kind)): couldn't get version/kind; json parse error: \(error.description)")
    }
    guard body.objectValue != nil else {
      throw .badRequest("the object provided is unrecognized (must be of type \(definition.kind)): couldn't get version/kind; json parse error: json: cannot unmarshal into Go value of type struct")
    }
    if let kind = body["kind"]?.stringValue, !kind.isEmpty, kind != definition.kind {
      throw .badRequest("the object provided is unrecognized (must be of type \(definition.kind)): \(kind) in version \"\(body["apiVersion"]?.stringValue ?? "")\" cannot be handled as a \(definition.kind)")
    }
    return body
  }

  private func create(_ request: APIRequest, definition: ResourceDefinition, namespace: String) throws(StatusError)
    -> APIResponse
  {
    var object = try decodeBody(request, definition: definition)
    var warnings = try FieldValidation.check(object, kind: definition.kind, mode: try FieldValidation.mode(request))
    object["kind"] = .string(definition.kind)
    object["apiVersion"] = .string(definition.apiVersion)
    var metadata = object["metadata"] ?? [:]
    if definition.namespaced {
      if let bodyNamespace = metadata["namespace"]?.stringValue, !bodyNamespace.isEmpty, bodyNamespace != namespace {
        throw .badRequest("the namespace of the provided object does not match the namespace sent on the request")
      }
      metadata["namespace"] = .string(namespace)
      try requireActiveNamespace(namespace, creating: definition.resource, name: metadata["name"]?.stringValue)
    } else {
      metadata["namespace"] = nil
    }
    // System fields are the server's (`rest.FillObjectMetaSystemFields`, `BeforeCreate`).
    metadata["uid"] = .string(Metadata.newUID())
    metadata["creationTimestamp"] = .string(Metadata.timestamp())
    for field in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "generation"] {
      metadata[field] = nil
    }
    object["metadata"] = metadata
    let dryRun = try dryRunRequested(request)
    if dryRun {
      // Validated and defaulted but not stored: no resourceVersion, as kube's dry-run storage.
      if (metadata["name"]?.stringValue ?? "").isEmpty, let prefix = metadata["generateName"]?.stringValue,
        !prefix.isEmpty
      {
        object.set("metadata", "name", to: .string(NameGenerator.generate(prefix: prefix)))
      }
      try definition.prepareForCreate(&object)
      warnings += try admission(for: definition, namespace: namespace)(object)
      if store.get(key(definition, namespace, object["metadata"]?["name"]?.stringValue ?? "")) != nil {
        throw .alreadyExists(resource: definition.resource, name: object["metadata"]?["name"]?.stringValue ?? "")
      }
      return Self.adding(warnings, to: respond(object, request: request, definition: definition, status: .created))
    }
    if (metadata["name"]?.stringValue ?? "").isEmpty && (metadata["generateName"]?.stringValue ?? "").isEmpty {
      try definition.prepareForCreate(&object)  // reports the missing name as kube does
    }
    var admissionWarnings: [String] = []
    // Read before the store's lock is taken: `prepare` runs under it.
    let admission = admission(for: definition, namespace: namespace)
    let created = try store.create(resource: definition.resource, namespace: namespace, object: object) {
      (object: inout JSONValue) throws(StatusError) in
      try definition.prepareForCreate(&object)
      // Validating admission sees the defaulted object with its generated name, as in kube-apiserver.
      admissionWarnings = try admission(object)
    }
    warnings += admissionWarnings
    return Self.adding(warnings, to: respond(created, request: request, definition: definition, status: .created))
  }

  /// `Warning` headers (field validation in Warn mode).
  static func adding(_ warnings: [String], to response: APIResponse) -> APIResponse {
    guard !warnings.isEmpty, case .full(let status, var headers, let body) = response else { return response }
    for warning in warnings { headers.add(name: "Warning", value: warning) }
    return .full(status: status, headers: headers, body: body)
  }

  private func dryRunRequested(_ request: APIRequest) throws(StatusError) -> Bool {
    let values = request.query.items.filter { $0.name == "dryRun" }.map(\.value)
    for value in values where value != "All" {
      throw .badRequest("Invalid dryRun value: \(value). Must be one of: All")
    }
    return !values.isEmpty
  }

  /// Validating admission for new objects of `definition` in `namespace` (Pod Security for pods), with
  /// the namespace read now. The returned check gives `Warning` header values or throws the rejection.
  private func admission(for definition: ResourceDefinition, namespace: String)
    -> (JSONValue) throws(StatusError) -> [String]
  {
    guard definition.resource == "pods",
      let labels = store.get(ObjectKey(resource: "namespaces", name: namespace))?["metadata"]?["labels"]
    else { return { _ throws(StatusError) in [] } }
    return { pod throws(StatusError) in try PodSecurityAdmission.admit(pod: pod, namespaceLabels: labels) }
  }

  /// NamespaceLifecycle admission: no new objects in a missing or terminating namespace.
  private func requireActiveNamespace(_ namespace: String, creating resource: String, name: String?) throws(StatusError) {
    guard let object = store.get(ObjectKey(resource: "namespaces", name: namespace)) else {
      throw .notFound(resource: "namespaces", name: namespace)
    }
    if object["status"]?["phase"]?.stringValue == "Terminating" {
      throw .forbidden(
        resource: resource, name: name,
        why: "unable to create new content in namespace \(namespace) because it is being terminated")
    }
  }

  private func update(
    _ request: APIRequest, definition: ResourceDefinition, namespace: String, name: String, subresource: String?
  ) throws(StatusError) -> APIResponse {
    var body = try decodeBody(request, definition: definition)
    let bodyName = body["metadata"]?["name"]?.stringValue ?? ""
    if bodyName != name {
      throw .badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
    }
    let warnings = try FieldValidation.check(body, kind: definition.kind, mode: try FieldValidation.mode(request))
    body["kind"] = .string(definition.kind)
    body["apiVersion"] = .string(definition.apiVersion)
    let dryRun = try dryRunRequested(request)
    let updated = try replace(
      definition: definition, namespace: namespace, name: name, subresource: subresource, dryRun: dryRun
    ) { _ throws(StatusError) in body }
    return Self.adding(warnings, to: respond(updated, request: request, definition: definition))
  }

  private func patch(
    _ request: APIRequest, definition: ResourceDefinition, namespace: String, name: String, subresource: String?
  ) throws(StatusError) -> APIResponse {
    let dryRun = try dryRunRequested(request)
    let contentType = request.contentType
    let body = request.body
    let mode = try FieldValidation.mode(request)
    var warnings: [String] = []
    let updated = try replace(
      definition: definition, namespace: namespace, name: name, subresource: subresource, dryRun: dryRun
    ) { current throws(StatusError) in
      var patched = try Patch.apply(contentType: contentType, patch: body, to: current)
      warnings = try FieldValidation.check(patched, kind: definition.kind, mode: mode)
      // A patch that names another resourceVersion is a precondition, like an update's.
      if patched["metadata"]?["resourceVersion"] == current["metadata"]?["resourceVersion"] {
        patched.set("metadata", "resourceVersion", to: nil)
      }
      return patched
    }
    return Self.adding(warnings, to: respond(updated, request: request, definition: definition))
  }

  /// The shared update path of PUT and PATCH (main resource or `status`): optimistic concurrency on
  /// `metadata.resourceVersion`, immutable system metadata, status or spec reset as the subresource
  /// requires, validation, and completion of a pending graceful delete.
  private func replace(
    definition: ResourceDefinition, namespace: String, name: String, subresource: String?, dryRun: Bool,
    produce: (JSONValue) throws(StatusError) -> JSONValue
  ) throws(StatusError) -> JSONValue {
    let objectKey = key(definition, namespace, name)
    func transform(_ current: JSONValue) throws(StatusError) -> JSONValue {
      var new = try produce(current)
      guard new.objectValue != nil else { throw .badRequest("the object provided is not an object") }
      if let version = new["metadata"]?["resourceVersion"]?.stringValue, !version.isEmpty,
        version != current["metadata"]?["resourceVersion"]?.stringValue
      {
        throw .conflict(
          resource: definition.resource, name: name,
          why: "the object has been modified; please apply your changes to the latest version and try again")
      }
      if let uid = new["metadata"]?["uid"]?.stringValue, !uid.isEmpty, uid != current["metadata"]?["uid"]?.stringValue {
        throw .conflict(
          resource: definition.resource, name: name,
          why: "Precondition failed: UID in precondition: \(uid), UID in object meta: \(current["metadata"]?["uid"]?.stringValue ?? "")")
      }
      new["kind"] = current["kind"]
      new["apiVersion"] = current["apiVersion"]
      for field in ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"] {
        new.set("metadata", field, to: current["metadata"]?[field])
      }
      if subresource == "status" {
        // Status writes change only the status (podStatusStrategy / nodeStatusStrategy).
        var merged = current
        merged["status"] = new["status"]
        new = merged
      } else {
        new["status"] = current["status"]
        try definition.validateUpdate(current, &new)
      }
      return new
    }
    if dryRun {
      guard let current = store.get(objectKey) else { throw .notFound(resource: definition.resource, name: name) }
      return try transform(current)
    }
    let updated = try store.update(objectKey, transform: transform)
    return try finishDeletionIfDue(definition: definition, key: objectKey, object: updated)
  }

  /// An object that is being deleted goes away once its finalizers are gone and its grace has been
  /// cut to zero (`deletionGracePeriodSeconds: 0`), as the garbage collector and kubelet arrange in kube.
  private func finishDeletionIfDue(definition: ResourceDefinition, key: ObjectKey, object: JSONValue) throws(StatusError)
    -> JSONValue
  {
    // Namespaces go only when empty (`namespaceContentRemoved`).
    guard definition.resource != "namespaces", object["metadata"]?["deletionTimestamp"] != nil,
      (object["metadata"]?["finalizers"]?.arrayValue ?? []).isEmpty,
      object["metadata"]?["deletionGracePeriodSeconds"]?.intValue == 0
    else { return object }
    let removed = try store.delete(key)
    namespaceContentRemoved(key.namespace)
    return removed
  }

  private func delete(_ request: APIRequest, definition: ResourceDefinition, namespace: String, name: String)
    throws(StatusError) -> APIResponse
  {
    let options = try DeleteOptions(request: request)
    let objectKey = key(definition, namespace, name)
    let current = try get(definition, namespace, name)
    if let uid = options.preconditionUID, uid != current["metadata"]?["uid"]?.stringValue {
      throw .conflict(
        resource: definition.resource, name: name,
        why: "Precondition failed: UID in precondition: \(uid), UID in object meta: \(current["metadata"]?["uid"]?.stringValue ?? "")")
    }
    if let version = options.preconditionResourceVersion, version != current["metadata"]?["resourceVersion"]?.stringValue {
      throw .conflict(
        resource: definition.resource, name: name,
        why: "Precondition failed: ResourceVersion in precondition: \(version), ResourceVersion in object meta: \(current["metadata"]?["resourceVersion"]?.stringValue ?? "")")
    }
    if definition.resource == "namespaces" {
      return respond(try deleteNamespace(name, dryRun: options.dryRun), request: request, definition: definition)
    }
    let grace = definition.gracePeriod(current, options.gracePeriodSeconds)
    if options.dryRun { return respond(current, request: request, definition: definition) }
    let finalizers = current["metadata"]?["finalizers"]?.arrayValue ?? []
    if grace == nil && finalizers.isEmpty {
      let removed = try store.delete(objectKey)
      namespaceContentRemoved(namespace)
      return respond(removed, request: request, definition: definition)
    }
    // Graceful (or finalized) delete: mark, keep, and let the node agent (or finalizer owner) finish.
    let updated = try store.update(objectKey) { object throws(StatusError) in
      var object = object
      let requested = grace ?? 0
      let existing = object["metadata"]?["deletionGracePeriodSeconds"]?.intValue
      if existing == nil || requested < existing! {
        object.set("metadata", "deletionGracePeriodSeconds", to: .int(requested))
        object.set(
          "metadata", "deletionTimestamp", to: .string(Metadata.timestamp(Date().addingTimeInterval(Double(requested)))))
      }
      return object
    }
    return respond(try finishDeletionIfDue(definition: definition, key: objectKey, object: updated),
      request: request, definition: definition)
  }

  private func deleteCollection(_ request: APIRequest, definition: ResourceDefinition, namespace: String)
    throws(StatusError) -> APIResponse
  {
    let (labels, fields) = try selectors(request, definition: definition)
    let scope = definition.namespaced && !namespace.isEmpty ? namespace : nil
    var deleted: [JSONValue] = []
    for object in store.list(resource: definition.resource, namespace: scope).items
    where Self.matches(object, labels: labels, fields: fields, definition: definition) {
      let name = object["metadata"]?["name"]?.stringValue ?? ""
      let objectNamespace = object["metadata"]?["namespace"]?.stringValue ?? ""
      var single = request
      single.body = []
      if case .full(_, _, let body) = try delete(single, definition: definition, namespace: objectNamespace, name: name),
        let value = try? JSONValue.parse(body)
      {
        deleted.append(Self.stripKind(value))
      }
    }
    return .json([
      "kind": .string(definition.listKind), "apiVersion": .string(definition.apiVersion),
      "metadata": ["resourceVersion": .string(String(store.currentResourceVersion))], "items": .array(deleted),
    ])
  }

  /// Namespace deletion: `Terminating` at once; pods in it are deleted as by the namespace controller;
  /// the namespace itself goes when it is empty (now, or when the last pod is removed).
  private func deleteNamespace(_ name: String, dryRun: Bool) throws(StatusError) -> JSONValue {
    let namespaceKey = ObjectKey(resource: "namespaces", name: name)
    guard let current = store.get(namespaceKey) else { throw .notFound(resource: "namespaces", name: name) }
    if Namespaces.immortal.contains(name) {
      throw .forbidden(resource: "namespaces", name: name, why: "this namespace may not be deleted")
    }
    if dryRun { return current }
    let terminating = try store.update(namespaceKey) { object throws(StatusError) in
      var object = object
      if object["metadata"]?["deletionTimestamp"] == nil {
        object.set("metadata", "deletionTimestamp", to: .string(Metadata.timestamp()))
        object.set("metadata", "deletionGracePeriodSeconds", to: 0)
      }
      object.set("status", "phase", to: "Terminating")
      return object
    }
    for pod in store.list(resource: "pods", namespace: name).items {
      let podName = pod["metadata"]?["name"]?.stringValue ?? ""
      let podKey = ObjectKey(resource: "pods", namespace: name, name: podName)
      if Pods.gracePeriod(pod, requested: nil) == nil && (pod["metadata"]?["finalizers"]?.arrayValue ?? []).isEmpty {
        _ = try? store.delete(podKey)
      } else if pod["metadata"]?["deletionTimestamp"] == nil {
        _ = try? store.update(podKey) { object throws(StatusError) in
          var object = object
          let grace = Pods.gracePeriod(object, requested: nil) ?? 0
          object.set("metadata", "deletionGracePeriodSeconds", to: .int(grace))
          object.set("metadata", "deletionTimestamp", to: .string(Metadata.timestamp(Date().addingTimeInterval(Double(grace)))))
          return object
        }
      }
    }
    namespaceContentRemoved(name)
    return store.get(namespaceKey) ?? terminating
  }

  /// Removes a terminating namespace once nothing is left in it.
  private func namespaceContentRemoved(_ namespace: String) {
    guard !namespace.isEmpty else { return }
    let namespaceKey = ObjectKey(resource: "namespaces", name: namespace)
    guard store.get(namespaceKey)?["status"]?["phase"]?.stringValue == "Terminating",
      store.list(resource: "pods", namespace: namespace).items.isEmpty
    else { return }
    _ = try? store.delete(namespaceKey)
  }

  // MARK: - List and watch

  private func selectors(_ request: APIRequest, definition: ResourceDefinition) throws(StatusError)
    -> (LabelSelector, FieldSelector)
  {
    let labels = try request.query["labelSelector"].map { text throws(StatusError) in try LabelSelector(parsing: text) }
      ?? .everything
    let fields = try request.query["fieldSelector"].map { text throws(StatusError) in
      try FieldSelector(parsing: text, supported: definition.selectableFields)
    } ?? .everything
    return (labels, fields)
  }

  static func matches(_ object: JSONValue, labels: LabelSelector, fields: FieldSelector, definition: ResourceDefinition)
    -> Bool
  {
    let objectLabels = (object["metadata"]?["labels"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
    return labels.matches(objectLabels) && fields.matches(definition.fieldValues(object))
  }

  /// Items of typed lists carry no kind/apiVersion (the list says it).
  static func stripKind(_ object: JSONValue) -> JSONValue {
    var object = object
    object["kind"] = nil
    object["apiVersion"] = nil
    return object
  }

  private func list(_ request: APIRequest, definition: ResourceDefinition, namespace: String) throws(StatusError)
    -> APIResponse
  {
    let (labels, fields) = try selectors(request, definition: definition)
    let scope = definition.namespaced && !namespace.isEmpty ? namespace : nil
    let (all, revision) = store.list(resource: definition.resource, namespace: scope)
    var items = all.filter { Self.matches($0, labels: labels, fields: fields, definition: definition) }

    // Paging: `limit` and an opaque `continue` token naming the last key served.
    var listMetadata: JSONValue = ["resourceVersion": .string(String(revision))]
    if let token = request.query["continue"], !token.isEmpty {
      guard let data = Data(base64Encoded: token), let start = String(data: data, encoding: .utf8) else {
        throw .badRequest("continue key is not valid: illegal base64 data at input byte 0")
      }
      items = items.filter { Self.sortKey($0) > start }
    }
    if let limitText = request.query["limit"], let limit = Int(limitText), limit > 0, items.count > limit {
      let remaining = items.count - limit
      items = Array(items.prefix(limit))
      listMetadata["continue"] = .string(Data(Self.sortKey(items[limit - 1]).utf8).base64EncodedString())
      listMetadata["remainingItemCount"] = .int(Int64(remaining))
    }

    if TableDefinition.isRequested(request.accept) {
      return tableResponse(definition.table.table(for: items, listMetadata: listMetadata, include: includeObject(request)))
    }
    return .json([
      "kind": .string(definition.listKind), "apiVersion": .string(definition.apiVersion), "metadata": listMetadata,
      "items": .array(items.map { Self.stripKind(definition.present($0)) }),
    ])
  }

  private static func sortKey(_ object: JSONValue) -> String {
    "\(object["metadata"]?["namespace"]?.stringValue ?? "")/\(object["metadata"]?["name"]?.stringValue ?? "")"
  }

  private func includeObject(_ request: APIRequest) -> TableDefinition.IncludeObject {
    request.query["includeObject"].flatMap(TableDefinition.IncludeObject.init(rawValue:)) ?? .metadata
  }

  private func tableResponse(_ table: JSONValue, status: HTTPResponseStatus = .ok) -> APIResponse {
    var headers = HTTPHeaders()
    headers.add(name: "Content-Type", value: TableDefinition.mediaType)
    headers.add(name: "Cache-Control", value: "no-cache, private")
    return .full(status: status, headers: headers, body: table.serialized())
  }

  private func respond(
    _ object: JSONValue, request: APIRequest, definition: ResourceDefinition, status: HTTPResponseStatus = .ok
  ) -> APIResponse {
    if TableDefinition.isRequested(request.accept) {
      let metadata: JSONValue = ["resourceVersion": object["metadata"]?["resourceVersion"] ?? ""]
      return tableResponse(
        definition.table.table(for: [object], listMetadata: metadata, include: includeObject(request)), status: status)
    }
    return .json(object, status: status)
  }

  private func watch(
    _ request: APIRequest, definition: ResourceDefinition, namespace: String, name: String?
  ) throws(StatusError) -> APIResponse {
    let (labels, parsedFields) = try selectors(request, definition: definition)
    var fields = parsedFields
    if let name {
      fields.requirements.append(.init(field: "metadata.name", value: name, negated: false))
    }
    let fieldSelector = fields
    var since: UInt64? = nil
    if let text = request.query["resourceVersion"], !text.isEmpty {
      guard let value = UInt64(text) else {
        throw .badRequest("resourceVersion: Invalid value: \"\(text)\": must be a non-negative integer")
      }
      since = value
    }
    if let timeout = request.query["timeoutSeconds"], Int64(timeout) == nil {
      throw .badRequest("strconv.ParseInt: parsing \"\(timeout)\": invalid syntax")
    }
    let timeoutSeconds = request.query["timeoutSeconds"].flatMap { Int64($0) }
    let resumeFrom = since
    let sendInitialEvents = request.query.flag("sendInitialEvents")
    let bookmarks = request.query.flag("allowWatchBookmarks")
    let table = TableDefinition.isRequested(request.accept) ? definition.table : nil
    let include = includeObject(request)
    let store = self.store
    let matches = { @Sendable (object: JSONValue) -> Bool in
      Self.matches(object, labels: labels, fields: fieldSelector, definition: definition)
    }
    var headers = HTTPHeaders()
    headers.add(name: "Content-Type", value: table == nil ? "application/json" : TableDefinition.mediaType)
    headers.add(name: "Cache-Control", value: "no-cache, private")
    let session = WatchSession(table: table, include: include, present: definition.present)
    let interval = bookmarkInterval

    return .stream(
      StreamingResponse(status: .ok, headers: headers) { writer in
        let registration: (initial: [WatchEvent], resourceVersion: UInt64, cancel: @Sendable () -> Void)
        do throws(StatusError) {
          registration = try store.watch(
            resource: definition.resource, namespace: namespace, since: sendInitialEvents ? nil : resumeFrom,
            filter: matches, deliver: { event in writer.write(session.encode(event)) })
        } catch {
          // Like kube's cacher: the watch opens and reports the error as its only event.
          writer.write(session.encode(WatchEvent(type: .error, object: error.status)))
          writer.finish()
          return {}
        }
        for event in registration.initial { writer.write(session.encode(event)) }
        let bookmark = WatchBookmark(kind: definition.kind, apiVersion: definition.apiVersion)
        if sendInitialEvents && bookmarks {
          writer.write(session.bookmark(bookmark, resourceVersion: registration.resourceVersion, initialEventsEnd: true))
        }
        // Without timeoutSeconds kube closes after a random 30–60 minutes (min-request-timeout 1800 s).
        let timeout = timeoutSeconds ?? Int64.random(in: 1800..<3600)
        let end = writer.eventLoop.scheduleTask(in: .seconds(timeout)) {
          registration.cancel()
          writer.finish()
        }
        let periodic = bookmarks
          ? PeriodicBookmarks(
            schedule: BookmarkSchedule(interval: interval, deadline: Double(timeout)), eventLoop: writer.eventLoop
          ) { writer.write(session.bookmark(bookmark, resourceVersion: store.currentResourceVersion, initialEventsEnd: false)) }
          : nil
        return {
          registration.cancel()
          end.cancel()
          periodic?.cancel()
        }
      })
  }

  // MARK: - Status and binding

  private func serveStatus(
    _ request: APIRequest, info: RequestInfo, definition: ResourceDefinition, namespace: String
  ) throws(StatusError) -> APIResponse {
    switch request.method {
    case .GET: return respond(try get(definition, namespace, info.name), request: request, definition: definition)
    case .PUT:
      return try update(request, definition: definition, namespace: namespace, name: info.name, subresource: "status")
    case .PATCH:
      return try patch(request, definition: definition, namespace: namespace, name: info.name, subresource: "status")
    default: throw .methodNotAllowed
    }
  }

  /// `pods/binding`: what a scheduler (here: the node agent) does to put a pod on a node.
  private func bind(_ request: APIRequest, namespace: String, name: String) throws(StatusError) -> APIResponse {
    let body: JSONValue
    do { body = try JSONValue.parse(request.body) } catch { throw .badRequest(error.description) }
    guard let node = body["target"]?["name"]?.stringValue, !node.isEmpty else {
      throw .invalid(kind: "Binding", name: name, errors: [.required("target.name")])
    }
    if let kind = body["target"]?["kind"]?.stringValue, !kind.isEmpty, kind != "Node" {
      throw .invalid(
        kind: "Binding", name: name,
        errors: [.notSupported("target.kind", value: .string(kind), supported: ["Node"])])
    }
    _ = try store.update(ObjectKey(resource: "pods", namespace: namespace, name: name)) { pod throws(StatusError) in
      var pod = pod
      if pod["metadata"]?["deletionTimestamp"] != nil {
        throw .conflict(
          resource: "pods/binding", name: name, why: "pod \(name) is being deleted, cannot be assigned to a host")
      }
      if let existing = pod["spec"]?["nodeName"]?.stringValue, !existing.isEmpty {
        throw .conflict(
          resource: "pods/binding", name: name, why: "pod \(name) is already assigned to node \"\(existing)\"")
      }
      pod.set("spec", "nodeName", to: .string(node))
      var conditions = (pod["status"]?["conditions"]?.arrayValue ?? []).filter { $0["type"] != "PodScheduled" }
      conditions.append([
        "type": "PodScheduled", "status": "True", "lastProbeTime": .null,
        "lastTransitionTime": .string(Metadata.timestamp()),
      ])
      pod.set("status", "conditions", to: .array(conditions))
      return pod
    }
    return .json(["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Success", "code": 201], status: .created)
  }

  // MARK: - Streams to the node

  private func podLog(_ request: APIRequest, namespace: String, name: String) throws(StatusError) -> APIResponse {
    let pod = try get(Pods.definition, namespace, name)
    let container = try Pods.logContainer(pod, requested: request.query["container"])
    let node = pod["spec"]?["nodeName"]?.stringValue ?? ""
    // kube's LogLocation: a pod without a node has no log location, and the answer is an empty 200.
    guard !node.isEmpty else { return .text("") }
    try requireNode(node)
    return try nodeStreams.log(request, pod: pod, container: container, node: node)
  }

  private func portForward(_ request: APIRequest, namespace: String, name: String) throws(StatusError) -> APIResponse {
    let pod = try get(Pods.definition, namespace, name)
    let node = pod["spec"]?["nodeName"]?.stringValue ?? ""
    guard !node.isEmpty else { throw .badRequest("pod \(name) does not have a host assigned") }
    try requireNode(node)
    return try nodeStreams.portForward(request, pod: pod, node: node)
  }

  /// kube-apiserver looks the node up for its kubelet address (`GetConnectionInfo`); a missing Node is
  /// its NotFound.
  private func requireNode(_ node: String) throws(StatusError) {
    guard store.get(ObjectKey(resource: "nodes", name: node)) != nil else {
      throw .notFound(resource: "nodes", name: node)
    }
  }
}

/// Reaches a node's kubelet API for `pods/log` and `pods/portforward` (the next issue plugs in the
/// proxy to the node agent here).
protocol NodeStreamProvider: Sendable {
  func log(_ request: APIRequest, pod: JSONValue, container: String, node: String) throws(StatusError) -> APIResponse
  func portForward(_ request: APIRequest, pod: JSONValue, node: String) throws(StatusError) -> APIResponse
}

/// No kubelet proxy yet: a 500, as kube-apiserver answers when it cannot reach a node's kubelet (the
/// message says why instead of a dial error).
struct NoNodeStreams: NodeStreamProvider {
  func log(_ request: APIRequest, pod: JSONValue, container: String, node: String) throws(StatusError) -> APIResponse {
    throw .internalError("the sandbox API server has no kubelet connection to node \"\(node)\"")
  }

  func portForward(_ request: APIRequest, pod: JSONValue, node: String) throws(StatusError) -> APIResponse {
    throw .internalError("the sandbox API server has no kubelet connection to node \"\(node)\"")
  }
}

/// Encodes the events of one watch, as JSON objects or as one-row Tables.
struct WatchSession: Sendable {
  let table: TableDefinition?
  let include: TableDefinition.IncludeObject
  /// The group version's view of a stored object (`ResourceDefinition.present`).
  var present: @Sendable (JSONValue) -> JSONValue = { $0 }

  func encode(_ event: WatchEvent) -> [UInt8] {
    var object = event.type == .error ? event.object : present(event.object)
    if let table, event.type != .error, event.type != .bookmark {
      object = table.table(
        for: [event.object], listMetadata: ["resourceVersion": event.object["metadata"]?["resourceVersion"] ?? ""],
        include: include)
    }
    // metav1.WatchEvent declares `type` before `object`; Go keeps that order on the wire.
    return Array("{\"type\":".utf8) + JSONValue.string(event.type.rawValue).serialized() + Array(",\"object\":".utf8)
      + object.serialized() + Array("}\n".utf8)
  }

  /// A bookmark line: the kind's zero value (`WatchBookmark`); for a Table watch, an empty Table.
  func bookmark(_ bookmark: WatchBookmark, resourceVersion: UInt64, initialEventsEnd: Bool) -> [UInt8] {
    guard table != nil else { return bookmark.line(resourceVersion: resourceVersion, initialEventsEnd: initialEventsEnd) }
    var metadata: JSONValue = ["resourceVersion": .string(String(resourceVersion))]
    if initialEventsEnd { metadata["annotations"] = ["k8s.io/initial-events-end": "true"] }
    let object: JSONValue = [
      "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "columnDefinitions": [], "rows": [],
    ]
    return encode(WatchEvent(type: .bookmark, object: object))
  }
}
