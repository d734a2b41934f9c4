/// Just enough Kubernetes protobuf to read what kubectl sends that way: kubectl's typed clients post
/// `SelfSubjectAccessReview`s as `application/vnd.kubernetes.protobuf` (`kubectl auth can-i`).
///
/// The wire form is the magic `k8s\0` followed by a `runtime.Unknown` message
/// (1: TypeMeta{1: apiVersion, 2: kind}, 2: raw object bytes, 3: contentEncoding, 4: contentType).
enum KubeProtobuf {
  static let mediaType = "application/vnd.kubernetes.protobuf"

  struct Envelope {
    var apiVersion: String
    var kind: String
    var raw: [UInt8]
  }

  enum DecodeError: Error { case truncated, badMagic, unsupportedWireType(UInt64) }

  static func envelope(_ bytes: [UInt8]) throws(DecodeError) -> Envelope {
    guard bytes.count >= 4, Array(bytes[0..<4]) == [0x6b, 0x38, 0x73, 0x00] else { throw .badMagic }
    var envelope = Envelope(apiVersion: "", kind: "", raw: [])
    for field in try fields(Array(bytes[4...])) {
      switch field.number {
      case 1:
        for typeField in try fields(field.bytes) {
          if typeField.number == 1 { envelope.apiVersion = typeField.string }
          if typeField.number == 2 { envelope.kind = typeField.string }
        }
      case 2: envelope.raw = field.bytes
      default: break
      }
    }
    return envelope
  }

  struct Field {
    var number: UInt64
    /// Length-delimited payload (empty for varints).
    var bytes: [UInt8]
    var varint: UInt64
    var string: String { String(decoding: bytes, as: UTF8.self) }
  }

  /// Splits a message into its fields (varint and length-delimited wire types; fixed32/64 skipped).
  static func fields(_ bytes: [UInt8]) throws(DecodeError) -> [Field] {
    var fields: [Field] = []
    var index = 0
    func varint() throws(DecodeError) -> UInt64 {
      var value: UInt64 = 0
      var shift: UInt64 = 0
      while true {
        guard index < bytes.count, shift < 64 else { throw .truncated }
        let byte = bytes[index]
        index += 1
        value |= UInt64(byte & 0x7f) << shift
        if byte & 0x80 == 0 { return value }
        shift += 7
      }
    }
    while index < bytes.count {
      let tag = try varint()
      let number = tag >> 3
      switch tag & 7 {
      case 0: fields.append(Field(number: number, bytes: [], varint: try varint()))
      case 2:
        let length = Int(try varint())
        guard length >= 0, index + length <= bytes.count else { throw .truncated }
        fields.append(Field(number: number, bytes: Array(bytes[index..<index + length]), varint: 0))
        index += length
      case 1: index += 8
      case 5: index += 4
      case let other: throw .unsupportedWireType(other)
      }
    }
    guard index == bytes.count else { throw .truncated }
    return fields
  }

  /// The user-settable parts of an `ObjectMeta` (1 name, 2 generateName, 3 namespace, 11 labels,
  /// 12 annotations, 14 finalizers).
  static func objectMeta(_ raw: [UInt8]) throws(DecodeError) -> JSONValue {
    var metadata: JSONValue = [:]
    for field in try fields(raw) {
      switch field.number {
      case 1: metadata["name"] = .string(field.string)
      case 2: metadata["generateName"] = .string(field.string)
      case 3: metadata["namespace"] = .string(field.string)
      case 11, 12:
        var key = ""
        var value = ""
        for entry in try fields(field.bytes) {
          if entry.number == 1 { key = entry.string }
          if entry.number == 2 { value = entry.string }
        }
        metadata.set(field.number == 11 ? "labels" : "annotations", key, to: .string(value))
      case 14:
        metadata["finalizers"] = .array((metadata["finalizers"]?.arrayValue ?? []) + [.string(field.string)])
      default: break
      }
    }
    return metadata
  }

  /// A `v1` Namespace (`kubectl create namespace` posts one as protobuf): metadata and spec.finalizers.
  static func namespace(_ raw: [UInt8]) throws(DecodeError) -> JSONValue {
    var namespace: JSONValue = ["kind": "Namespace", "apiVersion": "v1"]
    for field in try fields(raw) {
      if field.number == 1 { namespace["metadata"] = try objectMeta(field.bytes) }
      if field.number == 2 {
        let finalizers = try fields(field.bytes).filter { $0.number == 1 }.map { JSONValue.string($0.string) }
        if !finalizers.isEmpty { namespace["spec"] = ["finalizers": .array(finalizers)] }
      }
    }
    return namespace
  }

  /// `authorization.k8s.io/v1` SelfSubjectAccessReview as JSON (spec only: that is all a client sends).
  static func selfSubjectAccessReview(_ raw: [UInt8]) throws(DecodeError) -> JSONValue {
    var spec: JSONValue = [:]
    for field in try fields(raw) where field.number == 2 {
      for specField in try fields(field.bytes) {
        if specField.number == 1 {
          let names = [1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource", 6: "subresource", 7: "name"]
          var attributes: JSONValue = [:]
          for attribute in try fields(specField.bytes) {
            if let name = names[Int(attribute.number)] { attributes[name] = .string(attribute.string) }
          }
          spec["resourceAttributes"] = attributes
        } else if specField.number == 2 {
          var attributes: JSONValue = [:]
          for attribute in try fields(specField.bytes) {
            if attribute.number == 1 { attributes["path"] = .string(attribute.string) }
            if attribute.number == 2 { attributes["verb"] = .string(attribute.string) }
          }
          spec["nonResourceAttributes"] = attributes
        }
      }
    }
    return ["kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "spec": spec]
  }
}
