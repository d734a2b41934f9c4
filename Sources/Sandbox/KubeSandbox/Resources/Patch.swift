import Foundation

/// The PATCH flavours kube-apiserver accepts for built-in types.
enum Patch {
  static let supportedTypes = [
    "application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json",
  ]

  static func apply(contentType: String, patch body: [UInt8], to object: JSONValue) throws(StatusError) -> JSONValue {
    guard supportedTypes.contains(contentType) else {
      throw StatusError(
        code: 415, reason: "UnsupportedMediaType",
        message: "the body of the request was in an unknown format - accepted media types include: "
          + supportedTypes.joined(separator: ", "))
    }
    let patch: JSONValue
    do { patch = try JSONValue.parse(body) } catch { throw .badRequest(error.description) }
    switch contentType {
    case "application/json-patch+json": return try jsonPatch(patch, to: object)
    case "application/merge-patch+json":
      guard patch.objectValue != nil else { throw .badRequest("json: cannot unmarshal into Go value of type map[string]interface {}") }
      return mergePatch(patch, to: object)
    default:
      guard patch.objectValue != nil else { throw .badRequest("json: cannot unmarshal into Go value of type map[string]interface {}") }
      return strategicMerge(patch, to: object, path: [])
    }
  }

  /// RFC 7386: objects merge recursively, `null` deletes, anything else replaces.
  static func mergePatch(_ patch: JSONValue, to target: JSONValue) -> JSONValue {
    guard case .object(let members) = patch else { return patch }
    var result: JSONValue = target.objectValue != nil ? target : [:]
    for (key, value) in members {
      if value.isNull {
        result[key] = nil
      } else {
        result[key] = mergePatch(value, to: result[key] ?? .null)
      }
    }
    return result
  }

  /// Lists that strategic merge patch merges by a key instead of replacing (the `patchMergeKey` tags of
  /// the core/v1 types the sandbox serves), by field name.
  static let mergeKeys: [String: String] = [
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "volumes": "name",
    "env": "name", "volumeMounts": "mountPath", "ports": "containerPort", "conditions": "type",
    "imagePullSecrets": "name", "hostAliases": "ip", "ownerReferences": "uid", "addresses": "type",
    "taints": "key", "readinessGates": "conditionType", "containerStatuses": "name",
    "initContainerStatuses": "name", "podIPs": "ip", "resourceClaims": "name",
  ]
  /// Lists of primitives merged as sets (`patchStrategy:"merge"` on `[]string`).
  static let mergedPrimitiveLists: Set<String> = ["finalizers"]

  /// Strategic merge patch for the shapes the sandbox serves: maps merge as in merge patch; lists with
  /// a merge key merge element-wise (`$patch: delete` removes an element, `$patch: replace` replaces
  /// the list); other lists are replaced. `$setElementOrder/`, `$retainKeys` and
  /// `$deleteFromPrimitiveList/` directives are honoured.
  static func strategicMerge(_ patch: JSONValue, to target: JSONValue, path: [String]) -> JSONValue {
    guard case .object(var members) = patch else { return patch }
    if members["$patch"]?.stringValue == "replace" {
      members["$patch"] = nil
      return .object(members)
    }
    if members["$patch"]?.stringValue == "delete" { return .null }
    var result: JSONValue = target.objectValue != nil ? target : [:]
    if let retain = members.removeValue(forKey: "$retainKeys")?.arrayValue {
      let keep = Set(retain.compactMap(\.stringValue))
      if case .object(let existing) = result {
        result = .object(existing.filter { keep.contains($0.key) || members[$0.key] != nil })
      }
    }
    for (key, value) in members.sorted(by: { $0.key < $1.key }) {
      if key.hasPrefix("$setElementOrder/") { continue }
      if key.hasPrefix("$deleteFromPrimitiveList/") {
        let field = String(key.dropFirst("$deleteFromPrimitiveList/".count))
        let remove = value.arrayValue ?? []
        if let list = result[field]?.arrayValue { result[field] = .array(list.filter { !remove.contains($0) }) }
        continue
      }
      if value.isNull {
        result[key] = nil
        continue
      }
      switch value {
      case .object:
        result[key] = strategicMerge(value, to: result[key] ?? .null, path: path + [key])
      case .array(let patchItems):
        if let mergeKey = mergeKeys[key], let existing = result[key]?.arrayValue {
          result[key] = .array(mergeList(existing, patchItems, mergeKey: mergeKey, path: path + [key]))
        } else if mergedPrimitiveLists.contains(key), let existing = result[key]?.arrayValue {
          result[key] = .array(existing + patchItems.filter { !existing.contains($0) })
        } else {
          result[key] = .array(patchItems.filter { $0["$patch"] == nil })
        }
      default:
        result[key] = value
      }
    }
    return result
  }

