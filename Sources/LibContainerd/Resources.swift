import OCIRuntimeSpec

/// New resource limits for a running container — libcontainerd's `Resources`
/// (containerd 0.2's `UpdateResource`), plus cgroup v2 files to write as-is.
///
/// `nil` leaves a limit unchanged (Go used 0 for that, which made "0" impossible to ask for).
/// Units are the Go ones: bytes, microseconds, cgroup v1 shares and weights; the runtime
/// converts them to cgroup v2 as runc does.
public struct Resources: Sendable, Hashable, Codable {
    public var blkioWeight: UInt16?
    public var blkioLeafWeight: UInt16?
    public var blkioWeightDevice: [WeightDevice]?
    public var blkioThrottleReadBpsDevice: [ThrottleDevice]?
    public var blkioThrottleWriteBpsDevice: [ThrottleDevice]?
    public var blkioThrottleReadIopsDevice: [ThrottleDevice]?
    public var blkioThrottleWriteIopsDevice: [ThrottleDevice]?
    public var cpuShares: UInt64?
    public var cpuPeriod: UInt64?
    public var cpuQuota: Int64?
    public var cpusetCpus: String?
    public var cpusetMems: String?
    /// Bytes; -1 for no limit.
    public var memoryLimit: Int64?
    /// Memory plus swap, in bytes (v1 meaning); -1 for no limit.
    public var memorySwap: Int64?
    public var memoryReservation: Int64?
    /// Not supported by cgroup v2; setting it is an error.
    public var kernelMemoryLimit: Int64?
    /// Not supported by cgroup v2; setting it is an error.
    public var kernelTCPMemoryLimit: Int64?
    /// 0 or negative for no limit.
    public var pidsLimit: Int64?
    /// cgroup v2 files written as-is, after the converted values: file name → content.
    public var unified: [String: String]?
    /// Device access rules that replace the container's (`linux.resources.devices` of the
    /// OCI spec): evaluated as one list, the last matching rule wins, and a device no rule
    /// allows is refused. The default devices and those the spec created stay allowed.
    /// Not in Go's `UpdateResource`.
    public var devices: [Spec.Linux.Resources.DeviceRule]?

    public init(
        blkioWeight: UInt16? = nil, blkioLeafWeight: UInt16? = nil, blkioWeightDevice: [WeightDevice]? = nil,
        blkioThrottleReadBpsDevice: [ThrottleDevice]? = nil, blkioThrottleWriteBpsDevice: [ThrottleDevice]? = nil,
        blkioThrottleReadIopsDevice: [ThrottleDevice]? = nil, blkioThrottleWriteIopsDevice: [ThrottleDevice]? = nil,
        cpuShares: UInt64? = nil, cpuPeriod: UInt64? = nil, cpuQuota: Int64? = nil,
        cpusetCpus: String? = nil, cpusetMems: String? = nil, memoryLimit: Int64? = nil,
        memorySwap: Int64? = nil, memoryReservation: Int64? = nil, kernelMemoryLimit: Int64? = nil,
        kernelTCPMemoryLimit: Int64? = nil, pidsLimit: Int64? = nil, unified: [String: String]? = nil,
        devices: [Spec.Linux.Resources.DeviceRule]? = nil
    ) {
        self.blkioWeight = blkioWeight
        self.blkioLeafWeight = blkioLeafWeight
        self.blkioWeightDevice = blkioWeightDevice
        self.blkioThrottleReadBpsDevice = blkioThrottleReadBpsDevice
        self.blkioThrottleWriteBpsDevice = blkioThrottleWriteBpsDevice
        self.blkioThrottleReadIopsDevice = blkioThrottleReadIopsDevice
        self.blkioThrottleWriteIopsDevice = blkioThrottleWriteIopsDevice
        self.cpuShares = cpuShares
        self.cpuPeriod = cpuPeriod
        self.cpuQuota = cpuQuota
        self.cpusetCpus = cpusetCpus
        self.cpusetMems = cpusetMems
        self.memoryLimit = memoryLimit
        self.memorySwap = memorySwap
        self.memoryReservation = memoryReservation
        self.kernelMemoryLimit = kernelMemoryLimit
        self.kernelTCPMemoryLimit = kernelTCPMemoryLimit
        self.pidsLimit = pidsLimit
        self.unified = unified
        self.devices = devices
    }

    /// A block device's weight.
    public struct WeightDevice: Sendable, Hashable, Codable {
        public var major: Int64
        public var minor: Int64
        public var weight: UInt16?
        public var leafWeight: UInt16?
        public init(major: Int64, minor: Int64, weight: UInt16? = nil, leafWeight: UInt16? = nil) {
            self.major = major
            self.minor = minor
            self.weight = weight
            self.leafWeight = leafWeight
        }
    }

    /// A block device's rate limit (bytes or operations per second).
    public struct ThrottleDevice: Sendable, Hashable, Codable {
        public var major: Int64
        public var minor: Int64
        public var rate: UInt64
        public init(major: Int64, minor: Int64, rate: UInt64) {
            self.major = major
            self.minor = minor
            self.rate = rate
        }
    }

    /// Whether nothing is set.
    public var isEmpty: Bool { self == Resources() }
}

/// A stored checkpoint — libcontainerd's `Checkpoint`.
public struct Checkpoint: Sendable, Hashable, Codable {
    public var name: String
    /// Whether the container was stopped after the dump.
    public var exit: Bool
    public var tcp: Bool
    public var unixSockets: Bool
    public var shell: Bool
    /// Namespaces recreated empty on restore (Docker always passes `network`).
    public var emptyNS: [String]
    public init(name: String, exit: Bool = false, tcp: Bool = true, unixSockets: Bool = true, shell: Bool = false, emptyNS: [String] = ["network"]) {
        self.name = name
        self.exit = exit
        self.tcp = tcp
        self.unixSockets = unixSockets
        self.shell = shell
        self.emptyNS = emptyNS
    }

    /// Docker's rule for checkpoint names: `^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`.
    public static func validate(name: String) throws {
        func isAlphanumeric(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }
        guard let first = name.first, name.count >= 2, isAlphanumeric(first),
              name.dropFirst().allSatisfy({ isAlphanumeric($0) || "_.-".contains($0) })
        else {
            throw ContainerError.invalidArgument(
                name: "checkpoint name \"\(name)\"",
                reason: "must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
        }
    }
}

/// The checkpoints of a container — libcontainerd's `Checkpoints`.
public typealias Checkpoints = [Checkpoint]
