import CSeccomp
import ContainerInit
import Foundation
import Glibc
import LibContainerd
import OCIRuntimeSpec
import Synchronization

/// Compiles `linux.seccomp` to a BPF program with libseccomp, in the daemon: names are checked
/// here with errors that point into the spec, and the helper only has to load the bytes.
enum SeccompCompiler {
    // libseccomp's action values (seccomp.h macros Swift cannot import).
    static let actKillThread: UInt32 = 0x0000_0000
    static let actKillProcess: UInt32 = 0x8000_0000
    static let actTrap: UInt32 = 0x0003_0000
    static let actErrno: UInt32 = 0x0005_0000
    static let actTrace: UInt32 = 0x7ff0_0000
    static let actLog: UInt32 = 0x7ffc_0000
    static let actAllow: UInt32 = 0x7fff_0000

    static let filterFlagLog: UInt32 = 1 << 1
    static let filterFlagSpecAllow: UInt32 = 1 << 2

    /// `path` names the action; `errnoPath` the errno value that goes with it. An errno value
    /// must be one the kernel hands back as an error (1…4095).
    static func action(_ action: Spec.Linux.Seccomp.Action, errno: UInt?, at path: String, errnoPath: String) throws -> UInt32 {
        func data() throws -> UInt32 {
            guard let value = errno else { return UInt32(EPERM) }
            guard (1...4095).contains(value) else {
                throw ContainerError.invalidSpec(path: errnoPath, reason: "\(value) is not an errno value (1 to 4095)")
            }
            return UInt32(value)
        }
        switch action {
        case .kill, .killThread: return actKillThread
        case .killProcess: return actKillProcess
        case .trap: return actTrap
        case .errno: return actErrno | (try data())
        case .trace: return actTrace | (try data())
        case .log: return actLog
        case .allow: return actAllow
        case .notify:
            throw ContainerError.unsupported(feature: "\(path) SCMP_ACT_NOTIFY", reason: "seccomp user notification (a listener) is not implemented")
        }
    }

    static func architectureName(_ arch: Spec.Linux.Seccomp.Architecture) -> String {
        String(arch.rawValue.dropFirst("SCMP_ARCH_".count)).lowercased()
    }

    /// Compiled programs by profile: daemons start many containers with one profile.
    private static let cache = Mutex<[Spec.Linux.Seccomp: SeccompProgram]>([:])

    static func compile(_ seccomp: Spec.Linux.Seccomp) throws -> SeccompProgram {
        if let program = cache.withLock({ $0[seccomp] }) { return program }
        let program = try compileUncached(seccomp)
        cache.withLock { cached in
            if cached.count >= 32 { cached.removeAll() }
            cached[seccomp] = program
        }
        return program
    }

