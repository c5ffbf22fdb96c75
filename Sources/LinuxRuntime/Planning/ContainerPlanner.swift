import ContainerInit
import CLinuxSupport
import Foundation
import Glibc
import LibContainerd
import OCIRuntimeSpec

/// Turns an OCI spec into the helper's plan. Everything that can be checked is checked here,
/// before any directory, cgroup or process exists; errors name the spec's JSON path.
struct ContainerPlanner: Sendable {
    /// Filesystem types the kernel knows (`/proc/filesystems`).
    var knownFilesystems: Set<String>
    /// Whether a host path exists, and is a directory.
    var probe: @Sendable (String) -> Bool? = { path in
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & S_IFMT == S_IFDIR
    }

    static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    static let defaultDevices: [(String, UInt32, UInt32)] = [
        ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
        ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0),
    ]

    static func hostFilesystems() -> Set<String> {
        let text = (try? String(contentsOfFile: "/proc/filesystems", encoding: .utf8)) ?? ""
        return Set(text.split(separator: "\n").compactMap { $0.split(whereSeparator: \.isWhitespace).last.map(String.init) })
    }

    func plan(_ spec: Spec, containerID: String, stateDirectory: String, cgroupPath: String) throws -> Plan {
        try StringCheck.rejectNUL(in: spec)
        try SpecLimits.check(spec)
        guard let process = spec.process else {
            throw ContainerError.invalidSpec(path: "$.process", reason: "required to start a container")
        }
        guard let args = process.args, let program = args.first, !program.isEmpty else {
            throw ContainerError.invalidSpec(path: "$.process.args", reason: "must name the program to run")
        }
        guard process.cwd.hasPrefix("/") else {
            throw ContainerError.invalidSpec(path: "$.process.cwd", reason: "must be an absolute path, not \"\(process.cwd)\"")
        }
        // A cwd in /proc can lead out of the container (/proc/self/fd/N: CVE-2024-21626).
        guard process.cwd != "/proc", !process.cwd.hasPrefix("/proc/") else {
            throw ContainerError.invalidSpec(path: "$.process.cwd", reason: "must not be inside /proc")
        }
        guard let root = spec.root else { throw ContainerError.invalidSpec(path: "$.root", reason: "required") }
        guard root.path.hasPrefix("/") else {
            throw ContainerError.invalidSpec(path: "$.root.path", reason: "must be an absolute path (there is no bundle directory to resolve \"\(root.path)\" against)")
        }
        guard probe(root.path) == true else {
            throw ContainerError.invalidSpec(path: "$.root.path", reason: "\(root.path) is not an existing directory")
        }
        let linux = spec.linux ?? Spec.Linux()

        var create: Int32 = 0
        var joins: [NamespaceJoin] = []
        var seen: Set<Spec.Linux.Namespace.Kind> = []
        for (index, namespace) in (linux.namespaces ?? []).enumerated() {
            let path = "$.linux.namespaces[\(index)]"
            guard seen.insert(namespace.type).inserted else {
                throw ContainerError.invalidSpec(path: "\(path).type", reason: "\(namespace.type.rawValue) namespace listed twice")
            }
            let flag: Int32
            switch namespace.type {
            case .pid: flag = LCD_CLONE_NEWPID
            case .network: flag = LCD_CLONE_NEWNET
            case .mount: flag = LCD_CLONE_NEWNS
            case .ipc: flag = LCD_CLONE_NEWIPC
            case .uts: flag = LCD_CLONE_NEWUTS
            case .cgroup: flag = LCD_CLONE_NEWCGROUP
            case .user: flag = LCD_CLONE_NEWUSER
            case .time:
                throw ContainerError.unsupported(feature: "\(path) (time namespace)", reason: "time namespaces are not implemented yet")
            }
            if let nsPath = namespace.path, !nsPath.isEmpty {
                guard nsPath.hasPrefix("/") else {
                    throw ContainerError.invalidSpec(path: "\(path).path", reason: "must be an absolute path, not \"\(nsPath)\"")
                }
                // Building a rootfs and pivot_root inside the daemon's (or the host's) mount
                // namespace would change the host's file system.
                if namespace.type == .mount, let ns = Self.namespaceIdentity(nsPath),
                   ["/proc/self/ns/mnt", "/proc/1/ns/mnt"].contains(where: { Self.namespaceIdentity($0) == ns }) {
                    throw ContainerError.invalidSpec(path: "\(path).path", reason: "\(nsPath) is the daemon's or the host's mount namespace; a container needs one of its own")
                }
                guard probe(nsPath) != nil else {
                    throw ContainerError.invalidSpec(path: "\(path).path", reason: "\(nsPath) does not exist")
                }
                joins.append(NamespaceJoin(type: flag, path: nsPath, specPath: "\(path).path"))
            } else {
                create |= flag
            }
        }
        guard seen.contains(.mount) else {
            throw ContainerError.invalidSpec(path: "$.linux.namespaces", reason: "a mount namespace is required (the container's mounts must not touch the host)")
        }
        if spec.hostname != nil || spec.domainname != nil, !seen.contains(.uts) {
            throw ContainerError.invalidSpec(path: spec.hostname != nil ? "$.hostname" : "$.domainname", reason: "needs a uts namespace of its own")
        }

        var mounts: [MountStep] = []
        for (index, mount) in (spec.mounts ?? []).enumerated() {
            mounts.append(try plan(mount, at: "$.mounts[\(index)]"))
        }
        for (key, paths) in [("maskedPaths", linux.maskedPaths), ("readonlyPaths", linux.readonlyPaths)] {
            // Applied inside the container after pivot_root: they need a mount namespace, which every plan has.
            for (index, path) in (paths ?? []).enumerated() where !path.hasPrefix("/") {
                throw ContainerError.invalidSpec(path: "$.linux.\(key)[\(index)]", reason: "must be an absolute path")
            }
        }

        let userNamespace = create & LCD_CLONE_NEWUSER != 0
        var devices: [DeviceStep] = []
        for (index, device) in (linux.devices ?? []).enumerated() {
            var step = try plan(device, at: "$.linux.devices[\(index)]")
            if userNamespace {
                // mknod is not allowed in a user namespace: bind the host's node instead.
                guard probe(device.path) == false else {
                    throw ContainerError.invalidSpec(path: "$.linux.devices[\(index)].path", reason: "in a user namespace a device is bound from the host, which has no \(device.path)")
                }
                step.bindFromHost = true
            }
            devices.append(step)
        }
        for (path, major, minor) in Self.defaultDevices where !devices.contains(where: { $0.path == path }) {
            devices.append(DeviceStep(path: path, mode: S_IFCHR | 0o666, major: major, minor: minor, bindFromHost: true))
        }

        let env = process.env ?? []
        let pathVariable = env.last(where: { $0.hasPrefix("PATH=") }).map { String($0.dropFirst(5)) } ?? Self.defaultPath
        var plan = Plan(
            containerID: containerID, cgroupPath: cgroupPath, createNamespaces: create, joinNamespaces: joins,
            rootfs: root.path, rootPropagation: propagation(linux.rootfsPropagation), readonlyRoot: root.readonly ?? false,
            mounts: mounts, devices: devices, hostname: spec.hostname, domainname: spec.domainname,
            uid: process.user.uid, gid: process.user.gid, additionalGids: process.user.additionalGids ?? [],
            cwd: process.cwd, args: args, env: env, searchPath: pathVariable.split(separator: ":").map(String.init),
            stateDirectory: stateDirectory)
        if userNamespace {
            plan.uidMappings = try Self.mappings(linux.uidMappings, key: "uidMappings")
            plan.gidMappings = try Self.mappings(linux.gidMappings, key: "gidMappings")
        } else if linux.uidMappings != nil || linux.gidMappings != nil, !joins.contains(where: { $0.type == LCD_CLONE_NEWUSER }) {
            throw ContainerError.invalidSpec(path: "$.linux.uidMappings", reason: "mappings need a user namespace (add {\"type\": \"user\"} to linux.namespaces)")
        }
        let created = Set((linux.namespaces ?? []).filter { ($0.path ?? "").isEmpty }.map(\.type))
        plan.sysctls = try SecurityPlanner.sysctls(linux.sysctl ?? [:], ownNamespaces: created)
        plan.readonlyPaths = linux.readonlyPaths ?? []
        plan.maskedPaths = linux.maskedPaths ?? []
        plan.rlimits = try SecurityPlanner.rlimits(process.rlimits ?? [])
        if let score = process.oomScoreAdj {
            guard (-1000...1000).contains(score) else {
                throw ContainerError.invalidSpec(path: "$.process.oomScoreAdj", reason: "must be between -1000 and 1000")
            }
            plan.oomScoreAdj = score
        }
        plan.capabilities = try process.capabilities.map(SecurityPlanner.capabilities)
        plan.noNewPrivileges = process.noNewPrivileges ?? false
        plan.terminal = process.terminal ?? false
        if let size = process.consoleSize {
            guard size.height <= UInt(UInt16.max), size.width <= UInt(UInt16.max) else {
                throw ContainerError.invalidSpec(path: "$.process.consoleSize", reason: "at most 65535 in each dimension")
            }
            plan.terminalRows = UInt16(size.height)
            plan.terminalColumns = UInt16(size.width)
        }
        plan.seccomp = try linux.seccomp.map(SeccompCompiler.compile)
        return plan
    }

    /// The id ranges of a new user namespace: required, non-empty, not overlapping on either side.
    static func mappings(_ list: [Spec.IDMapping]?, key: String) throws -> [IDRange] {
        guard let list, !list.isEmpty else {
            throw ContainerError.invalidSpec(path: "$.linux.\(key)", reason: "a new user namespace needs at least one mapping")
        }
        guard list.count <= 340 else { throw ContainerError.invalidSpec(path: "$.linux.\(key)", reason: "the kernel takes at most 340 mappings") }
        for (index, mapping) in list.enumerated() {
            guard mapping.size > 0 else { throw ContainerError.invalidSpec(path: "$.linux.\(key)[\(index)].size", reason: "must be at least 1") }
            for (other, earlier) in list[..<index].enumerated() {
                func overlaps(_ a: UInt32, _ b: UInt32) -> Bool {
                    UInt64(a) < UInt64(b) + UInt64(earlier.size) && UInt64(b) < UInt64(a) + UInt64(mapping.size)
                }
                if overlaps(mapping.containerID, earlier.containerID) || overlaps(mapping.hostID, earlier.hostID) {
                    throw ContainerError.invalidSpec(path: "$.linux.\(key)[\(index)]", reason: "overlaps \(key)[\(other)]")
                }
            }
        }
        return list.map { IDRange(containerID: $0.containerID, hostID: $0.hostID, size: $0.size) }
    }

    private func plan(_ mount: Spec.Mount, at path: String) throws -> MountStep {
        guard mount.destination.hasPrefix("/") else {
            throw ContainerError.invalidSpec(path: "\(path).destination", reason: "must be an absolute path, not \"\(mount.destination)\"")
        }
        let options = MountOptions(mount.options ?? [])
        let isBind = options.flags & MountFlags.bind != 0 || mount.type == "bind"
        let type = isBind ? "" : (mount.type ?? "")
        if isBind {
            guard let source = mount.source, probe(source) != nil else {
                throw ContainerError.invalidSpec(path: "\(path).source", reason: "bind source \(mount.source ?? "(none)") does not exist")
            }
        } else {
            guard !type.isEmpty else { throw ContainerError.invalidSpec(path: "\(path).type", reason: "required for a mount that is not a bind") }
            guard knownFilesystems.contains(type) else {
                throw ContainerError.invalidSpec(path: "\(path).type", reason: "unknown filesystem type \"\(type)\" (not in /proc/filesystems)")
            }
        }
        if mount.uidMappings != nil || mount.gidMappings != nil {
            throw ContainerError.unsupported(feature: "\(path).uidMappings", reason: "id-mapped mounts are not implemented yet")
        }
        var step = MountStep(
            source: mount.source ?? type, destination: mount.destination, type: type,
            flags: options.flags | (isBind ? MountFlags.bind : 0), propagation: options.propagation,
            data: options.data.joined(separator: ","), specPath: path)
        step.recursiveSet = options.recursiveSet
        step.recursiveClear = options.recursiveClear
        return step
    }

    private func plan(_ device: Spec.Linux.Device, at path: String) throws -> DeviceStep {
        let kind: UInt32
        switch device.type {
        case "c", "u": kind = S_IFCHR
        case "b": kind = S_IFBLK
        case "p": kind = S_IFIFO
        default: throw ContainerError.invalidSpec(path: "\(path).type", reason: "\"\(device.type)\" is not one of c, u, b, p")
        }
        guard SpecLimits.isNormalAbsolute(device.path), device.path.hasPrefix("/dev/") else {
            throw ContainerError.invalidSpec(path: "\(path).path", reason: "must be under /dev, without . or .. components")
        }
        if kind != S_IFIFO, device.major == nil || device.minor == nil {
            throw ContainerError.invalidSpec(path: "\(path).major", reason: "major and minor are required for a \(device.type) device")
        }
        // A FIFO's numbers are unused (0); the others were required above.
        func number(_ value: Int64?, _ key: String) throws -> UInt32 {
            try DeviceFilter.number(value ?? 0, at: "\(path).\(key)", wildcard: false) ?? 0
        }
        return DeviceStep(
            path: device.path, mode: kind | (device.fileMode ?? 0o666) & 0o7777, major: try number(device.major, "major"),
            minor: try number(device.minor, "minor"), uid: device.uid ?? 0, gid: device.gid ?? 0)
    }

    /// Device and inode of a namespace file: equal means the same namespace.
    static func namespaceIdentity(_ path: String) -> [UInt64]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return [UInt64(info.st_dev), UInt64(info.st_ino)]
    }

    private func propagation(_ mode: Spec.Linux.RootfsPropagation?) -> UInt {
        switch mode {
        case nil, .private: return MountFlags.recursive | MountFlags.private
        case .shared: return MountFlags.recursive | MountFlags.shared
        case .slave: return MountFlags.recursive | MountFlags.slave
        case .unbindable: return MountFlags.recursive | MountFlags.unbindable
        }
    }
}
