import CLinuxSupport
import Glibc
import LibContainerd
import OCIRuntimeSpec

/// One device access rule: which devices (type, major, minor; nil is any) and which access.
struct DeviceRule: Equatable, Sendable {
    enum Kind: Equatable, Sendable { case all, char, block }
    var allow: Bool
    var kind: Kind
    var major: UInt32?
    var minor: UInt32?
    /// BPF_DEVCG_ACC_* bits: mknod 1, read 2, write 4.
    var access: UInt32

    static let mknod: UInt32 = 1, read: UInt32 = 2, write: UInt32 = 4, rwm: UInt32 = 7
}

/// Device access control on cgroup v2: a `BPF_PROG_TYPE_CGROUP_DEVICE` program, deny by
/// default, built from `linux.resources.devices` the way runc's device filter is.
///
/// The rules are one list — the spec's rules, then the devices every container has, then the
/// devices the spec creates (`linux.devices`) — and the **last** matching rule decides, as in
/// runc: the program tests them in reverse order and returns at the first match.
enum DeviceFilter {
    /// What runc 1.1 adds after the spec's rules (measured side by side on the same spec):
    /// mknod of any node; read/write of null, zero, full, random, urandom, tty, ptmx, the
    /// pts devices and tun. Opening anything else — a host disk, /dev/kmsg, /dev/kvm,
    /// /dev/mem, a VT — is refused with EPERM.
    static let defaultRules: [DeviceRule] = [
        .init(allow: true, kind: .char, major: nil, minor: nil, access: DeviceRule.mknod),
        .init(allow: true, kind: .block, major: nil, minor: nil, access: DeviceRule.mknod),
    ] + [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2), (10, 200)].map { major, minor in
        DeviceRule(allow: true, kind: .char, major: major, minor: minor, access: DeviceRule.rwm)
    } + [DeviceRule(allow: true, kind: .char, major: 136, minor: nil, access: DeviceRule.rwm)]

    /// The full rule list of a spec, checked with JSON paths; nothing is allowed that no rule allows.
    static func rules(_ spec: Spec) throws -> [DeviceRule] {
        try rules(spec.linux?.resources?.devices ?? [], path: "$.linux.resources.devices", created: spec.linux?.devices ?? [])
    }

    static func rules(_ given: [Spec.Linux.Resources.DeviceRule], path: String, created: [Spec.Linux.Device]) throws -> [DeviceRule] {
        var rules: [DeviceRule] = []
        for (index, rule) in given.enumerated() {
            let at = "\(path)[\(index)]"
            let kind: DeviceRule.Kind
            switch rule.type ?? "a" {
            case "a": kind = .all
            case "c": kind = .char
            case "b": kind = .block
            case let other: throw ContainerError.invalidSpec(path: "\(at).type", reason: "\"\(other)\" is not one of a, c, b")
            }
            var access: UInt32 = 0
            for character in rule.access ?? "rwm" {
                switch character {
                case "r": access |= DeviceRule.read
                case "w": access |= DeviceRule.write
                case "m": access |= DeviceRule.mknod
                default: throw ContainerError.invalidSpec(path: "\(at).access", reason: "\"\(rule.access ?? "")\" may hold only r, w and m")
                }
            }
            if access == 0 { access = DeviceRule.rwm }  // "" means all, as in runc
            rules.append(DeviceRule(
                allow: rule.allow, kind: kind, major: try number(rule.major, at: "\(at).major"),
                minor: try number(rule.minor, at: "\(at).minor"), access: access))
        }
        rules += defaultRules
        for (index, device) in created.enumerated() where device.type != "p" {
            rules.append(DeviceRule(
                allow: true, kind: device.type == "b" ? .block : .char,
                major: try number(device.major, at: "$.linux.devices[\(index)].major", wildcard: false),
                minor: try number(device.minor, at: "$.linux.devices[\(index)].minor", wildcard: false), access: DeviceRule.rwm))
        }
        return rules
    }

    /// nil or -1 is a wildcard; anything else must fit the kernel's 32-bit device numbers.
    /// (The planner checks `linux.devices` with this too.)
    static func number(_ value: Int64?, at path: String, wildcard: Bool = true) throws -> UInt32? {
        guard let value, !(wildcard && value == -1) else { return nil }
        guard let number = UInt32(exactly: value) else {
            throw ContainerError.invalidSpec(path: path, reason: "\(value) is not a device number (0 to \(UInt32.max)\(wildcard ? ", or -1 for any" : ""))")
        }
        return number
    }

    // MARK: - The program

    /// eBPF registers and opcodes (linux/bpf_common.h, linux/bpf.h).
    private enum Op {
        static let loadWord: UInt8 = 0x61       // BPF_LDX | BPF_MEM | BPF_W
        static let and32: UInt8 = 0x54          // BPF_ALU | BPF_AND | BPF_K
        static let shiftRight32: UInt8 = 0x74   // BPF_ALU | BPF_RSH | BPF_K
        static let move32Register: UInt8 = 0xbc // BPF_ALU | BPF_MOV | BPF_X
        static let move32: UInt8 = 0xb4         // BPF_ALU | BPF_MOV | BPF_K
        static let jumpIfNot32: UInt8 = 0x56    // BPF_JMP32 | BPF_JNE | BPF_K
        static let jumpIfNot32Register: UInt8 = 0x5e  // BPF_JMP32 | BPF_JNE | BPF_X
        static let exit: UInt8 = 0x95           // BPF_JMP | BPF_EXIT
    }

    struct Instruction: Equatable {
        var code: UInt8
        var dst: UInt8 = 0
        var src: UInt8 = 0
        var offset: Int16 = 0
        var imm: Int32 = 0
        var bytes: [UInt8] {
            [code, dst | src << 4, UInt8(truncatingIfNeeded: offset), UInt8(truncatingIfNeeded: offset >> 8)]
                + (0..<4).map { UInt8(truncatingIfNeeded: imm >> ($0 * 8)) }
        }
    }

    /// The program for `rules`. Context (struct bpf_cgroup_dev_ctx) in r1: access_type
    /// (access << 16 | type), major, minor. Loaded once into r2 (type: block 1, char 2),
    /// r3 (access), r4 (major), r5 (minor); r0 is the answer (1 allow, 0 deny).
    static func program(_ rules: [DeviceRule]) -> [Instruction] {
        var program: [Instruction] = [
            .init(code: Op.loadWord, dst: 2, src: 1, offset: 0),
            .init(code: Op.and32, dst: 2, imm: 0xffff),
            .init(code: Op.loadWord, dst: 3, src: 1, offset: 0),
            .init(code: Op.shiftRight32, dst: 3, imm: 16),
            .init(code: Op.loadWord, dst: 4, src: 1, offset: 4),
            .init(code: Op.loadWord, dst: 5, src: 1, offset: 8),
        ]
        for rule in rules.reversed() {
            // Each test jumps past the rest of this rule's block when the device does not match.
            var block: [Instruction] = []
            switch rule.kind {
            case .all: break
            case .char: block.append(.init(code: Op.jumpIfNot32, dst: 2, imm: 2))
            case .block: block.append(.init(code: Op.jumpIfNot32, dst: 2, imm: 1))
            }
            if rule.access != DeviceRule.rwm {
                // Every access asked for must be in the rule: (access & rule) == access.
                block.append(.init(code: Op.move32Register, dst: 1, src: 3))
                block.append(.init(code: Op.and32, dst: 1, imm: Int32(rule.access)))
                block.append(.init(code: Op.jumpIfNot32Register, dst: 1, src: 3))
            }
            if let major = rule.major { block.append(.init(code: Op.jumpIfNot32, dst: 4, imm: Int32(bitPattern: major))) }
            if let minor = rule.minor { block.append(.init(code: Op.jumpIfNot32, dst: 5, imm: Int32(bitPattern: minor))) }
            block.append(.init(code: Op.move32, dst: 0, imm: rule.allow ? 1 : 0))
            block.append(.init(code: Op.exit))
            for index in block.indices where block[index].code == Op.jumpIfNot32 || block[index].code == Op.jumpIfNot32Register {
                block[index].offset = Int16(block.count - 1 - index)
            }
            program += block
            // A rule that matches every device decides for all that the earlier rules would
            // have: stop here (the verifier refuses unreachable instructions).
            if block.count == 2 { return program }
        }
        program.append(.init(code: Op.move32, dst: 0, imm: 0))
        program.append(.init(code: Op.exit))
        return program
    }
}

