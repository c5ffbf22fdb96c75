import OCIRuntimeSpec

/// What a state directory says about one container, checked against the kernel: the answer
/// of ``LinuxClient/inspect(containerID:options:)``, which attaches to nothing and changes
/// nothing. For tools that only look, such as `lcd ps`.
public struct RecordedContainer: Sendable, Equatable {
    public enum Status: Sendable, Equatable {
        case running
        /// Frozen, read from the cgroup's `cgroup.freeze`.
        case paused
        /// Its helper is gone; `code` is the recorded exit status (nil if none was recorded).
        /// Reported as an exit, with this code, by the next `restore`.
        case exited(code: UInt32?)
    }

    public let id: String
    /// The init's host pid.
    public let pid: Int32
    public let status: Status
    /// Names of the exec processes still running.
    public let processes: [String]
    /// Where the container's output goes, when it was created with ``LibContainerd/CreateOption/logFile(_:)``.
    public let logFile: String?
    public let spec: Spec
}