    static func compileUncached(_ seccomp: Spec.Linux.Seccomp) throws -> SeccompProgram {
        try checkExecAllowed(seccomp)
        let defaultAction = try action(seccomp.defaultAction, errno: seccomp.defaultErrnoRet, at: "$.linux.seccomp.defaultAction", errnoPath: "$.linux.seccomp.defaultErrnoRet")
        guard let context = seccomp_init(defaultAction) else {
            throw ContainerError.systemCallFailed(operation: "seccomp_init", errno: .init(rawValue: EINVAL))
        }
        defer { seccomp_release(context) }
        for (index, arch) in (seccomp.architectures ?? []).enumerated() {
            let token = seccomp_arch_resolve_name(architectureName(arch))
            guard token != 0 else {
                throw ContainerError.invalidSpec(path: "$.linux.seccomp.architectures[\(index)]", reason: "\(arch.rawValue) is not supported by this libseccomp")
            }
            let rc = seccomp_arch_add(context, token)
            guard rc == 0 || rc == -EEXIST else {
                throw ContainerError.systemCallFailed(operation: "seccomp_arch_add \(arch.rawValue)", errno: .init(rawValue: -rc))
            }
        }
        var flags: UInt32 = 0
        for (index, flag) in (seccomp.flags ?? []).enumerated() {
            switch flag {
            case .log: flags |= filterFlagLog
            case .specAllow: flags |= filterFlagSpecAllow
            case .waitKillableRecv:
                throw ContainerError.unsupported(feature: "$.linux.seccomp.flags[\(index)]", reason: "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV applies to user notification, which is not implemented")
            }
        }
        for (ruleIndex, rule) in (seccomp.syscalls ?? []).enumerated() {
            let path = "$.linux.seccomp.syscalls[\(ruleIndex)]"
            let ruleAction = try action(rule.action, errno: rule.errnoRet, at: "\(path).action", errnoPath: "\(path).errnoRet")
            guard ruleAction != defaultAction else { continue }  // libseccomp refuses redundant rules
            var conditions: [scmp_arg_cmp] = []
            for (argIndex, argument) in (rule.args ?? []).enumerated() {
                guard argument.index < 6 else {
                    throw ContainerError.invalidSpec(path: "\(path).args[\(argIndex)].index", reason: "syscalls have arguments 0 to 5")
                }
                conditions.append(scmp_arg_cmp(arg: UInt32(argument.index), op: compare(argument.op), datum_a: argument.value, datum_b: argument.valueTwo ?? 0))
            }
            // As runc: conditions on distinct arguments are ANDed in one rule; several on the
            // same argument become one rule each (ORed).
            let sameArgument = Set(conditions.map(\.arg)).count < conditions.count
            let groups = sameArgument ? conditions.map { [$0] } : [conditions]
            for (nameIndex, name) in rule.names.enumerated() {
                let number = seccomp_syscall_resolve_name(name)
                guard number != __NR_SCMP_ERROR else {
                    throw ContainerError.invalidSpec(path: "\(path).names[\(nameIndex)]", reason: "unknown syscall \"\(name)\"")
                }
                for group in groups {
                    let rc = group.withUnsafeBufferPointer { seccomp_rule_add_array(context, ruleAction, number, UInt32($0.count), $0.baseAddress) }
                    // A syscall this architecture does not have cannot be filtered: skip it.
                    guard rc == 0 || rc == -EDOM || rc == -EFAULT else {
                        throw ContainerError.invalidSpec(path: "\(path).names[\(nameIndex)]", reason: "libseccomp refused the rule for \(name): \(String(cString: strerror(-rc)))")
                    }
                }
            }
        }
        return SeccompProgram(instructions: try export(context), flags: flags)
    }

    /// The filter is loaded just before `execve`: a profile that refuses or kills execve would
    /// leave a "created" container whose program never ran (and that exits 159 or with the
    /// errno as if the program had failed). Refused here when it can be told without running:
    /// an unconditional rule for execve, or none and a default action that refuses.
    static func checkExecAllowed(_ seccomp: Spec.Linux.Seccomp) throws {
        let lets: Set<Spec.Linux.Seccomp.Action> = [.allow, .log, .trace]
        let rules = (seccomp.syscalls ?? []).enumerated().filter { $0.element.names.contains("execve") }
        if let (index, rule) = rules.last(where: { ($0.element.args ?? []).isEmpty }) {
            guard lets.contains(rule.action) else {
                throw ContainerError.invalidSpec(path: "$.linux.seccomp.syscalls[\(index)].action", reason: "refuses execve: the container's program could never start")
            }
        } else if rules.isEmpty, !lets.contains(seccomp.defaultAction) {
            throw ContainerError.invalidSpec(path: "$.linux.seccomp.defaultAction", reason: "refuses execve, which no rule allows: the container's program could never start")
        }
    }

    private static func compare(_ op: Spec.Linux.Seccomp.Operator) -> scmp_compare {
        switch op {
        case .notEqual: return SCMP_CMP_NE
        case .lessThan: return SCMP_CMP_LT
        case .lessOrEqual: return SCMP_CMP_LE
        case .equal: return SCMP_CMP_EQ
        case .greaterOrEqual: return SCMP_CMP_GE
        case .greaterThan: return SCMP_CMP_GT
        case .maskedEqual: return SCMP_CMP_MASKED_EQ
        }
    }

    /// The BPF program, through a pipe (programs are at most 32 KiB, below a pipe's capacity).
    private static func export(_ context: scmp_filter_ctx) throws -> [UInt8] {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw ContainerError.systemCallFailed(operation: "pipe", errno: .init(rawValue: errno)) }
        defer { close(fds[0]) }
        let rc = seccomp_export_bpf(context, fds[1])
        close(fds[1])
        guard rc == 0 else { throw ContainerError.systemCallFailed(operation: "seccomp_export_bpf", errno: .init(rawValue: -rc)) }
        var program: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n <= 0 { break }
            program += buffer[..<n]
        }
        return program
    }
}
