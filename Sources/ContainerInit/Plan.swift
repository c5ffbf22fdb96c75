/// Everything the helper needs to start one container process, fully resolved by the daemon:
/// no decisions are left, only system calls. Encoded as length-prefixed tokens
/// (`<decimal length>:<bytes>`), so no string — whatever bytes a spec put in it — can end a
/// token early or forge the fields after it; the decoder takes exactly one whole plan.
public struct Plan: Equatable, Sendable {
    public var containerID: String
    /// Absolute path of the container's cgroup directory, "" for none.
    public var cgroupPath: String
    /// CLONE_NEW* flags of the namespaces to create (cgroup is unshared after joining the cgroup).
    public var createNamespaces: Int32
    /// Existing namespaces to join, in order.
    public var joinNamespaces: [NamespaceJoin]
    /// Absolute host path of the root filesystem.
    public var rootfs: String
    /// Propagation applied to "/" in the new mount namespace (MS_REC | MS_PRIVATE, …).
    public var rootPropagation: UInt
    public var readonlyRoot: Bool
    public var mounts: [MountStep]
    public var devices: [DeviceStep]
    public var hostname: String?
    public var domainname: String?
    public var uid: UInt32
    public var gid: UInt32
    public var additionalGids: [UInt32]
    public var cwd: String
    public var args: [String]
    public var env: [String]
    /// Directories searched for `args[0]` when it has no slash (from the process's PATH).
    public var searchPath: [String]
    /// The container's state directory: FIFOs, the control FIFO and the exit record live there.
    public var stateDirectory: String
    /// Names of the stdio FIFOs in the state directory ("init" → init-stdin, …).
    public var processName: String
    /// `linux.sysctl`, written after the mounts and before the paths are protected.
    public var sysctls: [Sysctl] = []
    /// `linux.readonlyPaths` and `linux.maskedPaths`, applied inside the container after sysctls.
    public var readonlyPaths: [String] = []
    public var maskedPaths: [String] = []
    public var rlimits: [ResourceLimit] = []
    public var oomScoreAdj: Int?
    /// nil: the process keeps the helper's capabilities (the spec gave none).
    public var capabilities: CapabilitySets?
    public var noNewPrivileges = false
    /// Hooks run by the helper in the runtime's namespaces before pivot_root (prestart, then
    /// createRuntime), by the process in the container's before pivot_root (createContainer)
    /// and after it (startContainer), and by the helper after the start (poststart).
    public var createRuntimeHooks: [HookStep] = []
    public var createContainerHooks: [HookStep] = []
    public var startContainerHooks: [HookStep] = []
    public var poststartHooks: [HookStep] = []
    /// The state JSON hooks read on stdin, without its closing brace: the helper adds
    /// `"status"` and `"pid"`.
    public var stateJSONPrefix = ""
    /// `containerID hostID size` ranges written to /proc/<pid>/uid_map and gid_map by the
    /// helper when the plan creates a user namespace.
    public var uidMappings: [IDRange] = []
    public var gidMappings: [IDRange] = []
    /// Give the process a pty from the container's devpts (bound to /dev/console for an init).
    public var terminal = false
    /// Initial terminal size (rows, columns); 0 for the kernel's default.
    public var terminalRows: UInt16 = 0
    public var terminalColumns: UInt16 = 0
    /// Non-empty: the process's stdout and stderr are one pipe that the helper copies into this
    /// file (see ``LogWriter``) instead of the FIFOs: the container never holds the file.
    public var logPath = ""
    /// The log's cap per file, and how many files (the current one and rotated ones) it keeps.
    public var logMaxSize: UInt64 = 20 << 20
    public var logMaxFiles = 5
    /// Non-empty: instead of creating the process, run this `criu restore` command line
    /// (restoring a checkpoint), with the process's stdin, stdout and stderr on fds 10-12.
    public var criuRestore: [String] = []
    /// Exec mode: the host pid of the container's init, whose namespaces (`joinFlags`) the new
    /// process joins through a pidfd instead of creating any. 0 for a container's init.
    public var joinPid: Int32 = 0
    public var joinFlags: Int32 = 0
    /// A compiled seccomp filter, loaded last (or before the credentials change when
    /// no_new_privs is off, since loading then needs CAP_SYS_ADMIN).
    public var seccomp: SeccompProgram?

