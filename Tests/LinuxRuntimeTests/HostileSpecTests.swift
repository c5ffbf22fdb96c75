import ContainerInit
import Foundation
import Glibc
import LibContainerd
import OCIRuntimeSpec
import XCTest
@testable import LinuxRuntime

/// Specs built from hostile requests: a typed error with the JSON path, never a forged plan
/// and never a trap in the daemon (before these checks, each number case below trapped).
final class HostileSpecTests: XCTestCase {
    private let planner = ContainerPlanner(knownFilesystems: ["proc", "tmpfs", "sysfs", "devpts", "mqueue"], probe: { ["/rootfs": true][$0] })

    private func assertInvalid(_ path: String, file: StaticString = #filePath, line: UInt = #line, _ change: (inout Spec) -> Void) {
        var spec = containerSpec(rootfs: "/rootfs", ["sh"])
        change(&spec)
        XCTAssertThrowsError(try planner.plan(spec, containerID: "c", stateDirectory: "/s", cgroupPath: ""), file: file, line: line) { error in
            guard case .invalidSpec(let found, _)? = error as? ContainerError else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertEqual(found, path, file: file, line: line)
        }
    }

    func testANulByteAnywhereIsRefusedWithItsPath() {
        assertInvalid("$.process.env[1]") { $0.process?.env?.append("A=x\0lcd-plan-1") }
        assertInvalid("$.process.args[1]") { $0.process?.args?.append("-c\0x") }
        assertInvalid("$.hostname") { $0.hostname = "box\0" }
        assertInvalid("$.process.capabilities.bounding[0]") { $0.process?.capabilities = .init(bounding: ["CAP_CHOWN\0X"]) }
        assertInvalid("$.hooks.createRuntime[0].path") { $0.hooks = .init(createRuntime: [.init(path: "/bin/sh\0")]) }
        assertInvalid("$.annotations key \"a\\u0000b\"") { $0.annotations = ["a\0b": "v"] }
        assertInvalid("$.mounts[0].destination") { $0.mounts?[0].destination = "/proc\0/x" }
    }

    func testAnExecWithANulByteIsRefused() {
        let spec = containerSpec(rootfs: "/rootfs", ["sh"])
        XCTAssertThrowsError(try planner.execPlan(ExecProcess(args: ["sh"], env: ["A=\0"]), container: spec, containerID: "c", name: "e", stateDirectory: "/s")) { error in
            guard case .invalidArgument("process.env[0]", _)? = error as? ContainerError else { return XCTFail("\(error)") }
        }
    }

    func testOutOfRangeNumbersAreErrorsNotTraps() throws {
        assertInvalid("$.linux.devices[0].major") { $0.linux?.devices = [.init(type: "c", path: "/dev/x", major: -1, minor: 0)] }
        assertInvalid("$.linux.devices[0].minor") { $0.linux?.devices = [.init(type: "c", path: "/dev/x", major: 1, minor: 1 << 32)] }
        assertInvalid("$.linux.seccomp.syscalls[0].errnoRet") {
            $0.linux?.seccomp = .init(defaultAction: .allow, syscalls: [.init(names: ["mkdir"], action: .errno, errnoRet: 1 << 32)])
        }
        assertInvalid("$.linux.seccomp.defaultErrnoRet") {
            $0.linux?.seccomp = .init(defaultAction: .errno, defaultErrnoRet: UInt.max, syscalls: [.init(names: ["execve"], action: .allow)])
        }
        // cpu.shares far beyond v1's range: clamped, as v1 did, before the conversion.
        XCTAssertEqual(CgroupFiles.cpuWeight(shares: UInt64.max), 10000)
        XCTAssertEqual(CgroupFiles.cpuWeight(shares: 2_000_000_000_000_000), 10000)
        XCTAssertEqual(try CgroupFiles.from(Resources(cpuShares: .max)).writes.first?.value, "10000", "updateResources too")
        var spec = containerSpec(rootfs: "/rootfs", ["sh"])
        spec.linux?.resources = .init(devices: [.init(allow: true, type: "c", major: -2, minor: 0)])
        XCTAssertThrowsError(try DeviceFilter.rules(spec)) { error in
            guard case .invalidSpec("$.linux.resources.devices[0].major", _)? = error as? ContainerError else { return XCTFail("\(error)") }
        }
    }

    func testPathsThatLeadElsewhereAreRefused() {
        assertInvalid("$.linux.devices[0].path") { $0.linux?.devices = [.init(type: "c", path: "/dev/../etc/x", major: 1, minor: 3)] }
    }

