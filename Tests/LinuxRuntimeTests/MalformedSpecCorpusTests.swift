import Foundation
import Glibc
import LibContainerd
import LinuxRuntime
import OCIRuntimeSpec
import XCTest

/// Mutated `config.json` documents, deterministic from one seed, each decoded and created by
/// `lcd-spec-probe` in a process of its own: no crash, no hang, typed errors that name a JSON
/// path, nothing left behind.
final class MalformedSpecCorpusTests: ContainerTestCase {
    /// xorshift64: the same corpus on every run and machine.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    }

    /// Every path in a JSON tree, with its value.
    static func nodes(_ value: JSONValue, at path: [PathStep] = []) -> [([PathStep], JSONValue)] {
        var result = [(path, value)]
        switch value {
        case .array(let items): for (i, item) in items.enumerated() { result += nodes(item, at: path + [.index(i)]) }
        case .object(let members): for (key, member) in members.sorted(by: { $0.key < $1.key }) { result += nodes(member, at: path + [.key(key)]) }
        default: break
        }
        return result
    }

    enum PathStep { case key(String), index(Int) }

    /// `value` with the node at `path` replaced (nil: removed).
    static func replacing(_ value: JSONValue, at path: ArraySlice<PathStep>, with new: JSONValue?) -> JSONValue {
        guard let step = path.first else { return new ?? .null }
        switch (value, step) {
        case (.object(var members), .key(let key)):
            if path.count == 1 && new == nil { members.removeValue(forKey: key) } else if let member = members[key] {
                members[key] = replacing(member, at: path.dropFirst(), with: new)
            }
            return .object(members)
        case (.array(var items), .index(let index)) where index < items.count:
            if path.count == 1 && new == nil { items.remove(at: index) } else { items[index] = replacing(items[index], at: path.dropFirst(), with: new) }
            return .array(items)
        default: return value
        }
    }

    /// One mutated document (bytes) and what was done, for the failure message.
    static func mutate(_ base: JSONValue, kind: Int, _ random: inout Random) throws -> (Data, String) {
        let all = nodes(base).filter { !$0.0.isEmpty }
        func pick(_ filter: (JSONValue) -> Bool) -> [PathStep] {
            let candidates = all.filter { filter($0.1) }
            return candidates.isEmpty ? all[random.below(all.count)].0 : candidates[random.below(candidates.count)].0
        }
        func describe(_ path: [PathStep]) -> String {
            "$" + path.map { if case .key(let k) = $0 { return "." + k } else if case .index(let i) = $0 { return "[\(i)]" }; return "" }.joined()
        }
        func encoded(_ value: JSONValue) throws -> Data { try JSONEncoder().encode(value) }
        func isString(_ v: JSONValue) -> Bool { if case .string = v { return true }; return false }
        func isNumber(_ v: JSONValue) -> Bool { switch v { case .int, .uint: return true; default: return false } }
        func isArray(_ v: JSONValue) -> Bool { if case .array = v { return true }; return false }
        let numbers: [JSONValue] = [.int(-1), .int(Int64.min), .uint(UInt64.max), .uint(1 << 63), .double(1e308), .double(0.5), .int(1 << 32), .int(-4097)]
        let types: [JSONValue] = [.string("x"), .int(7), .bool(true), .null, .array([.int(1)]), .object(["k": .string("v")])]
        switch kind {
        case 0:
            let path = pick { _ in true }
            return (try encoded(replacing(base, at: path[...], with: nil)), "remove \(describe(path))")
        case 1:
            let path = pick { _ in true }
            let value = types[random.below(types.count)]
            return (try encoded(replacing(base, at: path[...], with: value)), "type \(describe(path)) = \(value)")
        case 2:
            let path = pick(isNumber)
            let value = numbers[random.below(numbers.count)]
            return (try encoded(replacing(base, at: path[...], with: value)), "number \(describe(path)) = \(value)")
        case 3:
            let path = pick(isArray)
            guard case .array(let items)? = all.first(where: { describe($0.0) == describe(path) })?.1, let first = items.first else {
                return (try encoded(replacing(base, at: path[...], with: .array(Array(repeating: .string("x"), count: 20000)))), "huge array \(describe(path))")
            }
            return (try encoded(replacing(base, at: path[...], with: .array(Array(repeating: first, count: 5000)))), "huge array \(describe(path))")
        case 4:
            let path = pick(isString)
            return (try encoded(replacing(base, at: path[...], with: .string(String(repeating: "A", count: 1 << 20)))), "huge string \(describe(path))")
        case 5:
            let path = pick(isString)
            guard case .string(let s)? = all.first(where: { describe($0.0) == describe(path) })?.1 else { fallthrough }
            return (try encoded(replacing(base, at: path[...], with: .string(s + "\0injected"))), "NUL in \(describe(path))")
        case 6:
            // Invalid UTF-8 inside a string of the serialized document.
            var bytes = [UInt8](try encoded(base))
            let quotes = bytes.indices.filter { bytes[$0] == UInt8(ascii: "\"") }
            let at = quotes[random.below(quotes.count)] + 1
            bytes.insert(contentsOf: [0xFF, 0xC3, 0x28], at: min(at, bytes.count))
            return (Data(bytes), "invalid UTF-8 at byte \(at)")
        case 7:
            let path = pick { if case .string(let s) = $0 { return s.hasPrefix("/") }; return false }
            let value = [".." + "/../../etc/x", "/dev/../etc/evil", "relative/path", "/proc/self/fd/3", "/evil/x"][random.below(5)]
            return (try encoded(replacing(base, at: path[...], with: .string(value))), "path \(describe(path)) = \(value)")
        case 8:
            guard case .object(var root) = base, case .object(var linux)? = root["linux"], case .array(let namespaces)? = linux["namespaces"], !namespaces.isEmpty else { fallthrough }
            linux["namespaces"] = .array(namespaces + [namespaces[random.below(namespaces.count)]])
            root["linux"] = .object(linux)
            return (try encoded(.object(root)), "duplicate namespace")
        case 9:
            let bad: [(String, JSONValue)] = [
                ("process.capabilities.bounding[0]", .string("CAP_FLY")), ("linux.seccomp.syscalls[0].names[0]", .string("no_such_syscall")),
                ("linux.seccomp.syscalls[0].action", .string("SCMP_ACT_BOGUS")), ("linux.seccomp.defaultAction", .string("SCMP_ACT_KILL")),
                ("linux.seccomp.architectures[0]", .string("SCMP_ARCH_Z80")), ("process.rlimits", .array([.object(["type": .string("RLIMIT_FLY"), "hard": .int(1), "soft": .int(1)])])),
            ]
            let (where_, value) = bad[random.below(bad.count)]
            var path: [PathStep] = []
            for part in where_.split(separator: ".") {
                if let open = part.firstIndex(of: "[") {
                    path.append(.key(String(part[..<open])))
                    path.append(.index(Int(part[part.index(after: open)..<part.index(before: part.endIndex)]) ?? 0))
                } else { path.append(.key(String(part))) }
            }
            return (try encoded(replacing(base, at: path[...], with: value)), "bad name \(where_) = \(value)")
        case 10:
            let bytes = try encoded(base)
            let cut = random.below(bytes.count)
            return (bytes.prefix(cut), "truncated at \(cut)")
        default:
            var bytes = [UInt8](try encoded(base))
            let flips = 1 + random.below(4)
            for _ in 0..<flips { bytes[random.below(bytes.count)] ^= UInt8(1 << random.below(8)) }
            return (Data(bytes), "\(flips) byte flips")
        }
    }