    public init(
        containerID: String, cgroupPath: String = "", createNamespaces: Int32 = 0,
        joinNamespaces: [NamespaceJoin] = [], rootfs: String, rootPropagation: UInt = 0,
        readonlyRoot: Bool = false, mounts: [MountStep] = [], devices: [DeviceStep] = [],
        hostname: String? = nil, domainname: String? = nil, uid: UInt32 = 0, gid: UInt32 = 0,
        additionalGids: [UInt32] = [], cwd: String = "/", args: [String], env: [String] = [],
        searchPath: [String] = [], stateDirectory: String, processName: String = "init"
    ) {
        self.containerID = containerID
        self.cgroupPath = cgroupPath
        self.createNamespaces = createNamespaces
        self.joinNamespaces = joinNamespaces
        self.rootfs = rootfs
        self.rootPropagation = rootPropagation
        self.readonlyRoot = readonlyRoot
        self.mounts = mounts
        self.devices = devices
        self.hostname = hostname
        self.domainname = domainname
        self.uid = uid
        self.gid = gid
        self.additionalGids = additionalGids
        self.cwd = cwd
        self.args = args
        self.env = env
        self.searchPath = searchPath
        self.stateDirectory = stateDirectory
        self.processName = processName
    }

    public var stdinPath: String { "\(stateDirectory)/\(processName)-stdin" }
    public var stdoutPath: String { "\(stateDirectory)/\(processName)-stdout" }
    public var stderrPath: String { "\(stateDirectory)/\(processName)-stderr" }
    public var controlPath: String { "\(stateDirectory)/\(processName)-control" }
    public var exitPath: String { "\(stateDirectory)/\(processName)-exit" }
    /// The FIFOs the daemon makes before the helper starts.
    public var fifoPaths: [String] { [stdinPath, stdoutPath, stderrPath, controlPath] }

    /// Every file a process of this name has in a state directory: its FIFOs and its exit record.
    public static func processFiles(_ processName: String, in stateDirectory: String) -> [String] {
        ["stdin", "stdout", "stderr", "control", "exit"].map { "\(stateDirectory)/\(processName)-\($0)" }
    }
}

public struct HookStep: Equatable, Sendable {
    public var path: String
    public var args: [String]
    public var env: [String]
    /// Seconds; 0 for none.
    public var timeout: Int
    /// `$.hooks.createRuntime[0]`, for errors.
    public var specPath: String
    public init(path: String, args: [String], env: [String], timeout: Int, specPath: String) {
        self.path = path
        self.args = args
        self.env = env
        self.timeout = timeout
        self.specPath = specPath
    }
}

public struct IDRange: Equatable, Sendable {
    public var containerID: UInt32
    public var hostID: UInt32
    public var size: UInt32
    public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
        self.containerID = containerID
        self.hostID = hostID
        self.size = size
    }
}

