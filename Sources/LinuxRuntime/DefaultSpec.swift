import Foundation
import OCIRuntimeSpec

extension Spec {
    /// The pids limit of ``linuxContainer(rootfs:emptyRoot:etc:args:env:hostname:cwd:)`` where
    /// the host's cgroup2 offers the pids controller: enough for a build with many jobs, far
    /// below the kernel's default pid_max (4 194 304 on 64-bit hosts), so one fork bomb cannot
    /// exhaust the host's pids. Docker sets none by default; Podman sets 2048.
    public static let defaultPidsLimit: Int64 = 4096

    /// A spec for a typical Linux container, with the defences a runtime user expects: its own
    /// pid, network, ipc, uts, mount and cgroup namespaces; no device but the default ones
    /// (`linux.resources.devices` denies all, see Docs/SECURITY.md); a pids limit of
    /// ``defaultPidsLimit`` where the host has the pids controller; /proc, /dev (tmpfs with pts, shm,
    /// mqueue) and a read-only /sys; Docker's default capabilities (none inheritable or
    /// ambient); no_new_privs; the built-in seccomp profile (`Seccomp.containerDefault`); and the
    /// masked and read-only paths of runc's default spec.
    ///
    /// - Parameters:
    ///   - rootfs: the root file system; `nil` for a fresh tmpfs root with the host's `/usr`,
    ///     `/bin`, `/sbin` and `/lib*` bound recursively read-only (`rro`: submounts too),
    ///     nosuid and nodev — a container with no image.
    ///   - emptyRoot: with `rootfs == nil`, an empty directory to serve as the mount point of
    ///     the tmpfs root (nothing is written to it).
    ///   - etc: with `rootfs == nil`, a directory written by ``ZeroSetupEtc/write(to:hostname:)``
    ///     to bind read-only as `/etc`; `nil` for none. The host's `/etc` is never bound.
    public static func linuxContainer(
        rootfs: String?, emptyRoot: String = "/", etc: String? = nil, args: [String], env: [String] = [],
        hostname: String? = nil, cwd: String = "/"
    ) -> Spec {
        var mounts: [Mount] = []
        if rootfs == nil {
            let readOnlyTree = ["rbind", "rro", "rnosuid", "rnodev"]
            mounts.append(.init(destination: "/", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=755", "size=65536k"]))
            for directory in ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
            where FileManager.default.fileExists(atPath: directory) {
                mounts.append(.init(destination: directory, type: "bind", source: directory, options: readOnlyTree))
            }
            if let etc { mounts.append(.init(destination: "/etc", type: "bind", source: etc, options: readOnlyTree)) }
            mounts.append(.init(destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"]))
        }
        mounts += [
            .init(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            .init(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            .init(destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
            .init(destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            .init(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
            .init(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
        ]
        let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        return Spec(
            process: .init(
                user: .init(uid: 0, gid: 0), args: args, env: [path, "TERM=xterm"] + env, cwd: cwd,
                capabilities: .init(bounding: Capabilities.containerDefault, effective: Capabilities.containerDefault,
                                    permitted: Capabilities.containerDefault),
                noNewPrivileges: true),
            root: .init(path: rootfs ?? emptyRoot),
            hostname: hostname,
            mounts: mounts,
            linux: .init(
                resources: .init(
                    devices: [.init(allow: false, access: "rwm")],
                    pids: (try? CgroupHost.detect())?.controllers.contains("pids") == true ? .init(limit: defaultPidsLimit) : nil),
                namespaces: [.init(type: .pid), .init(type: .network), .init(type: .ipc), .init(type: .uts), .init(type: .mount), .init(type: .cgroup)],
                seccomp: .containerDefault,
                maskedPaths: ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                              "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
                readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]))
    }
}
