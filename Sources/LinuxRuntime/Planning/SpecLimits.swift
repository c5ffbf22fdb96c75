import Foundation
import LibContainerd
import OCIRuntimeSpec

/// What a spec may not ask for although it decodes: fields this runtime does not apply
/// (refused rather than ignored, so that nobody believes a profile or a scheduler is in force),
/// and values beyond the kernel's limits (refused here with their path, not as a failed
/// system call in the helper).
enum SpecLimits {
    /// HOST_NAME_MAX (and the domain name's, the same 64 bytes).
    static let hostnameMax = 64
    /// NGROUPS_MAX.
    static let groupsMax = 65536

    static func check(_ spec: Spec) throws {
        if let process = spec.process {
            let unsupported: [(String, Bool, String)] = [
                ("$.process.user.umask", process.user.umask != nil, "setting the umask is not implemented"),
                ("$.process.scheduler", process.scheduler != nil, "sched_setattr is not implemented"),
                ("$.process.ioPriority", process.ioPriority != nil, "ioprio_set is not implemented"),
                ("$.process.execCPUAffinity", process.execCPUAffinity != nil, "exec CPU affinity is not implemented"),
                ("$.process.apparmorProfile", !(process.apparmorProfile ?? "").isEmpty, "AppArmor profiles are not applied by this runtime"),
                ("$.process.selinuxLabel", !(process.selinuxLabel ?? "").isEmpty, "SELinux labels are not applied by this runtime"),
                ("$.linux.mountLabel", !(spec.linux?.mountLabel ?? "").isEmpty, "SELinux mount labels are not applied by this runtime"),
                ("$.linux.personality", spec.linux?.personality != nil, "personality(2) is not implemented"),
            ]
            for (path, present, reason) in unsupported where present {
                throw ContainerError.unsupported(feature: path, reason: reason)
            }
            try checkIDs(uid: process.user.uid, gid: process.user.gid, groups: process.user.additionalGids ?? [], at: "$.process.user")
        }
        for (key, name) in [("hostname", spec.hostname), ("domainname", spec.domainname)] {
            if let name, name.utf8.count > hostnameMax {
                throw ContainerError.invalidSpec(path: "$.\(key)", reason: "\(name.utf8.count) bytes; the kernel takes at most \(hostnameMax)")
            }
        }
    }

    /// The AppArmor and SELinux fields of an exec, refused as for the container.
    static func check(_ process: ExecProcess) throws {
        for (name, value) in [("process.apparmorProfile", process.apparmorProfile), ("process.selinuxLabel", process.selinuxLabel)] where !(value ?? "").isEmpty {
            throw ContainerError.unsupported(feature: name, reason: "AppArmor and SELinux are not applied by this runtime")
        }
        if let user = process.user { try checkIDs(uid: user.uid, gid: user.gid, groups: user.additionalGids ?? [], at: "process.user") }
    }

    /// (uid_t)-1 means "unchanged" to the set*id calls: never an id.
    private static func checkIDs(uid: UInt32, gid: UInt32, groups: [UInt32], at path: String) throws {
        if uid == .max { throw ContainerError.invalidSpec(path: "\(path).uid", reason: "4294967295 is not a user id") }
        if gid == .max { throw ContainerError.invalidSpec(path: "\(path).gid", reason: "4294967295 is not a group id") }
        guard groups.count <= groupsMax else {
            throw ContainerError.invalidSpec(path: "\(path).additionalGids", reason: "\(groups.count) groups; the kernel takes at most \(groupsMax)")
        }
        if let index = groups.firstIndex(of: .max) {
            throw ContainerError.invalidSpec(path: "\(path).additionalGids[\(index)]", reason: "4294967295 is not a group id")
        }
    }

    /// A path made only of real components: no `.` or `..` (checked before any prefix test,
    /// so `/dev/../etc/x` is not "under /dev").
    static func isNormalAbsolute(_ path: String) -> Bool {
        path.hasPrefix("/") && !path.split(separator: "/").contains { $0 == "." || $0 == ".." }
    }

    /// The host's huge page sizes as the cgroup files name them ("2MB", "1GB").
    static let hugepageSizes: Set<String> = {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/kernel/mm/hugepages")) ?? []
        return Set(entries.compactMap { entry -> String? in
            guard entry.hasPrefix("hugepages-"), entry.hasSuffix("kB"), let kb = UInt64(entry.dropFirst(10).dropLast(2)) else { return nil }
            return kb >= 1 << 20 && kb % (1 << 20) == 0 ? "\(kb >> 20)GB" : kb >= 1024 && kb % 1024 == 0 ? "\(kb >> 10)MB" : "\(kb)KB"
        })
    }()
}