public struct Sysctl: Equatable, Sendable {
    public var key: String
    public var value: String
    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

public struct ResourceLimit: Equatable, Sendable {
    public var resource: Int32
    public var soft: UInt64
    public var hard: UInt64
    public init(resource: Int32, soft: UInt64, hard: UInt64) {
        self.resource = resource
        self.soft = soft
        self.hard = hard
    }
}

/// Capability sets as bit masks (bit n = capability number n).
public struct CapabilitySets: Equatable, Sendable {
    public var bounding: UInt64
    public var effective: UInt64
    public var permitted: UInt64
    public var inheritable: UInt64
    public var ambient: UInt64
    /// The highest capability number the kernel knows (/proc/sys/kernel/cap_last_cap).
    public var lastCapability: Int32
    public init(bounding: UInt64, effective: UInt64, permitted: UInt64, inheritable: UInt64, ambient: UInt64, lastCapability: Int32) {
        self.bounding = bounding
        self.effective = effective
        self.permitted = permitted
        self.inheritable = inheritable
        self.ambient = ambient
        self.lastCapability = lastCapability
    }
}

public struct SeccompProgram: Equatable, Sendable {
    /// BPF instructions, 8 bytes each, as libseccomp exported them.
    public var instructions: [UInt8]
    /// SECCOMP_FILTER_FLAG_* for seccomp(2).
    public var flags: UInt32
    public init(instructions: [UInt8], flags: UInt32) {
        self.instructions = instructions
        self.flags = flags
    }
}

public struct NamespaceJoin: Equatable, Sendable {
    /// The CLONE_NEW* flag of the namespace type.
    public var type: Int32
    public var path: String
    /// Where the path came from in the spec, for error messages (`$.linux.namespaces[2].path`).
    public var specPath: String
    public init(type: Int32, path: String, specPath: String) {
        self.type = type
        self.path = path
        self.specPath = specPath
    }
}

public struct MountStep: Equatable, Sendable {
    public var source: String
    /// Absolute path inside the container ("/" mounts over the root itself).
    public var destination: String
    /// Filesystem type; "" for a bind mount.
    public var type: String
    /// MS_* flags without the propagation ones.
    public var flags: UInt
    /// MS_PRIVATE/MS_SLAVE/MS_SHARED/MS_UNBINDABLE, possibly with MS_REC; 0 for none.
    public var propagation: UInt
    /// Filesystem-specific options.
    public var data: String
    /// Where the mount came from in the spec, for error messages.
    public var specPath: String
    /// MOUNT_ATTR_* applied to the mount and every submount (mount_setattr with AT_RECURSIVE).
    public var recursiveSet: UInt64 = 0
    public var recursiveClear: UInt64 = 0
    public init(source: String, destination: String, type: String, flags: UInt, propagation: UInt = 0, data: String = "", specPath: String) {
        self.source = source
        self.destination = destination
        self.type = type
        self.flags = flags
        self.propagation = propagation
        self.data = data
        self.specPath = specPath
    }
    public var isBind: Bool { flags & MountFlags.bind != 0 }

}

public struct DeviceStep: Equatable, Sendable {
    public var path: String
    /// S_IFCHR, S_IFBLK or S_IFIFO combined with the permission bits.
    public var mode: UInt32
    public var major: UInt32
    public var minor: UInt32
    public var uid: UInt32
    public var gid: UInt32
    /// Bind-mount the host's node of the same path instead of mknod (the default devices).
    public var bindFromHost: Bool
    public init(path: String, mode: UInt32, major: UInt32, minor: UInt32, uid: UInt32 = 0, gid: UInt32 = 0, bindFromHost: Bool = false) {
        self.path = path
        self.mode = mode
        self.major = major
        self.minor = minor
        self.uid = uid
        self.gid = gid
        self.bindFromHost = bindFromHost
    }
}

/// mount_setattr(2) attributes (Linux ABI values).
public enum MountAttributes {
    public static let readonly: UInt64 = 0x1
    public static let nosuid: UInt64 = 0x2
    public static let nodev: UInt64 = 0x4
    public static let noexec: UInt64 = 0x8
    public static let atimeMask: UInt64 = 0x70
    public static let relatime: UInt64 = 0x0
    public static let noatime: UInt64 = 0x10
    public static let strictatime: UInt64 = 0x20
    public static let nodiratime: UInt64 = 0x80
    public static let nosymfollow: UInt64 = 0x20_0000
}

/// mount(2) flags (Linux ABI values).
public enum MountFlags {
    public static let readonly: UInt = 1
    public static let nosuid: UInt = 2
    public static let nodev: UInt = 4
    public static let noexec: UInt = 8
    public static let synchronous: UInt = 16
    public static let remount: UInt = 32
    public static let mandlock: UInt = 64
    public static let dirsync: UInt = 128
    public static let nosymfollow: UInt = 256
    public static let noatime: UInt = 1024
    public static let nodiratime: UInt = 2048
    public static let bind: UInt = 4096
    public static let move: UInt = 8192
    public static let recursive: UInt = 16384
    public static let silent: UInt = 32768
    public static let unbindable: UInt = 1 << 17
    public static let `private`: UInt = 1 << 18
    public static let slave: UInt = 1 << 19
    public static let shared: UInt = 1 << 20
    public static let relatime: UInt = 1 << 21
    public static let strictatime: UInt = 1 << 24
    public static let propagationMask: UInt = unbindable | `private` | slave | shared
}

// MARK: - Encoding

public struct PlanDecodingError: Error, Equatable {
    public var reason: String
}

extension Plan {
    public func encoded() -> [UInt8] {
        var out = TokenWriter()
        write(to: &out)
        return out.bytes
    }