  private static func mergeList(_ existing: [JSONValue], _ patch: [JSONValue], mergeKey: String, path: [String])
    -> [JSONValue]
  {
    if patch.contains(where: { $0["$patch"]?.stringValue == "replace" }) {
      return patch.filter { $0["$patch"] == nil }
    }
    var result = existing
    for item in patch {
      let key = item[mergeKey]
      let index = result.firstIndex { $0[mergeKey] == key && key != nil }
      if item["$patch"]?.stringValue == "delete" {
        if let index { result.remove(at: index) }
        continue
      }
      if let index {
        result[index] = strategicMerge(item, to: result[index], path: path)
      } else {
        result.append(strategicMerge(item, to: .null, path: path))
      }
    }
    return result
  }

  // MARK: - RFC 6902

  static func jsonPatch(_ patch: JSONValue, to object: JSONValue) throws(StatusError) -> JSONValue {
    guard let operations = patch.arrayValue else {
      throw .badRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    }
    var document = object
    for operation in operations {
      guard let op = operation["op"]?.stringValue else { throw .badRequest("Unexpected kind: <nil>") }
      let path = try pointer(operation["path"]?.stringValue)
      switch op {
      case "add": document = try add(operation["value"] ?? .null, at: path, in: document)
      case "remove": document = try remove(at: path, in: document).document
      case "replace":
        document = try remove(at: path, in: document).document
        document = try add(operation["value"] ?? .null, at: path, in: document)
      case "move", "copy":
        let from = try pointer(operation["from"]?.stringValue)
        guard let value = resolve(from, in: document) else { throw .unprocessable("\(op) operation does not apply: doc is missing from path: \(render(from))") }
        if op == "move" { document = try remove(at: from, in: document).document }
        document = try add(value, at: path, in: document)
      case "test":
        guard resolve(path, in: document) == (operation["value"] ?? .null) else {
          throw .unprocessable("testing value \(render(path)) failed: test failed")
        }
      default:
        throw .badRequest("Unexpected kind: \(op)")
      }
    }
    return document
  }

  private static func pointer(_ text: String?) throws(StatusError) -> [String] {
    guard let text else { throw .badRequest("missing path") }
    if text.isEmpty { return [] }
    guard text.hasPrefix("/") else { throw .badRequest("invalid path: \(text)") }
    return text.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
      $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
    }
  }

  private static func render(_ path: [String]) -> String { "/" + path.joined(separator: "/") }

  private static func resolve(_ path: [String], in document: JSONValue) -> JSONValue? {
    var current: JSONValue? = document
    for token in path {
      switch current {
      case .object(let members): current = members[token]
      case .array(let items):
        guard let index = Int(token), items.indices.contains(index) else { return nil }
        current = items[index]
      default: return nil
      }
    }
    return current
  }

  private static func add(_ value: JSONValue, at path: [String], in document: JSONValue) throws(StatusError) -> JSONValue {
    guard let token = path.first else { return value }
    if path.count == 1 {
      switch document {
      case .object(var members):
        members[token] = value
        return .object(members)
      case .array(var items):
        if token == "-" {
          items.append(value)
        } else {
          guard let index = Int(token), (0...items.count).contains(index) else {
            throw .unprocessable("add operation does not apply: doc is missing path: \(render(path))")
          }
          items.insert(value, at: index)
        }
        return .array(items)
      default:
        throw .unprocessable("add operation does not apply: doc is missing path: \(render(path))")
      }
    }
    switch document {
    case .object(var members):
      guard let child = members[token] else {
        throw .unprocessable("add operation does not apply: doc is missing path: \(render(path))")
      }
      members[token] = try add(value, at: Array(path.dropFirst()), in: child)
      return .object(members)
    case .array(var items):
      guard let index = Int(token), items.indices.contains(index) else {
        throw .unprocessable("add operation does not apply: doc is missing path: \(render(path))")
      }
      items[index] = try add(value, at: Array(path.dropFirst()), in: items[index])
      return .array(items)
    default:
      throw .unprocessable("add operation does not apply: doc is missing path: \(render(path))")
    }
  }

  private static func remove(at path: [String], in document: JSONValue) throws(StatusError)
    -> (document: JSONValue, removed: JSONValue)
  {
    guard let token = path.first else { throw .unprocessable("unable to remove the whole document") }
    let missing = StatusError.unprocessable("remove operation does not apply: doc is missing path: \(render(path))")
    switch document {
    case .object(var members):
      guard let child = members[token] else { throw missing }
      if path.count == 1 {
        members[token] = nil
        return (.object(members), child)
      }
      let (updated, removed) = try remove(at: Array(path.dropFirst()), in: child)
      members[token] = updated
      return (.object(members), removed)
    case .array(var items):
      guard let index = Int(token), items.indices.contains(index) else { throw missing }
      if path.count == 1 {
        let removed = items.remove(at: index)
        return (.array(items), removed)
      }
      let (updated, removed) = try remove(at: Array(path.dropFirst()), in: items[index])
      items[index] = updated
      return (.array(items), removed)
    default:
      throw missing
    }
  }
}

extension StatusError {
  /// What kube answers for a JSON patch that does not apply (422 without field causes).
  static func unprocessable(_ message: String) -> StatusError {
    StatusError(code: 422, reason: "Invalid", message: message)
  }
}