    func testFourHundredMutatedSpecsNeitherCrashNorHangNorLeak() throws {
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let probe = (exe as NSString).deletingLastPathComponent + "/lcd-spec-probe"
        XCTAssertEqual(access(probe, X_OK), 0, "lcd-spec-probe is built with the tests")
        // A symlink out of the rootfs for the mutations that aim mounts through it.
        try FileManager.default.createSymbolicLink(atPath: rootfs.path + "/evil", withDestinationPath: "/")
        var spec = Spec.linuxContainer(rootfs: rootfs.path, args: ["true"])
        let rules = spec.linux?.seccomp?.syscalls ?? []
        spec.linux?.seccomp?.syscalls = [.init(names: ["mkdir"], action: .errno)] + rules
        spec.process?.rlimits = [.init(type: "RLIMIT_NOFILE", hard: 1024, soft: 1024)]
        let base = try JSONDecoder().decode(JSONValue.self, from: try OCIJSON.encode(spec))
        let directory = NSTemporaryDirectory() + "lcd-corpus-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        // The VM tier (TCG, 10–50× slower) runs a fifth of the corpus, with a minute for a hang.
        let inVM = ProcessInfo.processInfo.environment["LCD_VM_TIER"] == "1"
        let count = inVM ? 80 : 400
        let hangLimit: TimeInterval = inVM ? 60 : 10
        var random = Random(state: 0x5EED_1234_ABCD_0001)
        var errors = 0, withPath = 0, created = 0
        var unnamed: [String] = []
        for index in 0..<count {
            let (document, what) = try Self.mutate(base, kind: index % 12, &random)
            let file = "\(directory)/\(index).json"
            try document.write(to: URL(fileURLWithPath: file))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: probe)
            process.arguments = [stateDirectory, cgroupParent, file]
            let out = Pipe()
            (process.standardOutput, process.standardError) = (out, FileHandle.nullDevice)
            try process.run()
            let deadline = Date().addingTimeInterval(hangLimit)
            while process.isRunning && Date() < deadline { usleep(2000) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                XCTFail("case \(index) (\(what)) hung for \(Int(hangLimit)) s")
                continue
            }
            let line = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .newlines)
            guard process.terminationReason == .exit, process.terminationStatus == 0 else {
                XCTFail("case \(index) (\(what)) crashed: status \(process.terminationStatus) \(process.terminationReason == .uncaughtSignal ? "(signal)" : "") \(line)")
                continue
            }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            switch fields.first {
            case "created": created += 1
            case "decode-error", "create-error":
                errors += 1
                if fields.count > 1, fields[1].hasPrefix("$") { withPath += 1 } else { unnamed.append("\(what): \(fields.dropFirst().joined(separator: " "))") }
            default: XCTFail("case \(index) (\(what)): unexpected output \(line)")
            }
        }
        XCTAssertGreaterThan(errors, count / 2, "most mutations are refused")
        XCTAssertGreaterThanOrEqual(Double(withPath), 0.95 * Double(errors), "errors without a JSON path:\n" + unnamed.joined(separator: "\n"))
        // Nothing left: state directory, cgroups and helpers are checked by tearDown.
        let mounts = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        XCTAssertFalse(mounts.contains(rootfs.path))
        print("corpus: \(count) documents, \(created) created, \(errors) refused (\(withPath) with a JSON path)")
    }
}