    /// A plan from exactly `bytes`.
    public init(decoding bytes: [UInt8]) throws(PlanDecodingError) {
        var r = TokenReader(bytes)
        try self.init(reading: &r)
        guard r.isAtEnd else { throw PlanDecodingError(reason: "\(bytes.count - r.index) bytes after the plan") }
    }

    public func write(to out: inout TokenWriter) {
        out.put("lcd-plan-2")
        out.put(containerID); out.put(cgroupPath); out.put(Int(createNamespaces))
        out.put(joinNamespaces.count)
        for join in joinNamespaces { out.put(Int(join.type)); out.put(join.path); out.put(join.specPath) }
        out.put(rootfs); out.put(Int(rootPropagation)); out.put(readonlyRoot)
        out.put(mounts.count)
        for m in mounts {
            out.put(m.source); out.put(m.destination); out.put(m.type); out.put(Int(m.flags))
            out.put(Int(m.propagation)); out.put(m.data); out.put(m.specPath)
            out.put(String(m.recursiveSet)); out.put(String(m.recursiveClear))
        }
        out.put(devices.count)
        for d in devices {
            out.put(d.path); out.put(Int(d.mode)); out.put(Int(d.major)); out.put(Int(d.minor))
            out.put(Int(d.uid)); out.put(Int(d.gid)); out.put(d.bindFromHost)
        }
        out.putOptional(hostname); out.putOptional(domainname)
        out.put(Int(uid)); out.put(Int(gid)); out.putList(additionalGids.map { String($0) })
        out.put(cwd); out.putList(args); out.putList(env); out.putList(searchPath)
        out.put(stateDirectory); out.put(processName)
        out.put(sysctls.count)
        for sysctl in sysctls { out.put(sysctl.key); out.put(sysctl.value) }
        out.putList(readonlyPaths); out.putList(maskedPaths)
        out.put(rlimits.count)
        for limit in rlimits { out.put(Int(limit.resource)); out.put(String(limit.soft)); out.put(String(limit.hard)) }
        out.putOptional(oomScoreAdj.map { String($0) })
        out.put(capabilities != nil)
        if let c = capabilities {
            for mask in [c.bounding, c.effective, c.permitted, c.inheritable, c.ambient] { out.put(String(mask)) }
            out.put(Int(c.lastCapability))
        }
        out.put(noNewPrivileges)
        out.put(Int(joinPid)); out.put(Int(joinFlags))
        out.put(terminal); out.put(Int(terminalRows)); out.put(Int(terminalColumns)); out.put(logPath); out.put(String(logMaxSize)); out.put(logMaxFiles); out.putList(criuRestore)
        for hooks in [createRuntimeHooks, createContainerHooks, startContainerHooks, poststartHooks] {
            out.put(hooks.count)
            for h in hooks { out.put(h.path); out.putList(h.args); out.putList(h.env); out.put(h.timeout); out.put(h.specPath) }
        }
        out.put(stateJSONPrefix)
        for ranges in [uidMappings, gidMappings] {
            out.put(ranges.count)
            for r in ranges { out.put(Int(r.containerID)); out.put(Int(r.hostID)); out.put(Int(r.size)) }
        }
        out.put(seccomp != nil)
        if let seccomp {
            out.put(Int(seccomp.flags))
            out.put(seccomp.instructions.map { String($0) }.joined(separator: ","))
        }
    }

