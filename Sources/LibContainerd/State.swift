/// The kinds of state change a ``Backend`` is told about. Raw values are the Go constants.
public enum State: String, Sendable, Hashable, Codable, CaseIterable {
    case start = "start-container"
    case pause = "pause"
    case resume = "resume"
    case exit = "exit"
    case restore = "restore"
    case exitProcess = "exit-process"
    case oom = "oom"
}

/// One state change of a container.
public struct StateInfo: Sendable, Hashable, Codable {
    public var state: State
    /// Host pid of the process concerned (the init's for container-wide states), 0 if none.
    public var pid: Int32
    /// Exit status: the exit code, or 128 + signal number if a signal ended the process.
    public var exitCode: UInt32
    /// The friendly name of the process (`"init"`, or the exec's name for `exit-process`).
    public var processID: String
    /// On `exit`: whether the kernel's OOM killer killed a process of this container.
    public var oomKilled: Bool

    public init(state: State, pid: Int32 = 0, exitCode: UInt32 = 0, processID: String = initFriendlyName, oomKilled: Bool = false) {
        self.state = state
        self.pid = pid
        self.exitCode = exitCode
        self.processID = processID
        self.oomKilled = oomKilled
    }
}

/// A state change together with the container it belongs to, as yielded by event streams.
public struct ContainerEvent: Sendable, Hashable {
    public var containerID: String
    public var info: StateInfo
    public init(containerID: String, info: StateInfo) {
        self.containerID = containerID
        self.info = info
    }
}

/// The exit status a process killed by `signal` reports: 128 + the signal number.
public func exitStatus(forSignal signal: Int32) -> UInt32 { 128 + UInt32(signal) }
