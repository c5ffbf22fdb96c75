/// The runtime's version and what the host offers — libcontainerd's `ServerVersion`.
public struct ServerVersion: Sendable, Hashable, Codable {
    public var major: UInt32
    public var minor: UInt32
    public var patch: UInt32
    /// Build or source revision; Docker shows it as the containerd commit.
    public var revision: String
    /// The host kernel's release (`uname -r`), if known.
    public var kernel: String?
    /// How the host mounts cgroup v2, if at all.
    public var cgroupMode: CgroupMode?
    /// cgroup v2 controllers available to containers.
    public var controllers: [String]

    public init(
        major: UInt32, minor: UInt32, patch: UInt32, revision: String, kernel: String? = nil,
        cgroupMode: CgroupMode? = nil, controllers: [String] = []
    ) {
        self.major = major
        self.minor = minor
        self.patch = patch
        self.revision = revision
        self.kernel = kernel
        self.cgroupMode = cgroupMode
        self.controllers = controllers
    }

    /// `major.minor.patch`.
    public var version: String { "\(major).\(minor).\(patch)" }
}

/// How cgroup v2 is mounted on the host.
public enum CgroupMode: String, Sendable, Hashable, Codable {
    /// `/sys/fs/cgroup` is cgroup2: every controller the kernel has can be used.
    case unified
    /// `/sys/fs/cgroup` is v1 and cgroup2 sits at `/sys/fs/cgroup/unified`, usually without
    /// controllers: freeze, kill, process lists and cpu.stat work; limits do not.
    case hybrid
}

/// The version of this library.
public let libraryVersion = ServerVersion(major: 0, minor: 1, patch: 0, revision: "libcontainerd-swift")
