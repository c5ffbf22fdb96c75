/// Builds the container's filesystem inside its new mount namespace, in the order runc does:
/// propagation of "/", the rootfs bind, the spec's mounts in order, devices, /dev links,
/// pivot_root, then a read-only root if asked.
public struct RootfsBuilder {
    let plan: Plan
    let kernel: any Kernel

    public init(plan: Plan, kernel: any Kernel) {
        self.plan = plan
        self.kernel = kernel
    }

    /// Failures carry the spec path of the step that failed.
    public struct Failure: Error {
        public var specPath: String
        public var error: SyscallError
    }

    /// Everything up to pivot_root, then pivot_root unless `pivot` is false.
    public func build(pivot: Bool = true) throws(Failure) {
        let root = plan.rootfs
        // Keep our mounts from propagating back to the host.
        try step("$.linux.rootfsPropagation") { () throws(SyscallError) in
            try kernel.mount(source: nil, target: "/", type: nil, flags: plan.rootPropagation == 0 ? MountFlags.recursive | MountFlags.private : plan.rootPropagation, data: nil)
        }
        // pivot_root needs the new root to be a mount point.
        try step("$.root.path") { () throws(SyscallError) in
            try kernel.mount(source: root, target: root, type: nil, flags: MountFlags.bind | MountFlags.recursive, data: nil)
        }
        for mount in plan.mounts {
            try step(mount.specPath) { () throws(SyscallError) in try perform(mount) }
        }
        for device in plan.devices {
            try step("$.linux.devices") { () throws(SyscallError) in try create(device) }
        }
        try step("$.mounts") { () throws(SyscallError) in try linkDev() }
        if pivot { try pivotRoot() }
    }

    /// Makes the rootfs the root (after the createContainer hooks, which see the host's paths).
    public func pivotRoot() throws(Failure) {
        try step("$.root.path") { () throws(SyscallError) in try kernel.pivotRoot(plan.rootfs) }
    }

    /// After pivot_root and the sysctls: read-only paths, masked paths, a read-only root.
    /// Paths that do not exist in the container are skipped.
    public func protect() throws(Failure) {
        for (index, path) in plan.readonlyPaths.enumerated() where kernel.isDirectory(path) != nil {
            try step("$.linux.readonlyPaths[\(index)]") { () throws(SyscallError) in
                try kernel.mount(source: path, target: path, type: nil, flags: MountFlags.bind | MountFlags.recursive, data: nil)
                try kernel.mount(source: nil, target: path, type: nil, flags: MountFlags.bind | MountFlags.remount | MountFlags.readonly | MountFlags.nosuid | MountFlags.nodev | MountFlags.noexec, data: nil)
            }
        }
        for (index, path) in plan.maskedPaths.enumerated() {
            try step("$.linux.maskedPaths[\(index)]") { () throws(SyscallError) in
                switch kernel.isDirectory(path) {
                case nil: return
                case true?: try kernel.mount(source: "tmpfs", target: path, type: "tmpfs", flags: MountFlags.readonly, data: "size=0")
                case false?: try kernel.mount(source: "/dev/null", target: path, type: nil, flags: MountFlags.bind, data: nil)
                }
            }
        }
        if plan.readonlyRoot {
            try step("$.root.readonly") { () throws(SyscallError) in
                try kernel.mount(source: nil, target: "/", type: nil, flags: MountFlags.bind | MountFlags.remount | MountFlags.readonly, data: nil)
            }
        }
    }

    /// The host path of a container path.
    func hostPath(_ containerPath: String) -> String {
        let trimmed = containerPath.split(separator: "/").joined(separator: "/")
        return trimmed.isEmpty ? plan.rootfs : plan.rootfs + "/" + trimmed
    }

    private func perform(_ mount: MountStep) throws(SyscallError) {
        // proc and sysfs only onto real directories (CVE-2019-19921); the rest may pass through
        // symlinks, which resolve inside the rootfs.
        let strict = mount.type == "proc" || mount.type == "sysfs"
        let isFile = mount.isBind && kernel.isDirectory(mount.source) == false
        let target = try kernel.resolve(mount.destination, inRoot: plan.rootfs, file: isFile, noSymlinks: strict)
        defer { kernel.release(target) }
        let type = mount.type.isEmpty ? nil : mount.type
        let data = mount.data.isEmpty ? nil : mount.data
        try kernel.mount(source: mount.source, target: target, type: type, flags: mount.flags & ~MountFlags.remount, data: data)
        // A bind mount ignores most flags on the first call; they take a remount. Both that and
        // a propagation change must reach the new mount, not the directory under it that
        // `target` still refers to: resolve the destination again.
        let remountable = MountFlags.readonly | MountFlags.nosuid | MountFlags.nodev | MountFlags.noexec | MountFlags.noatime | MountFlags.nodiratime | MountFlags.relatime | MountFlags.strictatime
        let needsRemount = mount.isBind && mount.flags & remountable != 0
        let recursiveAttributes = mount.recursiveSet | mount.recursiveClear != 0
        guard needsRemount || mount.propagation != 0 || recursiveAttributes else { return }
        let mounted = try kernel.resolve(mount.destination, inRoot: plan.rootfs, file: isFile, noSymlinks: false)
        defer { kernel.release(mounted) }
        if needsRemount {
            try kernel.mount(source: nil, target: mounted, type: nil, flags: (mount.flags & (remountable | MountFlags.bind)) | MountFlags.remount, data: nil)
        }
        if mount.propagation != 0 {
            try kernel.mount(source: nil, target: mounted, type: nil, flags: mount.propagation, data: nil)
        }
        // `rro` and friends: the top mount's flags do not reach its submounts; this does.
        if recursiveAttributes {
            try kernel.setAttributesRecursively(mounted, set: mount.recursiveSet, clear: mount.recursiveClear)
        }
    }

