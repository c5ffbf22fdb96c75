import LibContainerd
import OCIRuntimeSpec

/// cgroup v2 file contents for a set of limits, with the controller each file needs.
/// Conversions follow runc (libcontainer/cgroups/fs2 and utils), so a spec means the same here.
struct CgroupFiles: Equatable {
    /// File name → content, in the order they must be written.
    var writes: [(file: String, value: String)] = []

    static func == (a: CgroupFiles, b: CgroupFiles) -> Bool {
        a.writes.map { "\($0.file)=\($0.value)" } == b.writes.map { "\($0.file)=\($0.value)" }
    }

    /// Controllers the writes need (the part of each file name before the first dot).
    var controllers: [String] {
        var seen: [String] = []
        for (file, _) in writes {
            let controller = String(file.prefix { $0 != "." })
            if controller != "cgroup" && !seen.contains(controller) { seen.append(controller) }
        }
        return seen
    }

    mutating func set(_ file: String, _ value: String) { writes.append((file, value)) }

    /// cpu.shares (2…262144) → cpu.weight (1…10000). Shares outside that range are clamped
    /// into it first, as cgroup v1 clamped them (so no value can overflow the arithmetic).
    static func cpuWeight(shares: UInt64) -> UInt64 {
        shares == 0 ? 0 : 1 + ((min(max(shares, 2), 262_144) - 2) * 9999) / 262_142
    }

    /// blkio.weight (10…1000) → io.weight (1…10000).
    static func ioWeight(blkio weight: UInt64) -> UInt64 {
        weight == 0 ? 0 : 1 + ((max(weight, 10) - 10) * 9999) / 990
    }

    /// The OCI resources of a spec. `specPath` prefixes the errors' JSON paths.
    static func from(_ r: Spec.Linux.Resources, specPath: String = "$.linux.resources") throws -> CgroupFiles {
        var files = CgroupFiles()
        if let cpu = r.cpu {
            if let shares = cpu.shares, shares > 0 { files.set("cpu.weight", "\(cpuWeight(shares: shares))") }
            if cpu.quota != nil || cpu.period != nil {
                let quota = cpu.quota.map { $0 > 0 ? "\($0)" : "max" } ?? "max"
                files.set("cpu.max", "\(quota) \(cpu.period ?? 100_000)")
            }
            if let burst = cpu.burst { files.set("cpu.max.burst", "\(burst)") }
            if let idle = cpu.idle { files.set("cpu.idle", "\(idle)") }
            if cpu.realtimeRuntime != nil || cpu.realtimePeriod != nil {
                throw ContainerError.invalidSpec(path: "\(specPath).cpu.realtimeRuntime", reason: "cgroup v2 has no realtime cpu limits")
            }
            if let cpus = cpu.cpus, !cpus.isEmpty { files.set("cpuset.cpus", cpus) }
            if let mems = cpu.mems, !mems.isEmpty { files.set("cpuset.mems", mems) }
        }
        if let memory = r.memory {
            try addMemory(&files, limit: memory.limit, swap: memory.swap, reservation: memory.reservation, path: "\(specPath).memory")
            if memory.kernelTCP != nil {
                throw ContainerError.invalidSpec(path: "\(specPath).memory.kernelTCP", reason: "cgroup v2 has no kernel TCP memory limit")
            }
        }
        if let pids = r.pids { files.set("pids.max", pids.limit > 0 ? "\(pids.limit)" : "max") }
        if let io = r.blockIO {
            if let weight = io.weight { files.set("io.weight", "default \(ioWeight(blkio: UInt64(weight)))") }
            for device in io.weightDevice ?? [] {
                if let weight = device.weight { files.set("io.weight", "\(device.major):\(device.minor) \(ioWeight(blkio: UInt64(weight)))") }
            }
            for (list, key) in [(io.throttleReadBpsDevice, "rbps"), (io.throttleWriteBpsDevice, "wbps"), (io.throttleReadIOPSDevice, "riops"), (io.throttleWriteIOPSDevice, "wiops")] {
                for device in list ?? [] { files.set("io.max", "\(device.major):\(device.minor) \(key)=\(device.rate)") }
            }
        }
        for (index, limit) in (r.hugepageLimits ?? []).enumerated() {
            // Part of a file name: only a size this host has.
            guard SpecLimits.hugepageSizes.contains(limit.pageSize) else {
                throw ContainerError.invalidSpec(path: "\(specPath).hugepageLimits[\(index)].pageSize", reason: "\"\(limit.pageSize)\" is not a huge page size of this host (\(SpecLimits.hugepageSizes.sorted().joined(separator: ", ")))")
            }
            files.set("hugetlb.\(limit.pageSize).max", "\(limit.limit)")
        }
        for (file, value) in (r.unified ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard !file.contains("/"), !file.isEmpty else {
                throw ContainerError.invalidSpec(path: "\(specPath).unified.\(file)", reason: "must be a file name in the cgroup directory")
            }
            files.set(file, value)
        }
        return files
    }

