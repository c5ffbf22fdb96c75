import Foundation
import LibContainerd
import OCIRuntimeSpec

/// No string the kernel will see may hold a NUL: C strings end there, so `"A=x\0B=y"` would
/// reach the program as something other than what the spec says. Checked over the encoded
/// document, so every field and map key is covered, today's and tomorrow's, with its path.
enum StringCheck {
    /// Throws `invalidSpec` naming the first string or key with a NUL (`$.process.env[1]`).
    static func rejectNUL(in spec: Spec) throws {
        try rejectNUL(in: spec, root: "$") { ContainerError.invalidSpec(path: $0, reason: "contains a NUL byte") }
    }

    /// The same for an exec's process (`process.env[1]` in `invalidArgument`).
    static func rejectNUL(in process: ExecProcess) throws {
        try rejectNUL(in: process, root: "process") { ContainerError.invalidArgument(name: $0, reason: "contains a NUL byte") }
    }

    private static func rejectNUL(in value: some Encodable, root: String, error: (String) -> ContainerError) throws {
        let json = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
        if let path = firstNUL(in: json, at: root) { throw error(path) }
    }

    private static func firstNUL(in value: JSONValue, at path: String) -> String? {
        switch value {
        case .string(let string): return string.utf8.contains(0) ? path : nil
        case .array(let items):
            for (index, item) in items.enumerated() { if let found = firstNUL(in: item, at: "\(path)[\(index)]") { return found } }
        case .object(let members):
            for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                if key.utf8.contains(0) { return "\(path) key \"\(key.replacingOccurrences(of: "\0", with: "\\u0000"))\"" }
                if let found = firstNUL(in: member, at: "\(path).\(key)") { return found }
            }
        default: break
        }
        return nil
    }
}