    private func create(_ device: DeviceStep) throws(SyscallError) {
        if device.bindFromHost {
            let target = try kernel.resolve(device.path, inRoot: plan.rootfs, file: true, noSymlinks: true)
            defer { kernel.release(target) }
            try kernel.mount(source: device.path, target: target, type: nil, flags: MountFlags.bind, data: nil)
        } else {
            let directory = try kernel.resolve(parent(of: device.path), inRoot: plan.rootfs, file: false, noSymlinks: true)
            defer { kernel.release(directory) }
            let name = String(device.path.split(separator: "/").last ?? "")
            try kernel.makeNode(directory + "/" + name, mode: device.mode, major: device.major, minor: device.minor)
            try kernel.changeOwner(directory + "/" + name, uid: device.uid, gid: device.gid)
        }
    }

    private func linkDev() throws(SyscallError) {
        guard kernel.isDirectory(hostPath("/dev")) == true else { return }
        let links = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"), ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr")]
        for (target, path) in links { try kernel.symlink(target, at: hostPath(path)) }
        if kernel.isDirectory(hostPath("/dev/pts")) == true, kernel.isDirectory(hostPath("/dev/ptmx")) == nil {
            try kernel.symlink("pts/ptmx", at: hostPath("/dev/ptmx"))
        }
    }

    private func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    private func step(_ specPath: String, _ body: () throws(SyscallError) -> Void) throws(Failure) {
        do { try body() } catch { throw Failure(specPath: specPath, error: error) }
    }
}

/// Records the calls instead of making them, for tests.
public final class RecordingKernel: Kernel {
    public private(set) var calls: [String] = []
    /// Paths that exist (true: directory), consulted by `isDirectory` and updated by the calls.
    public var existing: [String: Bool]

    public init(existing: [String: Bool] = [:]) { self.existing = existing }

    public func mount(source: String?, target: String, type: String?, flags: UInt, data: String?) throws(SyscallError) {
        calls.append("mount \(source ?? "-") \(target) \(type ?? "-") \(flags) \(data ?? "-")")
    }
    public func unmount(_ target: String, flags: Int32) throws(SyscallError) { calls.append("umount \(target)") }
    public func isDirectory(_ path: String) -> Bool? { existing[path] }
    public func makeDirectories(_ path: String) throws(SyscallError) { calls.append("mkdir \(path)"); existing[path] = true }
    public func createFile(_ path: String) throws(SyscallError) { calls.append("touch \(path)"); existing[path] = false }
    public func symlink(_ target: String, at path: String) throws(SyscallError) { calls.append("symlink \(path) -> \(target)") }
    public func makeNode(_ path: String, mode: UInt32, major: UInt32, minor: UInt32) throws(SyscallError) {
        calls.append("mknod \(path) \(major):\(minor)")
    }
    public func changeOwner(_ path: String, uid: UInt32, gid: UInt32) throws(SyscallError) { calls.append("chown \(path) \(uid):\(gid)") }
    public func pivotRoot(_ newRoot: String) throws(SyscallError) { calls.append("pivot_root \(newRoot)") }
    public func setAttributesRecursively(_ target: String, set: UInt64, clear: UInt64) throws(SyscallError) {
        calls.append("mount_setattr \(target) recursive set=\(set) clear=\(clear)")
    }
    /// Records the resolution and hands back the joined path, so the calls read plainly.
    public func resolve(_ path: String, inRoot root: String, file: Bool, noSymlinks: Bool) throws(SyscallError) -> String {
        let joined = root + "/" + path.split(separator: "/").joined(separator: "/")
        calls.append("resolve \(path)\(file ? " (file)" : "")\(noSymlinks ? " (no symlinks)" : "")")
        if existing[joined] == nil { existing[joined] = !file }
        return joined
    }
    public func release(_ resolved: String) {}
}
