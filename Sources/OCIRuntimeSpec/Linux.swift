extension Spec {
    /// Linux-specific configuration (`linux`).
    public struct Linux: Codable, Hashable, Sendable {
        public var uidMappings: [IDMapping]?
        public var gidMappings: [IDMapping]?
        public var sysctl: [String: String]?
        public var resources: Resources?
        public var cgroupsPath: String?
        public var namespaces: [Namespace]?
        public var devices: [Device]?
        public var netDevices: [String: NetDevice]?
        public var seccomp: Seccomp?
        public var rootfsPropagation: RootfsPropagation?
        public var maskedPaths: [String]?
        public var readonlyPaths: [String]?
        public var mountLabel: String?
        public var intelRdt: IntelRdt?
        public var personality: Personality?
        public var timeOffsets: [String: TimeOffset]?

        public init(
            uidMappings: [IDMapping]? = nil, gidMappings: [IDMapping]? = nil,
            sysctl: [String: String]? = nil, resources: Resources? = nil, cgroupsPath: String? = nil,
            namespaces: [Namespace]? = nil, devices: [Device]? = nil,
            netDevices: [String: NetDevice]? = nil, seccomp: Seccomp? = nil,
            rootfsPropagation: RootfsPropagation? = nil, maskedPaths: [String]? = nil,
            readonlyPaths: [String]? = nil, mountLabel: String? = nil, intelRdt: IntelRdt? = nil,
            personality: Personality? = nil, timeOffsets: [String: TimeOffset]? = nil
        ) {
            self.uidMappings = uidMappings
            self.gidMappings = gidMappings
            self.sysctl = sysctl
            self.resources = resources
            self.cgroupsPath = cgroupsPath
            self.namespaces = namespaces
            self.devices = devices
            self.netDevices = netDevices
            self.seccomp = seccomp
            self.rootfsPropagation = rootfsPropagation
            self.maskedPaths = maskedPaths
            self.readonlyPaths = readonlyPaths
            self.mountLabel = mountLabel
            self.intelRdt = intelRdt
            self.personality = personality
            self.timeOffsets = timeOffsets
        }

        public enum RootfsPropagation: String, Codable, Hashable, Sendable, CaseIterable {
            case `private`, shared, slave, unbindable
        }

        /// A namespace the container creates (no `path`) or joins (`path`).
        public struct Namespace: Codable, Hashable, Sendable {
            public enum Kind: String, Codable, Hashable, Sendable, CaseIterable {
                case pid, network, mount, ipc, uts, user, cgroup, time
            }
            public var type: Kind
            public var path: String?
            public init(type: Kind, path: String? = nil) {
                self.type = type
                self.path = path
            }
        }

        /// A device node created in the container (`linux.devices[]`).
        public struct Device: Codable, Hashable, Sendable {
            /// `c`, `b`, `u` or `p`; checked when the container is planned.
            public var type: String
            public var path: String
            public var major: Int64?
            public var minor: Int64?
            public var fileMode: UInt32?
            public var uid: UInt32?
            public var gid: UInt32?
            public init(
                type: String, path: String, major: Int64? = nil, minor: Int64? = nil,
                fileMode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil
            ) {
                self.type = type
                self.path = path
                self.major = major
                self.minor = minor
                self.fileMode = fileMode
                self.uid = uid
                self.gid = gid
            }
        }

        /// A host network device moved into the container (`linux.netDevices`).
        public struct NetDevice: Codable, Hashable, Sendable {
            public var name: String?
            public init(name: String? = nil) { self.name = name }
        }

        /// Clock offsets for a time namespace (`linux.timeOffsets`).
        public struct TimeOffset: Codable, Hashable, Sendable {
            public var secs: Int64?
            public var nanosecs: UInt32?
            public init(secs: Int64? = nil, nanosecs: UInt32? = nil) {
                self.secs = secs
                self.nanosecs = nanosecs
            }
        }

        /// Intel RDT class of service and monitoring (`linux.intelRdt`).
        public struct IntelRdt: Codable, Hashable, Sendable {
            public var closID: String?
            public var schemata: String?
            public var l3CacheSchema: String?
            public var memBwSchema: String?
            public var enableCMT: Bool?
            public var enableMBM: Bool?
            public init(
                closID: String? = nil, schemata: String? = nil, l3CacheSchema: String? = nil,
                memBwSchema: String? = nil, enableCMT: Bool? = nil, enableMBM: Bool? = nil
            ) {
                self.closID = closID
                self.schemata = schemata
                self.l3CacheSchema = l3CacheSchema
                self.memBwSchema = memBwSchema
                self.enableCMT = enableCMT
                self.enableMBM = enableMBM
            }
        }

        /// The execution domain set with `personality(2)`.
        public struct Personality: Codable, Hashable, Sendable {
            public enum Domain: String, Codable, Hashable, Sendable, CaseIterable {
                case linux = "LINUX", linux32 = "LINUX32"
            }
            public var domain: Domain
            public var flags: [String]?
            public init(domain: Domain, flags: [String]? = nil) {
                self.domain = domain
                self.flags = flags
            }
        }

        /// A seccomp filter (`linux.seccomp`).
        public struct Seccomp: Codable, Hashable, Sendable {
            public enum Action: String, Codable, Hashable, Sendable, CaseIterable {
                case kill = "SCMP_ACT_KILL", killProcess = "SCMP_ACT_KILL_PROCESS"
                case killThread = "SCMP_ACT_KILL_THREAD", trap = "SCMP_ACT_TRAP"
                case errno = "SCMP_ACT_ERRNO", trace = "SCMP_ACT_TRACE", allow = "SCMP_ACT_ALLOW"
                case log = "SCMP_ACT_LOG", notify = "SCMP_ACT_NOTIFY"
            }
            public enum Operator: String, Codable, Hashable, Sendable, CaseIterable {
                case notEqual = "SCMP_CMP_NE", lessThan = "SCMP_CMP_LT"
                case lessOrEqual = "SCMP_CMP_LE", equal = "SCMP_CMP_EQ"
                case greaterOrEqual = "SCMP_CMP_GE", greaterThan = "SCMP_CMP_GT"
                case maskedEqual = "SCMP_CMP_MASKED_EQ"
            }
            public enum Architecture: String, Codable, Hashable, Sendable, CaseIterable {
                case x86 = "SCMP_ARCH_X86", x86_64 = "SCMP_ARCH_X86_64", x32 = "SCMP_ARCH_X32"
                case arm = "SCMP_ARCH_ARM", aarch64 = "SCMP_ARCH_AARCH64"
                case loongarch64 = "SCMP_ARCH_LOONGARCH64", m68k = "SCMP_ARCH_M68K"
                case mips = "SCMP_ARCH_MIPS", mips64 = "SCMP_ARCH_MIPS64"
                case mips64n32 = "SCMP_ARCH_MIPS64N32", mipsel = "SCMP_ARCH_MIPSEL"
                case mipsel64 = "SCMP_ARCH_MIPSEL64", mipsel64n32 = "SCMP_ARCH_MIPSEL64N32"
                case ppc = "SCMP_ARCH_PPC", ppc64 = "SCMP_ARCH_PPC64", ppc64le = "SCMP_ARCH_PPC64LE"
                case s390 = "SCMP_ARCH_S390", s390x = "SCMP_ARCH_S390X"
                case sh = "SCMP_ARCH_SH", sheb = "SCMP_ARCH_SHEB"
                case parisc = "SCMP_ARCH_PARISC", parisc64 = "SCMP_ARCH_PARISC64"
                case riscv64 = "SCMP_ARCH_RISCV64"
            }
            public enum Flag: String, Codable, Hashable, Sendable, CaseIterable {
                case log = "SECCOMP_FILTER_FLAG_LOG", specAllow = "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
                case waitKillableRecv = "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
            }
            /// A condition on one syscall argument.
            public struct Argument: Codable, Hashable, Sendable {
                public var index: UInt
                public var value: UInt64
                public var valueTwo: UInt64?
                public var op: Operator
                public init(index: UInt, value: UInt64, valueTwo: UInt64? = nil, op: Operator) {
                    self.index = index
                    self.value = value
                    self.valueTwo = valueTwo
                    self.op = op
                }
            }
            /// A rule: these syscalls (with these argument conditions) take this action.
            public struct Syscall: Codable, Hashable, Sendable {
                public var names: [String]
                public var action: Action
                public var errnoRet: UInt?
                public var args: [Argument]?
                public init(names: [String], action: Action, errnoRet: UInt? = nil, args: [Argument]? = nil) {
                    self.names = names
                    self.action = action
                    self.errnoRet = errnoRet
                    self.args = args
                }
            }

            public var defaultAction: Action
            public var defaultErrnoRet: UInt?
            public var architectures: [Architecture]?
            public var flags: [Flag]?
            public var listenerPath: String?
            public var listenerMetadata: String?
            public var syscalls: [Syscall]?
            public init(
                defaultAction: Action, defaultErrnoRet: UInt? = nil,
                architectures: [Architecture]? = nil, flags: [Flag]? = nil,
                listenerPath: String? = nil, listenerMetadata: String? = nil,
                syscalls: [Syscall]? = nil
            ) {
                self.defaultAction = defaultAction
                self.defaultErrnoRet = defaultErrnoRet
                self.architectures = architectures
                self.flags = flags
                self.listenerPath = listenerPath
                self.listenerMetadata = listenerMetadata
                self.syscalls = syscalls
            }
        }
    }
}
