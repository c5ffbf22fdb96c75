/// The OCI runtime configuration, `config.json` (runtime-spec v1.2).
///
/// Every property carries the spec's JSON key; a `nil` property is left out when encoding.
/// Decode and encode through ``OCIJSON`` to keep keys this library does not model
/// (see ``unknownFields``); plain `JSONDecoder`/`JSONEncoder` work too but drop them.
public struct Spec: Codable, Hashable, Sendable, OCIDocument {
    public var ociVersion: String
    public var process: Process?
    public var root: Root?
    public var hostname: String?
    public var domainname: String?
    public var mounts: [Mount]?
    public var hooks: Hooks?
    public var annotations: [String: String]?
    public var linux: Linux?
    /// Platform sections this Linux runtime does not interpret, kept verbatim.
    public var solaris: JSONValue?
    public var windows: JSONValue?
    public var vm: JSONValue?
    public var zos: JSONValue?
    /// Keys of the input this library does not model, kept so that re-encoding is lossless.
    /// Filled and written back by ``OCIJSON``.
    public var unknownFields: JSONValue?

    /// The OCI runtime spec version this library implements.
    public static let version = "1.2.0"

    enum CodingKeys: String, CodingKey {
        case ociVersion, process, root, hostname, domainname, mounts, hooks, annotations
        case linux, solaris, windows, vm, zos
    }

    public init(
        ociVersion: String = Spec.version, process: Process? = nil, root: Root? = nil,
        hostname: String? = nil, domainname: String? = nil, mounts: [Mount]? = nil,
        hooks: Hooks? = nil, annotations: [String: String]? = nil, linux: Linux? = nil,
        solaris: JSONValue? = nil, windows: JSONValue? = nil, vm: JSONValue? = nil,
        zos: JSONValue? = nil
    ) {
        self.ociVersion = ociVersion
        self.process = process
        self.root = root
        self.hostname = hostname
        self.domainname = domainname
        self.mounts = mounts
        self.hooks = hooks
        self.annotations = annotations
        self.linux = linux
        self.solaris = solaris
        self.windows = windows
        self.vm = vm
        self.zos = zos
    }

    /// The container process (`process`).
    public struct Process: Codable, Hashable, Sendable {
        public var terminal: Bool?
        public var consoleSize: Box?
        public var user: User
        public var args: [String]?
        public var commandLine: String?
        public var env: [String]?
        public var cwd: String
        public var capabilities: Capabilities?
        public var rlimits: [Rlimit]?
        public var noNewPrivileges: Bool?
        public var apparmorProfile: String?
        public var oomScoreAdj: Int?
        public var scheduler: Scheduler?
        public var selinuxLabel: String?
        public var ioPriority: IOPriority?
        public var execCPUAffinity: ExecCPUAffinity?

        public init(
            terminal: Bool? = nil, consoleSize: Box? = nil, user: User = User(),
            args: [String]? = nil, commandLine: String? = nil, env: [String]? = nil,
            cwd: String = "/", capabilities: Capabilities? = nil, rlimits: [Rlimit]? = nil,
            noNewPrivileges: Bool? = nil, apparmorProfile: String? = nil, oomScoreAdj: Int? = nil,
            scheduler: Scheduler? = nil, selinuxLabel: String? = nil,
            ioPriority: IOPriority? = nil, execCPUAffinity: ExecCPUAffinity? = nil
        ) {
            self.terminal = terminal
            self.consoleSize = consoleSize
            self.user = user
            self.args = args
            self.commandLine = commandLine
            self.env = env
            self.cwd = cwd
            self.capabilities = capabilities
            self.rlimits = rlimits
            self.noNewPrivileges = noNewPrivileges
            self.apparmorProfile = apparmorProfile
            self.oomScoreAdj = oomScoreAdj
            self.scheduler = scheduler
            self.selinuxLabel = selinuxLabel
            self.ioPriority = ioPriority
            self.execCPUAffinity = execCPUAffinity
        }
    }

    /// A rectangle in character cells (`process.consoleSize`).
    public struct Box: Codable, Hashable, Sendable {
        public var height: UInt
        public var width: UInt
        public init(height: UInt, width: UInt) {
            self.height = height
            self.width = width
        }
    }

    /// The identity the process runs as (`process.user`).
    public struct User: Codable, Hashable, Sendable {
        public var uid: UInt32
        public var gid: UInt32
        public var umask: UInt32?
        public var additionalGids: [UInt32]?
        public var username: String?
        public init(
            uid: UInt32 = 0, gid: UInt32 = 0, umask: UInt32? = nil,
            additionalGids: [UInt32]? = nil, username: String? = nil
        ) {
            self.uid = uid
            self.gid = gid
            self.umask = umask
            self.additionalGids = additionalGids
            self.username = username
        }
    }

    /// The five capability sets, by name (`CAP_…`).
    public struct Capabilities: Codable, Hashable, Sendable {
        public var bounding: [String]?
        public var effective: [String]?
        public var inheritable: [String]?
        public var permitted: [String]?
        public var ambient: [String]?
        public init(
            bounding: [String]? = nil, effective: [String]? = nil, inheritable: [String]? = nil,
            permitted: [String]? = nil, ambient: [String]? = nil
        ) {
            self.bounding = bounding
            self.effective = effective
            self.inheritable = inheritable
            self.permitted = permitted
            self.ambient = ambient
        }
    }

