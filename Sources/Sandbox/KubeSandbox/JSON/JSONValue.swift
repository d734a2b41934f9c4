import Foundation

/// A JSON document as a value.
///
/// API objects are stored as JSON (not as typed structs) so that every field a client sends survives a
/// round trip, exactly as with kube-apiserver's unstructured storage. Typed helpers in `Pods.swift` and
/// friends read and write the few fields the sandbox validates or defaults.
public enum JSONValue: Sendable, Hashable {
  case null
  case bool(Bool)
  case int(Int64)
  case double(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])
}

extension JSONValue: Codable {
  public init(from decoder: Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let value = try? container.decode(Bool.self) {
      self = .bool(value)
    } else if let value = try? container.decode(Int64.self) {
      self = .int(value)
    } else if let value = try? container.decode(Double.self) {
      self = .double(value)
    } else if let value = try? container.decode(String.self) {
      self = .string(value)
    } else if let value = try? container.decode([JSONValue].self) {
      self = .array(value)
    } else {
      self = .object(try container.decode([String: JSONValue].self))
    }
  }

  public func encode(to encoder: Encoder) throws {
    var container = encoder.singleValueContainer()
    switch self {
    case .null: try container.encodeNil()
    case .bool(let value): try container.encode(value)
    case .int(let value): try container.encode(value)
    case .double(let value): try container.encode(value)
    case .string(let value): try container.encode(value)
    case .array(let value): try container.encode(value)
    case .object(let value): try container.encode(value)
    }
  }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
  ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
  public init(stringLiteral value: String) { self = .string(value) }
  public init(integerLiteral value: Int64) { self = .int(value) }
  public init(booleanLiteral value: Bool) { self = .bool(value) }
  public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
  public init(dictionaryLiteral elements: (String, JSONValue)...) {
    self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
  }
  public init(nilLiteral: ()) { self = .null }
}

extension JSONValue {
  /// Member access that reads `nil` for absent keys and non-objects, and writes by creating objects on the
  /// way (assigning `nil` removes the key), so helpers can say `pod["metadata"]["labels"]["app"] = "x"`.
  public subscript(key: String) -> JSONValue? {
    get {
      if case .object(let members) = self { return members[key] }
      return nil
    }
    set {
      var members: [String: JSONValue]
      if case .object(let existing) = self { members = existing } else { members = [:] }
      members[key] = newValue
      self = .object(members)
    }
  }

  public var stringValue: String? {
    if case .string(let value) = self { return value }
    return nil
  }

  public var intValue: Int64? {
    switch self {
    case .int(let value): return value
    case .double(let value) where value.rounded() == value: return Int64(value)
    default: return nil
    }
  }

  public var boolValue: Bool? {
    if case .bool(let value) = self { return value }
    return nil
  }

  public var arrayValue: [JSONValue]? {
    if case .array(let value) = self { return value }
    return nil
  }

  public var objectValue: [String: JSONValue]? {
    if case .object(let value) = self { return value }
    return nil
  }

  public var isNull: Bool {
    if case .null = self { return true }
    return false
  }

  /// Sets (or with `nil` removes) the value at a path of object keys, creating objects on the way.
  public mutating func set(_ path: String..., to value: JSONValue?) {
    setValue(value, at: path[...])
  }

  private mutating func setValue(_ value: JSONValue?, at path: ArraySlice<String>) {
    guard let first = path.first else {
      self = value ?? .null
      return
    }
    if path.count == 1 {
      self[first] = value
      return
    }
    var child = self[first] ?? [:]
    child.setValue(value, at: path.dropFirst())
    self[first] = child
  }

  /// The value at a dotted path of object keys, e.g. `"metadata.name"`.
  public func value(atPath path: String) -> JSONValue? {
    var current: JSONValue? = self
    for key in path.split(separator: ".") { current = current?[String(key)] }
    return current
  }
}

// MARK: - Encoding and decoding

public enum JSONCodingError: Error, Sendable, CustomStringConvertible {
  case malformed(String)
  case notAnObject

  public var description: String {
    switch self {
    case .malformed(let detail): return detail
    case .notAnObject: return "the document is not a JSON object"
    }
  }
}

extension JSONValue {
  /// Parses `bytes` as JSON.
  public static func parse(_ bytes: some Collection<UInt8>) throws(JSONCodingError) -> JSONValue {
    do {
      return try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    } catch {
      throw .malformed(Self.describe(error))
    }
  }

  /// Serialized with sorted keys, so output is stable (tests and humans diff it).
  public func serialized() -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // A JSONValue always encodes: every case maps to a JSON primitive or container.
    return Array((try? encoder.encode(self)) ?? Data("null".utf8))
  }

  public func serializedString() -> String { String(decoding: serialized(), as: UTF8.self) }

  private static func describe(_ error: Error) -> String {
    switch error {
    case DecodingError.dataCorrupted(let context):
      let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
      return underlying ?? context.debugDescription
    default:
      return "\(error)"
    }
  }
}
