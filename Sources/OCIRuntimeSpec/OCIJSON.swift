import Foundation

/// A top-level OCI document that can keep the keys this library does not model.
public protocol OCIDocument: Codable, Sendable {
    /// The input's keys that the typed properties do not hold, in the shape of the document
    /// (objects hold only the unknown keys; arrays keep their positions, `null` where nothing
    /// was unknown). `nil` when there were none.
    var unknownFields: JSONValue? { get set }
}

/// What to do with keys the spec types do not model.
public enum UnknownKeyPolicy: Sendable {
    /// Keep them and write them back on encode (the default: the runtime spec requires
    /// runtimes to accept unknown properties, and a round trip must not lose data).
    case keep
    /// Fail with ``OCIDecodingError/unknownKey(path:)`` naming the first one found.
    case reject
}

/// A decoding failure with the JSON path of the offending value, such as `$.process.user.uid`.
public enum OCIDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The input is not JSON at all.
    case malformedJSON(reason: String)
    /// A value has the wrong type, is missing, or is not one of the allowed values.
    case invalidValue(path: String, reason: String)
    /// A key the document type does not define (``UnknownKeyPolicy/reject`` only).
    case unknownKey(path: String)

    public var description: String {
        switch self {
        case .malformedJSON(let reason): return "malformed JSON: \(reason)"
        case .invalidValue(let path, let reason): return "\(path): \(reason)"
        case .unknownKey(let path): return "\(path): unknown key"
        }
    }

    /// The JSON path the error is about (`$` for the whole document).
    public var path: String {
        switch self {
        case .malformedJSON: return "$"
        case .invalidValue(let path, _), .unknownKey(let path): return path
        }
    }
}

/// Reads and writes OCI documents losslessly, with errors that name the JSON path.
public enum OCIJSON {
    /// Decodes a document. Unknown keys are kept in ``OCIDocument/unknownFields`` or rejected.
    public static func decode<Document: OCIDocument>(
        _ type: Document.Type, from data: Data, unknownKeys: UnknownKeyPolicy = .keep
    ) throws -> Document {
        let tree: JSONValue
        do {
            tree = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw OCIDecodingError.malformedJSON(reason: describe(error))
        }
        var document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch let error as DecodingError {
            throw translate(error)
        }
        let known = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(document))
        let residue = Self.residue(of: tree, beyond: known)
        if let residue, unknownKeys == .reject {
            throw OCIDecodingError.unknownKey(path: firstPath(in: residue, known: known, at: "$"))
        }
        document.unknownFields = residue
        return document
    }

    /// Encodes a document, with its kept unknown keys merged back, as sorted, indented JSON.
    public static func encode<Document: OCIDocument>(_ document: Document, pretty: Bool = true) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        guard let extra = document.unknownFields else { return try encoder.encode(document) }
        let known = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(document))
        return try encoder.encode(merge(extra, into: known))
    }

    // MARK: - Unknown keys

    /// What `input` has that `known` does not, in `input`'s shape; `nil` if nothing.
    static func residue(of input: JSONValue, beyond known: JSONValue) -> JSONValue? {
        switch (input, known) {
        case (.object(let inObject), .object(let knownObject)):
            var result: [String: JSONValue] = [:]
            for (key, value) in inObject {
                if let knownValue = knownObject[key] {
                    if let sub = residue(of: value, beyond: knownValue) { result[key] = sub }
                } else {
                    result[key] = value
                }
            }
            return result.isEmpty ? nil : .object(result)
        case (.array(let inArray), .array(let knownArray)) where inArray.count == knownArray.count:
            let subs = zip(inArray, knownArray).map { residue(of: $0, beyond: $1) }
            return subs.allSatisfy { $0 == nil } ? nil : .array(subs.map { $0 ?? .null })
        default:
            // Same scalar, or a value the typed model re-encodes in another form: nothing extra.
            return nil
        }
    }

    static func merge(_ extra: JSONValue, into base: JSONValue) -> JSONValue {
        switch (extra, base) {
        case (.object(let extraObject), .object(var baseObject)):
            for (key, value) in extraObject {
                baseObject[key] = baseObject[key].map { merge(value, into: $0) } ?? value
            }
            return .object(baseObject)
        case (.array(let extraArray), .array(let baseArray)) where extraArray.count == baseArray.count:
            return .array(zip(extraArray, baseArray).map { $0 == .null ? $1 : merge($0, into: $1) })
        case (.object, _), (.array, _):
            return base
        default:
            return extra
        }
    }

    /// The path of the first (in key order) unknown value: where the residue names a key the
    /// known tree lacks, or the deepest position under keys it has.
    private static func firstPath(in residue: JSONValue, known: JSONValue, at path: String) -> String {
        switch (residue, known) {
        case (.object(let object), .object(let knownObject)):
            guard let key = object.keys.sorted().first, let value = object[key] else { return path }
            guard let knownValue = knownObject[key] else { return path + "." + key }
            return firstPath(in: value, known: knownValue, at: path + "." + key)
        case (.array(let array), .array(let knownArray)):
            guard let index = array.firstIndex(where: { $0 != .null }) else { return path }
            return firstPath(in: array[index], known: knownArray[index], at: "\(path)[\(index)]")
        default:
            return path
        }
    }

    // MARK: - Errors

    static func translate(_ error: DecodingError) -> OCIDecodingError {
        switch error {
        case .typeMismatch(let type, let context):
            return .invalidValue(path: path(context.codingPath), reason: "expected \(typeName(type)); \(context.debugDescription)")
        case .valueNotFound(let type, let context):
            return .invalidValue(path: path(context.codingPath), reason: "expected \(typeName(type)), found null")
        case .keyNotFound(let key, let context):
            return .invalidValue(path: path(context.codingPath + [key]), reason: "required key is missing")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                // The input already parsed as JSON, so Foundation means a number that does not
                // fit its field (a negative or too large value for an unsigned or narrow integer);
                // it reports no path for that.
                return .invalidValue(path: "$", reason: "a number does not fit the integer type of its field (negative, too large, or fractional)")
            }
            return .invalidValue(path: path(context.codingPath), reason: context.debugDescription)
        @unknown default:
            return .malformedJSON(reason: describe(error))
        }
    }

    /// `$.linux.namespaces[2].type` from a coding path.
    static func path(_ codingPath: [any CodingKey]) -> String {
        codingPath.reduce("$") { result, key in
            if let index = key.intValue { return "\(result)[\(index)]" }
            return "\(result).\(key.stringValue)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        let name = String(describing: type)
        switch name {
        case "String": return "a string"
        case "Bool": return "a boolean"
        case let n where n.hasPrefix("Int") || n.hasPrefix("UInt"): return "an integer (\(n))"
        case let n where n.hasPrefix("Array"): return "an array"
        case let n where n.hasPrefix("Dictionary"): return "an object"
        default: return name
        }
    }

    private static func describe(_ error: any Error) -> String {
        if case .dataCorrupted(let context) = error as? DecodingError {
            if let underlying = context.underlyingError {
                return "\(context.debugDescription) (\(underlying.localizedDescription))"
            }
            return context.debugDescription
        }
        return String(describing: error)
    }
}
