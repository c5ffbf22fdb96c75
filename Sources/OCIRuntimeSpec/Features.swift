/// The OCI features document: what a runtime implements (`runc features`).
public struct Features: Codable, Hashable, Sendable, OCIDocument {
    public var ociVersionMin: String
    public var ociVersionMax: String
    public var hooks: [String]?
    public var mountOptions: [String]?
    public var linux: Linux?
    public var annotations: [String: String]?
    public var potentiallyUnsafeConfigAnnotations: [String]?
    public var unknownFields: JSONValue?

    enum CodingKeys: String, CodingKey {
        case ociVersionMin, ociVersionMax, hooks, mountOptions, linux, annotations
        case potentiallyUnsafeConfigAnnotations
    }

    public init(
        ociVersionMin: String, ociVersionMax: String, hooks: [String]? = nil,
        mountOptions: [String]? = nil, linux: Linux? = nil, annotations: [String: String]? = nil,
        potentiallyUnsafeConfigAnnotations: [String]? = nil
    ) {
        self.ociVersionMin = ociVersionMin
        self.ociVersionMax = ociVersionMax
        self.hooks = hooks
        self.mountOptions = mountOptions
        self.linux = linux
        self.annotations = annotations
        self.potentiallyUnsafeConfigAnnotations = potentiallyUnsafeConfigAnnotations
    }

    /// A feature that is simply on or off.
    public struct Toggle: Codable, Hashable, Sendable {
        public var enabled: Bool?
        public init(enabled: Bool? = nil) { self.enabled = enabled }
    }

    public struct Linux: Codable, Hashable, Sendable {
        public var namespaces: [String]?
        public var capabilities: [String]?
        public var cgroup: Cgroup?
        public var seccomp: Seccomp?
        public var apparmor: Toggle?
        public var selinux: Toggle?
        public var intelRdt: Toggle?
        public var mountExtensions: MountExtensions?
        public var netDevices: Toggle?
        public init(
            namespaces: [String]? = nil, capabilities: [String]? = nil, cgroup: Cgroup? = nil,
            seccomp: Seccomp? = nil, apparmor: Toggle? = nil, selinux: Toggle? = nil,
            intelRdt: Toggle? = nil, mountExtensions: MountExtensions? = nil, netDevices: Toggle? = nil
        ) {
            self.namespaces = namespaces
            self.capabilities = capabilities
            self.cgroup = cgroup
            self.seccomp = seccomp
            self.apparmor = apparmor
            self.selinux = selinux
            self.intelRdt = intelRdt
            self.mountExtensions = mountExtensions
            self.netDevices = netDevices
        }
    }

    public struct Cgroup: Codable, Hashable, Sendable {
        public var v1: Bool?
        public var v2: Bool?
        public var systemd: Bool?
        public var systemdUser: Bool?
        public var rdma: Bool?
        public init(v1: Bool? = nil, v2: Bool? = nil, systemd: Bool? = nil, systemdUser: Bool? = nil, rdma: Bool? = nil) {
            self.v1 = v1
            self.v2 = v2
            self.systemd = systemd
            self.systemdUser = systemdUser
            self.rdma = rdma
        }
    }

    public struct Seccomp: Codable, Hashable, Sendable {
        public var enabled: Bool?
        public var actions: [String]?
        public var operators: [String]?
        public var archs: [String]?
        public var knownFlags: [String]?
        public var supportedFlags: [String]?
        public init(
            enabled: Bool? = nil, actions: [String]? = nil, operators: [String]? = nil,
            archs: [String]? = nil, knownFlags: [String]? = nil, supportedFlags: [String]? = nil
        ) {
            self.enabled = enabled
            self.actions = actions
            self.operators = operators
            self.archs = archs
            self.knownFlags = knownFlags
            self.supportedFlags = supportedFlags
        }
    }

    public struct MountExtensions: Codable, Hashable, Sendable {
        public var idmap: Toggle?
        public init(idmap: Toggle? = nil) { self.idmap = idmap }
    }
}