    public init(reading r: inout TokenReader) throws(PlanDecodingError) {
        guard try r.string() == "lcd-plan-2" else { throw PlanDecodingError(reason: "not a version 2 plan") }
        let containerID = try r.string(), cgroupPath = try r.string(), create = Int32(try r.int())
        var joins: [NamespaceJoin] = []
        for _ in 0..<(try r.count()) { joins.append(NamespaceJoin(type: Int32(try r.int()), path: try r.string(), specPath: try r.string())) }
        let rootfs = try r.string(), propagation = UInt(try r.int()), readonly = try r.bool()
        var mounts: [MountStep] = []
        for _ in 0..<(try r.count()) {
            var mount = MountStep(
                source: try r.string(), destination: try r.string(), type: try r.string(), flags: UInt(try r.int()),
                propagation: UInt(try r.int()), data: try r.string(), specPath: try r.string())
            mount.recursiveSet = try r.unsigned()
            mount.recursiveClear = try r.unsigned()
            mounts.append(mount)
        }
        var devices: [DeviceStep] = []
        for _ in 0..<(try r.count()) {
            devices.append(DeviceStep(
                path: try r.string(), mode: UInt32(try r.int()), major: UInt32(try r.int()), minor: UInt32(try r.int()),
                uid: UInt32(try r.int()), gid: UInt32(try r.int()), bindFromHost: try r.bool()))
        }
        let hostname = try r.optional(), domainname = try r.optional()
        let uid = UInt32(try r.int()), gid = UInt32(try r.int())
        var groups: [UInt32] = []
        for token in try r.list() {
            guard let gid = UInt32(token) else { throw PlanDecodingError(reason: "bad group id \(token)") }
            groups.append(gid)
        }
        self.init(
            containerID: containerID, cgroupPath: cgroupPath, createNamespaces: create, joinNamespaces: joins,
            rootfs: rootfs, rootPropagation: propagation, readonlyRoot: readonly, mounts: mounts, devices: devices,
            hostname: hostname, domainname: domainname, uid: uid, gid: gid, additionalGids: groups,
            cwd: try r.string(), args: try r.list(), env: try r.list(), searchPath: try r.list(),
            stateDirectory: try r.string(), processName: try r.string())
        for _ in 0..<(try r.count()) { sysctls.append(Sysctl(key: try r.string(), value: try r.string())) }
        readonlyPaths = try r.list()
        maskedPaths = try r.list()
        for _ in 0..<(try r.count()) {
            rlimits.append(ResourceLimit(resource: Int32(try r.int()), soft: try r.unsigned(), hard: try r.unsigned()))
        }
        oomScoreAdj = try r.optional().map { token throws(PlanDecodingError) in
            guard let value = Int(token) else { throw PlanDecodingError(reason: "bad oom score \(token)") }
            return value
        }
        if try r.bool() {
            let masks = [try r.unsigned(), try r.unsigned(), try r.unsigned(), try r.unsigned(), try r.unsigned()]
            capabilities = CapabilitySets(bounding: masks[0], effective: masks[1], permitted: masks[2], inheritable: masks[3], ambient: masks[4], lastCapability: Int32(try r.int()))
        }
        noNewPrivileges = try r.bool()
        joinPid = Int32(try r.int())
        joinFlags = Int32(try r.int())
        terminal = try r.bool()
        terminalRows = UInt16(truncatingIfNeeded: try r.int())
        terminalColumns = UInt16(truncatingIfNeeded: try r.int())
        logPath = try r.string()
        logMaxSize = try r.unsigned()
        logMaxFiles = try r.int()
        criuRestore = try r.list()
        var hookLists: [[HookStep]] = []
        for _ in 0..<4 {
            var hooks: [HookStep] = []
            for _ in 0..<(try r.count()) {
                hooks.append(HookStep(path: try r.string(), args: try r.list(), env: try r.list(), timeout: try r.int(), specPath: try r.string()))
            }
            hookLists.append(hooks)
        }
        (createRuntimeHooks, createContainerHooks, startContainerHooks, poststartHooks) = (hookLists[0], hookLists[1], hookLists[2], hookLists[3])
        stateJSONPrefix = try r.string()
        for index in 0..<2 {
            var ranges: [IDRange] = []
            for _ in 0..<(try r.count()) {
                ranges.append(IDRange(containerID: UInt32(truncatingIfNeeded: try r.int()), hostID: UInt32(truncatingIfNeeded: try r.int()), size: UInt32(truncatingIfNeeded: try r.int())))
            }
            if index == 0 { uidMappings = ranges } else { gidMappings = ranges }
        }
        if try r.bool() {
            let flags = UInt32(try r.int())
            var bytes: [UInt8] = []
            for token in try r.string().split(separator: ",") {
                guard let byte = UInt8(token) else { throw PlanDecodingError(reason: "bad seccomp program") }
                bytes.append(byte)
            }
            seccomp = SeccompProgram(instructions: bytes, flags: flags)
        }
    }
}

/// `<decimal length>:<bytes>` per token: the length is read before the bytes, so the bytes are
/// never searched for a separator.
public struct TokenWriter {
    /// What has been written so far.
    public private(set) var bytes: [UInt8] = []
    public init() {}
    /// One token: the string's UTF-8 bytes, whatever they are, after their count.
    public mutating func put(_ s: String) {
        let utf8 = Array(s.utf8)
        bytes += Array(String(utf8.count).utf8)
        bytes.append(UInt8(ascii: ":"))
        bytes += utf8
    }
    /// A decimal number as one token.
    public mutating func put(_ n: Int) { put(String(n)) }
    /// `1` or `0`.
    public mutating func put(_ b: Bool) { put(b ? "1" : "0") }
    /// A presence flag, then the string if present.
    public mutating func putOptional(_ s: String?) { if let s { put(true); put(s) } else { put(false) } }
    /// The count, then each string.
    public mutating func putList(_ list: [String]) { put(list.count); for s in list { put(s) } }
}

/// Reads what ``TokenWriter`` wrote, in the same order; every read checks the bytes are there.
public struct TokenReader {
    let bytes: [UInt8]
    /// How many bytes have been read.
    public private(set) var index = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    /// Whether every byte has been read (a message or plan must be used up exactly).
    public var isAtEnd: Bool { index == bytes.count }
    /// The next token as a string.
    public mutating func string() throws(PlanDecodingError) -> String {
        var length = 0, digits = 0
        while index < bytes.count, bytes[index] != UInt8(ascii: ":") {
            let digit = Int(bytes[index]) - Int(UInt8(ascii: "0"))
            guard (0...9).contains(digit), digits < 10 else { throw PlanDecodingError(reason: "bad token length at byte \(index)") }
            length = length * 10 + digit
            digits += 1
            index += 1
        }
        guard digits > 0, index < bytes.count, length <= bytes.count - index - 1 else { throw PlanDecodingError(reason: "truncated plan") }
        let start = index + 1
        index = start + length
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }
    /// The next token as a decimal number.
    public mutating func int() throws(PlanDecodingError) -> Int {
        let token = try string()
        guard let n = Int(token) else { throw PlanDecodingError(reason: "expected a number, found \(token)") }
        return n
    }
    /// A list length: never negative, never more than the bytes left could hold.
    mutating func count() throws(PlanDecodingError) -> Int {
        let n = try int()
        guard n >= 0, n <= bytes.count - index else { throw PlanDecodingError(reason: "bad list length \(n)") }
        return n
    }
    mutating func bool() throws(PlanDecodingError) -> Bool { try string() == "1" }
    mutating func unsigned() throws(PlanDecodingError) -> UInt64 {
        let token = try string()
        guard let n = UInt64(token) else { throw PlanDecodingError(reason: "expected an unsigned number, found \(token)") }
        return n
    }
    mutating func optional() throws(PlanDecodingError) -> String? { try bool() ? try string() : nil }
    mutating func list() throws(PlanDecodingError) -> [String] {
        var out: [String] = []
        for _ in 0..<(try count()) { out.append(try string()) }
        return out
    }
}