extension Cgroup {
    /// Replaces the device program attached to this cgroup: the new one is attached first,
    /// then the earlier ones are detached, so no moment allows more than either list.
    /// Works on hybrid hosts too: the device hook of cgroup v2 applies to every process in a
    /// v2 cgroup, whatever the v1 hierarchies say.
    func allowDevices(_ rules: [DeviceRule]) throws {
        let directory = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw ContainerError.systemCallFailed(operation: "open \(path)", errno: .init(rawValue: errno)) }
        defer { close(directory) }
        var earlier = [UInt32](repeating: 0, count: 64)
        let count = lcd_bpf_query_device_programs(directory, &earlier, UInt32(earlier.count))
        guard count >= 0 else { throw ContainerError.systemCallFailed(operation: "bpf query device programs of \(path)", errno: .init(rawValue: errno)) }

        let bytes = DeviceFilter.program(rules).flatMap(\.bytes)
        let program = bytes.withUnsafeBytes { lcd_bpf_load_device_program($0.baseAddress, UInt32(bytes.count / 8), nil, 0) }
        guard program >= 0 else {
            let code = errno
            // Again with the verifier's log, for the error (a log too small fails a good load).
            var log = [CChar](repeating: 0, count: 1 << 16)
            let again = bytes.withUnsafeBytes { lcd_bpf_load_device_program($0.baseAddress, UInt32(bytes.count / 8), &log, UInt32(log.count)) }
            if again >= 0 { close(again) }
            let verifier = String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ContainerError.systemCallFailed(operation: "bpf load device program (\(rules.count) rules)\(verifier.isEmpty ? "" : ": " + verifier)", errno: .init(rawValue: code))
        }
        defer { close(program) }
        guard lcd_bpf_attach_device_program(directory, program) == 0 else {
            throw ContainerError.systemCallFailed(operation: "bpf attach device program to \(path)", errno: .init(rawValue: errno))
        }
        for id in earlier.prefix(Int(min(count, Int32(earlier.count)))) {
            let old = lcd_bpf_program_fd(id)
            guard old >= 0 else { continue }
            defer { close(old) }
            _ = lcd_bpf_detach_device_program(directory, old)
        }
    }
}
