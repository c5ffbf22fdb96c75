import OCIRuntimeSpec

/// The user a process runs as: uid, gid and additional groups (OCI `process.user`).
public typealias User = Spec.User

/// A POSIX resource limit (OCI `process.rlimits[]`).
public typealias Rlimit = Spec.Rlimit

/// A process to start in a running container with ``Client/addProcess(containerID:processFriendlyName:process:attachStdio:)``
/// — libcontainerd's `Process`.
///
/// Named `ExecProcess` so that it does not clash with Foundation's `Process`. Unset fields come
/// from the container's own `process` section: `env`, `cwd`, `user` and `capabilities` when
/// they are `nil`; `rlimits`, `noNewPrivileges`, `apparmorProfile` and `selinuxLabel` when they
/// are `nil` (the Go original always took the container's values for these four).
public struct ExecProcess: Sendable, Hashable, Codable {
    public var terminal: Bool
    public var user: User?
    public var args: [String]
    public var env: [String]?
    public var cwd: String?
    /// Capability names (`CAP_…`) given to all of the process's capability sets.
    public var capabilities: [String]?
    public var rlimits: [Rlimit]?
    public var noNewPrivileges: Bool?
    public var apparmorProfile: String?
    public var selinuxLabel: String?

    public init(
        args: [String], terminal: Bool = false, user: User? = nil, env: [String]? = nil,
        cwd: String? = nil, capabilities: [String]? = nil, rlimits: [Rlimit]? = nil,
        noNewPrivileges: Bool? = nil, apparmorProfile: String? = nil, selinuxLabel: String? = nil
    ) {
        self.terminal = terminal
        self.user = user
        self.args = args
        self.env = env
        self.cwd = cwd
        self.capabilities = capabilities
        self.rlimits = rlimits
        self.noNewPrivileges = noNewPrivileges
        self.apparmorProfile = apparmorProfile
        self.selinuxLabel = selinuxLabel
    }
}
