import ContainerInit
import CLinuxSupport
import Foundation
import Glibc
import LibContainerd
import OCIRuntimeSpec
import XCTest
@testable import LinuxRuntime

/// Spec → plan, without root and without touching the system: a fake file system probe.
final class PlanningTests: XCTestCase {
    private let planner = ContainerPlanner(
        knownFilesystems: ["proc", "tmpfs", "sysfs", "devpts", "mqueue", "cgroup2"],
        probe: { path in ["/rootfs": true, "/data": true, "/etc/hosts": false, "/proc/1/ns/net": false][path] })

    private func spec() -> Spec {
        var spec = containerSpec(rootfs: "/rootfs", ["sh", "-c", "true"], env: ["A=1"])
        spec.linux?.namespaces?.append(.init(type: .network, path: "/proc/1/ns/net"))
        spec.linux?.namespaces?.remove(at: 1)
        return spec
    }

    private func plan(_ spec: Spec) throws -> Plan {
        try planner.plan(spec, containerID: "c1", stateDirectory: "/run/lcd/c1", cgroupPath: "/sys/fs/cgroup/lcd/c1")
    }

    func testAPlanHoldsEverythingResolved() throws {
        let plan = try plan(spec())
        XCTAssertEqual(plan.createNamespaces, LCD_CLONE_NEWPID | LCD_CLONE_NEWIPC | LCD_CLONE_NEWUTS | LCD_CLONE_NEWNS | LCD_CLONE_NEWCGROUP)
        XCTAssertEqual(plan.joinNamespaces, [NamespaceJoin(type: LCD_CLONE_NEWNET, path: "/proc/1/ns/net", specPath: "$.linux.namespaces[5].path")])
        XCTAssertEqual(plan.searchPath, ["/bin"])
        XCTAssertEqual(plan.env, ["PATH=/bin", "A=1"])
        XCTAssertEqual(plan.hostname, "box")
        XCTAssertEqual(plan.rootPropagation, MountFlags.recursive | MountFlags.private)
        XCTAssertEqual(plan.mounts.first, MountStep(source: "proc", destination: "/proc", type: "proc", flags: MountFlags.nosuid | MountFlags.noexec | MountFlags.nodev, specPath: "$.mounts[0]"))
        XCTAssertEqual(plan.mounts[1].data, "mode=755,size=65536k")
        XCTAssertEqual(plan.devices.map(\.path), ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"])
        XCTAssertTrue(plan.devices.allSatisfy(\.bindFromHost))
        XCTAssertEqual(plan.stdinPath, "/run/lcd/c1/init-stdin")
        XCTAssertEqual(plan.exitPath, "/run/lcd/c1/init-exit")
    }

    func testPlanSurvivesTheHelperEncoding() throws {
        var spec = self.spec()
        spec.process?.user = .init(uid: 7, gid: 8, additionalGids: [9, 10])
        spec.linux?.devices = [.init(type: "c", path: "/dev/fuse", major: 10, minor: 229, fileMode: 0o600, uid: 1, gid: 2)]
        spec.linux?.maskedPaths = ["/proc/kcore"]
        spec.linux?.readonlyPaths = ["/proc/sys"]
        spec.domainname = "example.org"
        let plan = try plan(spec)
        XCTAssertEqual(try Plan(decoding: plan.encoded()), plan)
        XCTAssertThrowsError(try Plan(decoding: Array("lcd-plan-1\0c1\0".utf8)))
        XCTAssertThrowsError(try Plan(decoding: Array("other\0".utf8)))
        var corrupt = plan.encoded()
        corrupt.removeLast(5)
        XCTAssertThrowsError(try Plan(decoding: corrupt))
    }

    func testErrorsNameTheSpecPath() {
        func expect(_ path: String, file: StaticString = #filePath, line: UInt = #line, _ change: (inout Spec) -> Void) {
            var spec = self.spec()
            change(&spec)
            XCTAssertThrowsError(try plan(spec), file: file, line: line) { error in
                guard case .invalidSpec(let actual, _)? = error as? ContainerError else { return XCTFail("\(error)", file: file, line: line) }
                XCTAssertEqual(actual, path, file: file, line: line)
            }
        }
        expect("$.process") { $0.process = nil }
        expect("$.process.args") { $0.process?.args = [] }
        expect("$.process.cwd") { $0.process?.cwd = "relative" }
        expect("$.root") { $0.root = nil }
        expect("$.root.path") { $0.root?.path = "rootfs" }
        expect("$.root.path") { $0.root?.path = "/missing" }
        expect("$.linux.namespaces") { $0.linux?.namespaces?.removeAll { $0.type == .mount } }
        expect("$.linux.namespaces[6].type") { $0.linux?.namespaces?.append(.init(type: .pid)) }
        expect("$.linux.namespaces[5].path") { $0.linux?.namespaces?[5].path = "/nope" }
        expect("$.hostname") { $0.linux?.namespaces?.removeAll { $0.type == .uts } }
        expect("$.mounts[0].destination") { $0.mounts?[0].destination = "proc" }
        expect("$.mounts[0].type") { $0.mounts?[0].type = "ext9" }
        expect("$.mounts[0].type") { $0.mounts?[0].type = nil }
        expect("$.mounts[6].source") { $0.mounts?.append(.init(destination: "/x", type: "bind", source: "/missing", options: ["rbind"])) }
        expect("$.linux.devices[0].type") { $0.linux?.devices = [.init(type: "x", path: "/dev/x")] }
        expect("$.linux.devices[0].major") { $0.linux?.devices = [.init(type: "c", path: "/dev/x")] }
        expect("$.linux.devices[0].path") { $0.linux?.devices = [.init(type: "c", path: "/etc/x", major: 1, minor: 1)] }
        expect("$.linux.maskedPaths[0]") { $0.linux?.maskedPaths = ["relative"] }
    }

    func testBindMountsAndSpecDevicesOverrideDefaults() throws {
        var spec = self.spec()
        spec.mounts?.append(.init(destination: "/data", type: "none", source: "/data", options: ["rbind", "ro", "rslave"]))
        spec.mounts?.append(.init(destination: "/etc/hosts", source: "/etc/hosts", options: ["bind"]))
        spec.linux?.devices = [.init(type: "c", path: "/dev/null", major: 1, minor: 3)]
        let plan = try plan(spec)
        let data = try XCTUnwrap(plan.mounts.first { $0.destination == "/data" })
        XCTAssertEqual(data.type, "")
        XCTAssertEqual(data.flags, MountFlags.bind | MountFlags.recursive | MountFlags.readonly)
        XCTAssertEqual(data.propagation, MountFlags.slave | MountFlags.recursive)
        XCTAssertTrue(plan.mounts.contains { $0.destination == "/etc/hosts" && $0.isBind })
        XCTAssertEqual(plan.devices.filter { $0.path == "/dev/null" }.map(\.bindFromHost), [false])
    }

    func testTerminalAndConsoleSize() throws {
        var spec = self.spec()
        spec.process?.terminal = true
        spec.process?.consoleSize = .init(height: 24, width: 80)
        let plan = try plan(spec)
        XCTAssertTrue(plan.terminal)
        XCTAssertEqual(plan.terminalRows, 24)
        XCTAssertEqual(plan.terminalColumns, 80)
        XCTAssertEqual(try Plan(decoding: plan.encoded()), plan)
    }

    func testUnsupportedFeaturesSaySo() {
        var spec = self.spec()
        spec.linux?.namespaces?.append(.init(type: .time))
        XCTAssertThrowsError(try plan(spec)) { error in
            guard case .unsupported? = error as? ContainerError else { return XCTFail("\(error)") }
        }
    }

    func testMountOptions() {
        let options = MountOptions(["rw", "ro", "nosuid", "suid", "nodev", "rbind", "rprivate", "mode=755", "size=1m", "defaults"])
        XCTAssertEqual(options.flags, MountFlags.readonly | MountFlags.bind | MountFlags.recursive | MountFlags.nodev)
        XCTAssertEqual(options.propagation, MountFlags.private | MountFlags.recursive)
        XCTAssertEqual(options.data, ["mode=755", "size=1m"])
        XCTAssertEqual(MountOptions(["ro", "rw"]).flags, 0)
    }

}

/// The order and arguments of the mount calls, recorded instead of made.
final class RootfsBuilderTests: XCTestCase {
    func testMountSequence() throws {
        let planner = ContainerPlanner(knownFilesystems: ["proc", "tmpfs", "sysfs", "devpts", "mqueue"], probe: { $0 == "/r" ? true : nil })
        var spec = containerSpec(rootfs: "/r", ["true"])
        spec.root?.readonly = true
        spec.linux?.maskedPaths = ["/proc/kcore", "/proc/acpi", "/missing"]
        spec.linux?.readonlyPaths = ["/proc/sys"]
        let plan = try planner.plan(spec, containerID: "c", stateDirectory: "/s", cgroupPath: "")
        let kernel = RecordingKernel(existing: ["/r": true, "/proc/kcore": false, "/proc/acpi": true, "/proc/sys": true])
        let builder = RootfsBuilder(plan: plan, kernel: kernel)
        try builder.build()
        XCTAssertEqual(kernel.calls.last, "pivot_root /r")
        try builder.protect()
        let rec = MountFlags.recursive, bind = MountFlags.bind
        XCTAssertEqual(Array(kernel.calls.prefix(4)), [
            "mount - / - \(rec | MountFlags.private) -",
            "mount /r /r - \(bind | rec) -",
            "resolve /proc (no symlinks)",
            "mount proc /r/proc proc \(MountFlags.nosuid | MountFlags.noexec | MountFlags.nodev) -",
        ])
        // Protected paths are container paths: applied after pivot_root.
        XCTAssertTrue(kernel.calls.contains("mount /proc/sys /proc/sys - \(bind | rec) -"))
        XCTAssertTrue(kernel.calls.contains("mount /dev/null /proc/kcore - \(bind) -"))
        XCTAssertTrue(kernel.calls.contains("mount tmpfs /proc/acpi tmpfs \(MountFlags.readonly) size=0"))
        XCTAssertFalse(kernel.calls.contains { $0.contains("/missing") }, "masks of absent paths are skipped")
        XCTAssertTrue(kernel.calls.contains("resolve /dev/null (file) (no symlinks)"))
        XCTAssertTrue(kernel.calls.contains("mount /dev/null /r/dev/null - \(bind) -"))
        XCTAssertTrue(kernel.calls.contains("symlink /r/dev/ptmx -> pts/ptmx"))
        XCTAssertEqual(kernel.calls.last, "mount - / - \(bind | MountFlags.remount | MountFlags.readonly) -")
    }