    /// The limits of an `updateResources` call.
    static func from(_ r: Resources) throws -> CgroupFiles {
        if r.kernelMemoryLimit != nil || r.kernelTCPMemoryLimit != nil {
            throw ContainerError.invalidArgument(name: "kernelMemoryLimit", reason: "cgroup v2 has no kernel memory limit")
        }
        var spec = Spec.Linux.Resources(
            cpu: .init(shares: r.cpuShares, quota: r.cpuQuota, period: r.cpuPeriod, cpus: r.cpusetCpus, mems: r.cpusetMems),
            pids: r.pidsLimit.map { .init(limit: $0) },
            unified: r.unified)
        if r.blkioWeight != nil || r.blkioWeightDevice != nil || r.blkioThrottleReadBpsDevice != nil
            || r.blkioThrottleWriteBpsDevice != nil || r.blkioThrottleReadIopsDevice != nil || r.blkioThrottleWriteIopsDevice != nil {
            func throttle(_ list: [Resources.ThrottleDevice]?) -> [Spec.Linux.Resources.ThrottleDevice]? {
                list?.map { .init(major: $0.major, minor: $0.minor, rate: $0.rate) }
            }
            spec.blockIO = .init(
                weight: r.blkioWeight, weightDevice: r.blkioWeightDevice?.map { .init(major: $0.major, minor: $0.minor, weight: $0.weight) },
                throttleReadBpsDevice: throttle(r.blkioThrottleReadBpsDevice), throttleWriteBpsDevice: throttle(r.blkioThrottleWriteBpsDevice),
                throttleReadIOPSDevice: throttle(r.blkioThrottleReadIopsDevice), throttleWriteIOPSDevice: throttle(r.blkioThrottleWriteIopsDevice))
        }
        var files = try from(spec, specPath: "resources")
        var memory = CgroupFiles()
        try addMemory(&memory, limit: r.memoryLimit, swap: r.memorySwap, reservation: r.memoryReservation, path: "resources.memory")
        files.writes = memory.writes + files.writes
        return files
    }

    /// memory.limit → memory.max; reservation → memory.low; swap (memory + swap, the v1 meaning)
    /// → memory.swap.max = swap − limit.
    private static func addMemory(_ files: inout CgroupFiles, limit: Int64?, swap: Int64?, reservation: Int64?, path: String) throws {
        if let limit { files.set("memory.max", limit < 0 ? "max" : "\(limit)") }
        if let reservation { files.set("memory.low", reservation < 0 ? "max" : "\(reservation)") }
        if let swap {
            if swap < 0 {
                files.set("memory.swap.max", "max")
            } else if let limit, limit > 0 {
                guard swap >= limit else {
                    throw ContainerError.invalidSpec(path: "\(path).swap", reason: "memory+swap (\(swap)) must not be below the memory limit (\(limit))")
                }
                files.set("memory.swap.max", "\(swap - limit)")
            } else if swap > 0 {
                throw ContainerError.invalidSpec(path: "\(path).swap", reason: "a swap limit needs a memory limit")
            }
        }
    }
}