    /// A POSIX resource limit (`process.rlimits[]`), `type` such as `RLIMIT_NOFILE`.
    public struct Rlimit: Codable, Hashable, Sendable {
        public var type: String
        public var hard: UInt64
        public var soft: UInt64
        public init(type: String, hard: UInt64, soft: UInt64) {
            self.type = type
            self.hard = hard
            self.soft = soft
        }
    }

    /// Scheduling attributes for `sched_setattr(2)` (`process.scheduler`).
    public struct Scheduler: Codable, Hashable, Sendable {
        public enum Policy: String, Codable, Hashable, Sendable, CaseIterable {
            case other = "SCHED_OTHER", fifo = "SCHED_FIFO", roundRobin = "SCHED_RR"
            case batch = "SCHED_BATCH", iso = "SCHED_ISO", idle = "SCHED_IDLE"
            case deadline = "SCHED_DEADLINE"
        }
        public enum Flag: String, Codable, Hashable, Sendable, CaseIterable {
            case resetOnFork = "SCHED_FLAG_RESET_ON_FORK", reclaim = "SCHED_FLAG_RECLAIM"
            case deadlineOverrun = "SCHED_FLAG_DL_OVERRUN", keepPolicy = "SCHED_FLAG_KEEP_POLICY"
            case keepParams = "SCHED_FLAG_KEEP_PARAMS"
            case utilClampMin = "SCHED_FLAG_UTIL_CLAMP_MIN", utilClampMax = "SCHED_FLAG_UTIL_CLAMP_MAX"
        }
        public var policy: Policy
        public var nice: Int32?
        public var priority: Int32?
        public var flags: [Flag]?
        public var runtime: UInt64?
        public var deadline: UInt64?
        public var period: UInt64?
        public init(
            policy: Policy, nice: Int32? = nil, priority: Int32? = nil, flags: [Flag]? = nil,
            runtime: UInt64? = nil, deadline: UInt64? = nil, period: UInt64? = nil
        ) {
            self.policy = policy
            self.nice = nice
            self.priority = priority
            self.flags = flags
            self.runtime = runtime
            self.deadline = deadline
            self.period = period
        }
    }

    /// I/O scheduling class and priority (`process.ioPriority`).
    public struct IOPriority: Codable, Hashable, Sendable {
        public enum Class: String, Codable, Hashable, Sendable, CaseIterable {
            case realtime = "IOPRIO_CLASS_RT", bestEffort = "IOPRIO_CLASS_BE", idle = "IOPRIO_CLASS_IDLE"
        }
        public var `class`: Class
        public var priority: Int
        public init(class: Class, priority: Int) {
            self.class = `class`
            self.priority = priority
        }
    }

    /// CPU affinity for processes started by exec (`process.execCPUAffinity`).
    public struct ExecCPUAffinity: Codable, Hashable, Sendable {
        public var initial: String?
        public var final: String?
        public init(initial: String? = nil, final: String? = nil) {
            self.initial = initial
            self.final = final
        }
    }

    /// The root filesystem (`root`).
    public struct Root: Codable, Hashable, Sendable {
        public var path: String
        public var readonly: Bool?
        public init(path: String, readonly: Bool? = nil) {
            self.path = path
            self.readonly = readonly
        }
    }

    /// A mount made on top of the root filesystem (`mounts[]`).
    public struct Mount: Codable, Hashable, Sendable {
        public var destination: String
        public var type: String?
        public var source: String?
        public var options: [String]?
        public var uidMappings: [IDMapping]?
        public var gidMappings: [IDMapping]?
        public init(
            destination: String, type: String? = nil, source: String? = nil,
            options: [String]? = nil, uidMappings: [IDMapping]? = nil, gidMappings: [IDMapping]? = nil
        ) {
            self.destination = destination
            self.type = type
            self.source = source
            self.options = options
            self.uidMappings = uidMappings
            self.gidMappings = gidMappings
        }
    }

    /// A range of user or group ids mapped from the container to the host.
    public struct IDMapping: Codable, Hashable, Sendable {
        public var containerID: UInt32
        public var hostID: UInt32
        public var size: UInt32
        public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
            self.containerID = containerID
            self.hostID = hostID
            self.size = size
        }
    }

    /// A command run at a point of the container's lifecycle.
    public struct Hook: Codable, Hashable, Sendable {
        public var path: String
        public var args: [String]?
        public var env: [String]?
        /// Seconds; the hook is killed and fails after it.
        public var timeout: Int?
        public init(path: String, args: [String]? = nil, env: [String]? = nil, timeout: Int? = nil) {
            self.path = path
            self.args = args
            self.env = env
            self.timeout = timeout
        }
    }

    /// The lifecycle hooks (`hooks`).
    public struct Hooks: Codable, Hashable, Sendable {
        /// Deprecated by the spec in favour of the three that follow; still honoured.
        public var prestart: [Hook]?
        public var createRuntime: [Hook]?
        public var createContainer: [Hook]?
        public var startContainer: [Hook]?
        public var poststart: [Hook]?
        public var poststop: [Hook]?
        public init(
            prestart: [Hook]? = nil, createRuntime: [Hook]? = nil, createContainer: [Hook]? = nil,
            startContainer: [Hook]? = nil, poststart: [Hook]? = nil, poststop: [Hook]? = nil
        ) {
            self.prestart = prestart
            self.createRuntime = createRuntime
            self.createContainer = createContainer
            self.startContainer = startContainer
            self.poststart = poststart
            self.poststop = poststop
        }
    }
}