    func testReadonlyBindIsRemounted() throws {
        let planner = ContainerPlanner(knownFilesystems: [], probe: { ["/r": true, "/src": true][$0] })
        var spec = containerSpec(rootfs: "/r", ["true"])
        spec.mounts = [.init(destination: "/data", source: "/src", options: ["bind", "ro", "nosuid"])]
        let kernel = RecordingKernel(existing: ["/r": true, "/src": true])
        try RootfsBuilder(plan: planner.plan(spec, containerID: "c", stateDirectory: "/s", cgroupPath: ""), kernel: kernel).build()

        let flags = MountFlags.bind | MountFlags.readonly | MountFlags.nosuid
        XCTAssertTrue(kernel.calls.contains("mount /src /r/data - \(flags) -"))
        XCTAssertTrue(kernel.calls.contains("mount - /r/data - \(flags | MountFlags.remount) -"))
    }

    func testRecursiveOptionsBecomeOneRecursiveSetattrAfterTheBind() throws {
        let options = MountOptions(["rbind", "rro", "rnosuid", "rsuid", "rnodev", "rnoatime", "rrelatime"])
        XCTAssertEqual(options.flags, MountFlags.bind | MountFlags.recursive, "r-options are not mount(2) flags")
        XCTAssertEqual(options.recursiveSet, MountAttributes.readonly | MountAttributes.nodev | MountAttributes.relatime)
        XCTAssertEqual(options.recursiveClear, MountAttributes.nosuid | MountAttributes.atimeMask)

        let planner = ContainerPlanner(knownFilesystems: [], probe: { ["/r": true, "/src": true][$0] })
        var spec = containerSpec(rootfs: "/r", ["true"])
        spec.mounts = [.init(destination: "/data", source: "/src", options: ["rbind", "rro"])]
        let plan = try planner.plan(spec, containerID: "c", stateDirectory: "/s", cgroupPath: "")
        XCTAssertEqual(try Plan(decoding: plan.encoded()), plan, "the attributes survive the plan codec")
        let kernel = RecordingKernel(existing: ["/r": true, "/src": true])
        try RootfsBuilder(plan: plan, kernel: kernel).build()
        let bind = try XCTUnwrap(kernel.calls.firstIndex(of: "mount /src /r/data - \(MountFlags.bind | MountFlags.recursive) -"))
        let setattr = try XCTUnwrap(kernel.calls.firstIndex(of: "mount_setattr /r/data recursive set=\(MountAttributes.readonly) clear=0"))
        XCTAssertLessThan(bind, setattr)
    }
}
