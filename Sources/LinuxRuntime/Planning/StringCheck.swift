import Foundation
import LibContainerd
import OCIRuntimeSpec
import Synchronization

/// No string the kernel will see may hold a NUL: C strings end there, so `"A=x\0B=y"` would
/// reach the program as something other than what the spec says. Checked over every stored
/// string, so every field and map key is covered, today's and tomorrow's; the error names the
/// JSON path.
enum StringCheck {
    /// Throws `invalidSpec` naming the first string or key with a NUL (`$.process.env[1]`).
    static func rejectNUL(in spec: Spec) throws {
        // The seccomp section is most of a spec's strings and the same for most containers:
        // a profile already found clean (compared by value) is not walked again.
        var rest = spec
        let seccomp = spec.linux?.seccomp
        if let seccomp, cleanProfiles.withLock({ $0.contains(seccomp) }) { rest.linux?.seccomp = nil }
        if containsNUL(rest) {
            try rejectNUL(in: spec, root: "$") { ContainerError.invalidSpec(path: $0, reason: "contains a NUL byte") }
        }
        if let seccomp, rest.linux?.seccomp != nil {
            cleanProfiles.withLock { profiles in
                if profiles.count >= 8 { profiles.removeFirst() }
                profiles.append(seccomp)
            }
        }
    }
    private static let cleanProfiles = Mutex<[Spec.Linux.Seccomp]>([])

    /// The same for an exec's process (`process.env[1]` in `invalidArgument`).
    static func rejectNUL(in process: ExecProcess) throws {
        try rejectNUL(in: process, root: "process") { ContainerError.invalidArgument(name: $0, reason: "contains a NUL byte") }
    }

    /// The fast path walks the value's stored properties for a NUL (no JSON: a round trip of a
    /// spec with the default seccomp list cost 3.5 ms); only when there is one is the document
    /// encoded, to name the path as the JSON has it.
    private static func rejectNUL(in value: some Encodable, root: String, error: (String) -> ContainerError) throws {
        guard containsNUL(value) else { return }
        let json = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
        throw error(firstNUL(in: json, at: root) ?? root)
    }

    /// Any string held anywhere in `value` (properties, elements, dictionary keys, payloads).
    private static func containsNUL(_ value: Any) -> Bool {
        if let string = value as? String { return string.utf8.contains(0) }
        for child in Mirror(reflecting: value).children where containsNUL(child.value) { return true }
        return false
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
