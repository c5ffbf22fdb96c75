import Foundation

/// Resource usage of a container, from cgroup v2 and its network namespace — the figures
/// Docker's stats need. A section is `nil` when its controller is absent on the host.
public struct Stats: Sendable, Hashable, Codable {
    public var timestamp: Date
    public var cpu: CPU?
    public var memory: Memory?
    public var pids: Pids?
    /// Per block device, from `io.stat`.
    public var io: [IODevice]?
    /// Per interface of the container's network namespace.
    public var network: [NetworkInterface]?

    public init(
        timestamp: Date = Date(), cpu: CPU? = nil, memory: Memory? = nil, pids: Pids? = nil,
        io: [IODevice]? = nil, network: [NetworkInterface]? = nil
    ) {
        self.timestamp = timestamp
        self.cpu = cpu
        self.memory = memory
        self.pids = pids
        self.io = io
        self.network = network
    }

    /// From `cpu.stat`, in microseconds.
    public struct CPU: Sendable, Hashable, Codable {
        public var usageUsec: UInt64
        public var userUsec: UInt64
        public var systemUsec: UInt64
        /// Throttling figures exist only with the cpu controller enabled.
        public var periods: UInt64?
        public var throttledPeriods: UInt64?
        public var throttledUsec: UInt64?
        public init(
            usageUsec: UInt64, userUsec: UInt64, systemUsec: UInt64, periods: UInt64? = nil,
            throttledPeriods: UInt64? = nil, throttledUsec: UInt64? = nil
        ) {
            self.usageUsec = usageUsec
            self.userUsec = userUsec
            self.systemUsec = systemUsec
            self.periods = periods
            self.throttledPeriods = throttledPeriods
            self.throttledUsec = throttledUsec
        }
    }

    /// From `memory.current`, `memory.max`, `memory.swap.current`, `memory.stat`, `memory.events`.
    public struct Memory: Sendable, Hashable, Codable {
        public var usage: UInt64
        /// `nil` when unlimited (`max`).
        public var limit: UInt64?
        public var swapUsage: UInt64?
        /// `memory.stat` as read: `anon`, `file`, `kernel`, … in bytes or counts.
        public var stat: [String: UInt64]
        /// `memory.events`: `low`, `high`, `max`, `oom`, `oom_kill`, …
        public var events: [String: UInt64]
        public init(usage: UInt64, limit: UInt64? = nil, swapUsage: UInt64? = nil, stat: [String: UInt64] = [:], events: [String: UInt64] = [:]) {
            self.usage = usage
            self.limit = limit
            self.swapUsage = swapUsage
            self.stat = stat
            self.events = events
        }
    }

    /// From `pids.current` and `pids.max`.
    public struct Pids: Sendable, Hashable, Codable {
        public var current: UInt64
        /// `nil` when unlimited.
        public var limit: UInt64?
        public init(current: UInt64, limit: UInt64? = nil) {
            self.current = current
            self.limit = limit
        }
    }

    /// One line of `io.stat`.
    public struct IODevice: Sendable, Hashable, Codable {
        public var major: UInt64
        public var minor: UInt64
        public var readBytes: UInt64
        public var writeBytes: UInt64
        public var readIOs: UInt64
        public var writeIOs: UInt64
        public init(major: UInt64, minor: UInt64, readBytes: UInt64 = 0, writeBytes: UInt64 = 0, readIOs: UInt64 = 0, writeIOs: UInt64 = 0) {
            self.major = major
            self.minor = minor
            self.readBytes = readBytes
            self.writeBytes = writeBytes
            self.readIOs = readIOs
            self.writeIOs = writeIOs
        }
    }

    /// One interface's counters (`/proc/<pid>/net/dev` of the container).
    public struct NetworkInterface: Sendable, Hashable, Codable {
        public var name: String
        public var rxBytes: UInt64
        public var rxPackets: UInt64
        public var rxErrors: UInt64
        public var rxDropped: UInt64
        public var txBytes: UInt64
        public var txPackets: UInt64
        public var txErrors: UInt64
        public var txDropped: UInt64
        public init(
            name: String, rxBytes: UInt64 = 0, rxPackets: UInt64 = 0, rxErrors: UInt64 = 0, rxDropped: UInt64 = 0,
            txBytes: UInt64 = 0, txPackets: UInt64 = 0, txErrors: UInt64 = 0, txDropped: UInt64 = 0
        ) {
            self.name = name
            self.rxBytes = rxBytes
            self.rxPackets = rxPackets
            self.rxErrors = rxErrors
            self.rxDropped = rxDropped
            self.txBytes = txBytes
            self.txPackets = txPackets
            self.txErrors = txErrors
            self.txDropped = txDropped
        }
    }
}

/// One process of a container, as ``Client/summary(containerID:)`` lists it.
public struct Summary: Sendable, Hashable, Codable {
    /// Host pid.
    public var pid: Int32
    public var ppid: Int32
    /// Real uid on the host.
    public var uid: UInt32
    /// The state letter of `/proc/<pid>/stat`: R, S, D, T, Z, …
    public var state: String
    /// The command line, arguments joined by spaces (the command name if it has none).
    public var command: String
    public init(pid: Int32, ppid: Int32, uid: UInt32, state: String, command: String) {
        self.pid = pid
        self.ppid = ppid
        self.uid = uid
        self.state = state
        self.command = command
    }
}