    func testHugepageSizesMustBeTheHosts() {
        XCTAssertThrowsError(try CgroupFiles.from(Spec.Linux.Resources(hugepageLimits: [.init(pageSize: "../../x", limit: 1)]))) { error in
            guard case .invalidSpec("$.linux.resources.hugepageLimits[0].pageSize", _)? = error as? ContainerError else { return XCTFail("\(error)") }
        }
        if let size = SpecLimits.hugepageSizes.first {
            XCTAssertEqual(try CgroupFiles.from(Spec.Linux.Resources(hugepageLimits: [.init(pageSize: size, limit: 1)])).writes.first?.file, "hugetlb.\(size).max")
        }
    }

    func testNamespacePathsMustBeAbsoluteAndNotTheDaemonsMountNamespace() {
        assertInvalid("$.linux.namespaces[1].path") { $0.linux?.namespaces?[1] = .init(type: .network, path: "proc/1/ns/net") }
        assertInvalid("$.linux.namespaces[4].path") { $0.linux?.namespaces?[4] = .init(type: .mount, path: "/proc/self/ns/mnt") }
    }

    func testKernelLimitsAreCheckedWithTheirPaths() {
        assertInvalid("$.process.user.uid") { $0.process?.user.uid = .max }
        assertInvalid("$.process.user.additionalGids") { $0.process?.user.additionalGids = Array(repeating: 5, count: 100_000) }
        assertInvalid("$.hostname") { $0.hostname = String(repeating: "h", count: 100_000) }
    }

    func testFieldsThatWouldBeIgnoredAreRefused() {
        func assertUnsupported(_ feature: String, file: StaticString = #filePath, line: UInt = #line, _ change: (inout Spec) -> Void) {
            var spec = containerSpec(rootfs: "/rootfs", ["sh"])
            change(&spec)
            XCTAssertThrowsError(try planner.plan(spec, containerID: "c", stateDirectory: "/s", cgroupPath: ""), file: file, line: line) { error in
                guard case .unsupported(let found, _)? = error as? ContainerError else { return XCTFail("\(error)", file: file, line: line) }
                XCTAssertEqual(found, feature, file: file, line: line)
            }
        }
        assertUnsupported("$.process.user.umask") { $0.process?.user.umask = 0o22 }
        assertUnsupported("$.process.apparmorProfile") { $0.process?.apparmorProfile = "docker-default" }
        assertUnsupported("$.process.selinuxLabel") { $0.process?.selinuxLabel = "system_u:system_r:container_t:s0" }
        assertUnsupported("$.linux.personality") { $0.linux?.personality = .init(domain: .linux32) }
        assertUnsupported("$.process.ioPriority") { $0.process?.ioPriority = .init(class: .bestEffort, priority: 4) }
    }
}

extension HostileSpecTests {
    func testAProfileThatRefusesExecveIsAStartFailureNotAContainer() {
        assertInvalid("$.linux.seccomp.defaultAction") { $0.linux?.seccomp = .init(defaultAction: .kill, syscalls: [.init(names: ["read"], action: .allow)]) }
        assertInvalid("$.linux.seccomp.syscalls[1].action") {
            $0.linux?.seccomp = .init(defaultAction: .allow, syscalls: [.init(names: ["read"], action: .errno), .init(names: ["execve", "execveat"], action: .errno)])
        }
        var spec = containerSpec(rootfs: "/rootfs", ["sh"])
        spec.linux?.seccomp = .containerDefault
        XCTAssertNoThrow(try planner.plan(spec, containerID: "c", stateDirectory: "/s", cgroupPath: ""), "the default allow list allows execve")
    }
}

extension HostileSpecTests {
    func testCapabilitySetsTheKernelWouldRefuseAreNamed() {
        assertInvalid("$.process.capabilities.effective") { $0.process?.capabilities = .init(bounding: ["CAP_KILL"], effective: ["CAP_KILL"], permitted: []) }
        assertInvalid("$.process.capabilities.inheritable") { $0.process?.capabilities = .init(bounding: [], inheritable: ["CAP_KILL"]) }
        assertInvalid("$.process.capabilities.ambient") {
            $0.process?.capabilities = .init(bounding: ["CAP_KILL"], inheritable: ["CAP_KILL"], permitted: [], ambient: ["CAP_KILL"])
        }
    }
}

extension HostileSpecTests {
    func testAHookTimeoutTooLargeForNanosecondsIsRefused() throws {
        let planner = ContainerPlanner(knownFilesystems: ["proc", "tmpfs", "sysfs", "devpts", "mqueue"], probe: { ["/rootfs": true, "/hook": false][$0] })
        var spec = containerSpec(rootfs: "/rootfs", ["sh"])
        spec.hooks = .init(poststop: [.init(path: "/hook", timeout: .max)])
        var plan = try planner.plan(spec, containerID: "c", stateDirectory: "/s", cgroupPath: "")
        XCTAssertThrowsError(try planner.planHooks(spec, into: &plan, containerID: "c", bundle: "/s")) { error in
            guard case .invalidSpec("$.hooks.poststop[0].timeout", _)? = error as? ContainerError else { return XCTFail("\(error)") }
        }
    }
}
