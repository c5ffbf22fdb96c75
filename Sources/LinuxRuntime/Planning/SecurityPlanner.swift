import CCap
import CLinuxSupport
import ContainerInit
import Foundation
import Glibc
import LibContainerd
import OCIRuntimeSpec

/// The process-security parts of a plan: capabilities, rlimits, sysctls, no_new_privs.
enum SecurityPlanner {
    /// Capability names → masks. Names libcap does not know are errors; capabilities newer
    /// than the running kernel are left out (runc does the same), since no set can hold them.
    static func capabilities(_ spec: Spec.Capabilities) throws -> CapabilitySets {
        let last = lastCapability
        func mask(_ names: [String]?, _ key: String) throws -> UInt64 {
            var mask: UInt64 = 0
            for (index, name) in (names ?? []).enumerated() {
                var value: cap_value_t = 0
                guard name.uppercased().hasPrefix("CAP_"), cap_from_name(name.lowercased(), &value) == 0 else {
                    throw ContainerError.invalidSpec(path: "$.process.capabilities.\(key)[\(index)]", reason: "unknown capability \"\(name)\"")
                }
                if value <= last { mask |= 1 << UInt64(value) }
            }
            return mask
        }
        let sets = CapabilitySets(
            bounding: try mask(spec.bounding, "bounding"), effective: try mask(spec.effective, "effective"),
            permitted: try mask(spec.permitted, "permitted"), inheritable: try mask(spec.inheritable, "inheritable"),
            ambient: try mask(spec.ambient, "ambient"), lastCapability: last)
        // What capset(2) and PR_CAP_AMBIENT would refuse with a bare EPERM, said with the set.
        func require(_ inner: UInt64, within outer: UInt64, _ key: String, _ rule: String) throws {
            guard inner & ~outer == 0 else { throw ContainerError.invalidSpec(path: "$.process.capabilities.\(key)", reason: rule) }
        }
        try require(sets.effective, within: sets.permitted, "effective", "must be a subset of permitted")
        try require(sets.inheritable, within: sets.bounding, "inheritable", "must be a subset of bounding (the bounding set is dropped first)")
        try require(sets.ambient, within: sets.permitted & sets.inheritable, "ambient", "must be a subset of both permitted and inheritable")
        return sets
    }

    /// The highest capability the running kernel knows: fixed for its life, so read once.
    static let lastCapability: Int32 = {
        let text = (try? String(contentsOfFile: "/proc/sys/kernel/cap_last_cap", encoding: .utf8)) ?? ""
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 40
    }()

    static let rlimitNumbers: [String: Int32] = [
        "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
        "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
        "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
        "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
    ]

    /// Resource limits, refused above the daemon's own hard limits (raising a hard limit needs
    /// CAP_SYS_RESOURCE, which many hosts withhold; RLIMIT_MEMLOCK is never raised).
    static func rlimits(_ limits: [Spec.Rlimit]) throws -> [ResourceLimit] {
        var seen: Set<Int32> = []
        return try limits.enumerated().map { index, limit in
            let path = "$.process.rlimits[\(index)]"
            guard let resource = rlimitNumbers[limit.type] else {
                throw ContainerError.invalidSpec(path: "\(path).type", reason: "unknown resource limit \"\(limit.type)\"")
            }
            guard seen.insert(resource).inserted else {
                throw ContainerError.invalidSpec(path: "\(path).type", reason: "\(limit.type) is set twice")
            }
            guard limit.soft <= limit.hard else {
                throw ContainerError.invalidSpec(path: "\(path).soft", reason: "soft limit \(limit.soft) is above the hard limit \(limit.hard)")
            }
            var soft: UInt64 = 0, hard: UInt64 = 0
            if lcd_getrlimit(resource, &soft, &hard) == 0, limit.hard > hard {
                throw ContainerError.invalidSpec(path: "\(path).hard", reason: "\(limit.type) \(limit.hard) is above the daemon's hard limit \(hard); raising it needs CAP_SYS_RESOURCE")
            }
            return ResourceLimit(resource: resource, soft: limit.soft, hard: limit.hard)
        }
    }

    static let ipcSysctls: Set<String> = [
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
        "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
    ]

    /// Only keys that belong to a namespace the container has of its own: a host-wide key
    /// would change the host.
    static func sysctls(_ values: [String: String], ownNamespaces: Set<Spec.Linux.Namespace.Kind>) throws -> [Sysctl] {
        try values.sorted { $0.key < $1.key }.map { key, value in
            let path = "$.linux.sysctl.\(key)"
            guard !key.contains(".."), !key.contains("/") || key.hasPrefix("net/") else {
                throw ContainerError.invalidSpec(path: path, reason: "not a sysctl name")
            }
            let name = key.replacingOccurrences(of: "/", with: ".")
            let namespace: Spec.Linux.Namespace.Kind?
            if ipcSysctls.contains(name) || name.hasPrefix("fs.mqueue.") {
                namespace = .ipc
            } else if name.hasPrefix("net.") {
                namespace = .network
            } else if name == "kernel.hostname" || name == "kernel.domainname" {
                namespace = .uts
            } else {
                namespace = nil
            }
            guard let namespace else {
                throw ContainerError.invalidSpec(path: path, reason: "\(name) is host-wide (not in any namespace); refusing to change the host")
            }
            guard ownNamespaces.contains(namespace) else {
                throw ContainerError.invalidSpec(path: path, reason: "\(name) needs a \(namespace.rawValue) namespace of the container's own")
            }
            return Sysctl(key: name, value: value)
        }
    }
}
