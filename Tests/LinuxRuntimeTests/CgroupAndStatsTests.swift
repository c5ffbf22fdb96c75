import Foundation
import LibContainerd
import OCIRuntimeSpec
import XCTest
@testable import LinuxRuntime

/// OCI and Go resource values → cgroup v2 files (runc's conversions), and the kernel's text.
final class CgroupFilesTests: XCTestCase {
    func testSpecResources() throws {
        let files = try CgroupFiles.from(Spec.Linux.Resources(
            memory: .init(limit: 1 << 30, reservation: 1 << 29, swap: 3 << 29),
            cpu: .init(shares: 1024, quota: 50_000, period: 100_000, cpus: "0-1", mems: "0"),
            pids: .init(limit: 0),
            blockIO: .init(weight: 500, weightDevice: [.init(major: 8, minor: 0, weight: 1000)], throttleReadBpsDevice: [.init(major: 8, minor: 0, rate: 4096)]),
            hugepageLimits: [.init(pageSize: "2MB", limit: 1 << 21)],
            unified: ["memory.high": "900M"]))
        XCTAssertEqual(files.writes.map { "\($0.file)=\($0.value)" }, [
            "cpu.weight=39", "cpu.max=50000 100000", "cpuset.cpus=0-1", "cpuset.mems=0",
            "memory.max=1073741824", "memory.low=536870912", "memory.swap.max=536870912",
            "pids.max=max", "io.weight=default 4950", "io.weight=8:0 10000", "io.max=8:0 rbps=4096",
            "hugetlb.2MB.max=2097152", "memory.high=900M",
        ])
        XCTAssertEqual(files.controllers, ["cpu", "cpuset", "memory", "pids", "io", "hugetlb"])
    }

    func testConversionFormulasAtTheirBounds() {
        XCTAssertEqual(CgroupFiles.cpuWeight(shares: 2), 1)
        XCTAssertEqual(CgroupFiles.cpuWeight(shares: 262144), 10000)
        XCTAssertEqual(CgroupFiles.ioWeight(blkio: 10), 1)
        XCTAssertEqual(CgroupFiles.ioWeight(blkio: 1000), 10000)
    }

    func testUnlimitedValuesAndErrors() throws {
        let files = try CgroupFiles.from(Spec.Linux.Resources(memory: .init(limit: -1, swap: -1), cpu: .init(quota: -1)))
        XCTAssertEqual(files.writes.map { "\($0.file)=\($0.value)" }, ["cpu.max=max 100000", "memory.max=max", "memory.swap.max=max"])
        XCTAssertThrowsError(try CgroupFiles.from(Spec.Linux.Resources(memory: .init(limit: 100, swap: 50)))) { error in
            XCTAssertEqual((error as? ContainerError).map { if case .invalidSpec(let path, _) = $0 { return path }; return "" }, "$.linux.resources.memory.swap")
        }
        XCTAssertThrowsError(try CgroupFiles.from(Spec.Linux.Resources(unified: ["../escape": "1"])))
        XCTAssertThrowsError(try CgroupFiles.from(Spec.Linux.Resources(cpu: .init(realtimeRuntime: 1))))
    }

    func testUpdateResources() throws {
        let files = try CgroupFiles.from(Resources(cpuShares: 512, cpuPeriod: 100_000, cpuQuota: 200_000, memoryLimit: 1 << 28, memorySwap: 1 << 29, pidsLimit: 50))
        XCTAssertEqual(files.writes.map { "\($0.file)=\($0.value)" }, [
            "memory.max=268435456", "memory.swap.max=268435456", "cpu.weight=20", "cpu.max=200000 100000", "pids.max=50",
        ])
        XCTAssertThrowsError(try CgroupFiles.from(Resources(kernelMemoryLimit: 1)))
        XCTAssertTrue(try CgroupFiles.from(Resources()).writes.isEmpty)
    }

    func testHostCheckNamesTheMissingController() throws {
        let host = CgroupHost(mode: .hybrid, root: "/x", controllers: ["cpu"])
        var files = CgroupFiles()
        files.set("cpu.weight", "1")
        XCTAssertNoThrow(try host.check(files))
        files.set("cgroup.freeze", "1")
        XCTAssertNoThrow(try host.check(files), "core cgroup files need no controller")
        files.set("memory.max", "1")
        XCTAssertThrowsError(try host.check(files)) { XCTAssertEqual($0 as? ContainerError, .controllerUnavailable(controller: "memory")) }
    }
}

final class KernelTextTests: XCTestCase {
    func testIOStat() {
        let devices = KernelText.ioStat("8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=1 wbytes=0 rios=1 wios=0\n")
        XCTAssertEqual(devices, [
            .init(major: 8, minor: 0, readBytes: 4096, writeBytes: 8192, readIOs: 1, writeIOs: 2),
            .init(major: 253, minor: 1, readBytes: 1, readIOs: 1),
        ])
    }

    func testNetDev() {
        let text = """
        Inter-|   Receive                                                |  Transmit
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
            lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0
          eth0: 5000 40 1 2 0 0 0 0 6000 50 3 4 0 0 0 0
        """
        let interfaces = KernelText.netDev(text)
        XCTAssertEqual(interfaces.map(\.name), ["lo", "eth0"])
        XCTAssertEqual(interfaces[1], .init(name: "eth0", rxBytes: 5000, rxPackets: 40, rxErrors: 1, rxDropped: 2, txBytes: 6000, txPackets: 50, txErrors: 3, txDropped: 4))
    }

    func testProcFiles() {
        let stat = KernelText.procStat("42 (my (odd) cmd) S 1 42 42 0 -1 4194560 ...")
        XCTAssertEqual(stat?.state, "S")
        XCTAssertEqual(stat?.ppid, 1)
        XCTAssertEqual(stat?.command, "my (odd) cmd")
        XCTAssertEqual(KernelText.realUID("Name:\tsh\nUid:\t1000\t1000\t1000\t1000\n"), 1000)
        XCTAssertEqual(KernelText.commandLine(Data("sleep\u{0}100\u{0}".utf8)), "sleep 100")
        XCTAssertNil(KernelText.commandLine(Data()))
        XCTAssertNil(KernelText.limit("max\n"))
        XCTAssertEqual(KernelText.limit("42\n"), 42)
    }
}
