import Foundation
import Glibc
import LibContainerd
import LibContainerdTesting
import LinuxRuntime
import OCIRuntimeSpec
import Synchronization
import XCTest

/// Each point asserted from inside the container.
final class LifecycleTests: ContainerTestCase {
    func testRunsAProcessAndReportsItsExit() async throws {
        let result = try await run("hello", spec(["sh", "-c", "echo out; echo err >&2; exit 7"]))
        XCTAssertEqual(result.stdout, "out\n")
        XCTAssertEqual(result.stderr, "err\n")
        XCTAssertEqual(result.exit.exitCode, 7)
        XCTAssertEqual(backend.states(for: "hello"), [.start, .exit])
        XCTAssertEqual(backend.events(for: "hello").first?.pid, result.exit.pid)
    }

    func testExitCodeZeroAndTheIdIsFreeAtOnce() async throws {
        let first = try await run("again", spec(["true"]))
        XCTAssertEqual(first.exit.exitCode, 0)
        let second = try await run("again", spec(["sh", "-c", "exit 3"]))
        XCTAssertEqual(second.exit.exitCode, 3)
    }

    func testNamespacesHostnameAndPidOne() async throws {
        let result = try await run("ns", spec(["sh", "-c", "hostname; echo $$; readlink /proc/1/exe; ls /proc | grep -c '^[0-9]'"]))
        let lines = result.stdout.split(separator: "\n")
        XCTAssertEqual(lines.first, "box")
        XCTAssertEqual(lines.dropFirst().first, "1", "the process is pid 1 of its own pid namespace")
        XCTAssertEqual(lines.dropFirst(2).first, "/bin/busybox")
        XCTAssertEqual(result.exit.exitCode, 0)
        let hostNetNS = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        let inside = try await run("ns2", spec(["readlink", "/proc/self/ns/net"]))
        XCTAssertNotEqual(inside.stdout.trimmingCharacters(in: .whitespacesAndNewlines), hostNetNS)
    }

    func testMountsAndDevices() async throws {
        let result = try await run("mounts", spec(["sh", "-c", "cat /proc/self/mountinfo; echo ---; ls -l /dev; echo ---; readlink /dev/ptmx; readlink /dev/fd; echo ---; echo hi > /dev/null && head -c 4 /dev/zero | wc -c"]))
        let parts = result.stdout.components(separatedBy: "---\n")
        XCTAssertEqual(parts.count, 4, result.stdout + result.stderr)
        let mountinfo = parts[0]
        for (point, type) in [("/ ", nil), ("/proc ", "proc"), ("/dev ", "tmpfs"), ("/dev/pts ", "devpts"), ("/dev/shm ", "tmpfs"), ("/dev/mqueue ", "mqueue"), ("/sys ", "sysfs")] {
            let line = mountinfo.split(separator: "\n").first { $0.split(separator: " ").dropFirst(4).first.map { "\($0) " == point } ?? false }
            XCTAssertNotNil(line, "no mount at \(point)in\n\(mountinfo)")
            if let type, let line { XCTAssertTrue(line.contains(" - \(type) "), String(line)) }
        }
        let mountPoints = mountinfo.split(separator: "\n").compactMap { $0.split(separator: " ").dropFirst(4).first }
        XCTAssertFalse(mountPoints.contains { $0.hasPrefix("/tmp/") || $0.hasPrefix("/work") || $0.hasPrefix("/run") }, "host mounts are not visible inside: \(mountPoints)")
        let sys = mountinfo.split(separator: "\n").first { $0.contains(" /sys ") }
        XCTAssertTrue(sys?.contains(" ro,") ?? false, "/sys is read-only: \(sys ?? "")")
        for device in ["null", "zero", "full", "random", "urandom", "tty"] {
            XCTAssertTrue(parts[1].contains(" \(device)\n"), "/dev/\(device) missing:\n\(parts[1])")
        }
        XCTAssertEqual(parts[2], "pts/ptmx\n/proc/self/fd\n")
        XCTAssertEqual(parts[3].trimmingCharacters(in: .whitespacesAndNewlines), "4")
    }

    func testUserGroupsEnvAndCwd() async throws {
        var spec = self.spec(["sh", "-c", "id -u; id -g; id -G; echo $GREETING; pwd; touch /tmp/x 2>&1 || true"], env: ["GREETING=hello there"])
        spec.process?.user = .init(uid: 65534, gid: 65534, additionalGids: [5, 6])
        spec.process?.cwd = "/tmp"
        let result = try await run("user", spec)
        XCTAssertEqual(result.stdout.split(separator: "\n").prefix(5), ["65534", "65534", "65534 5 6", "hello there", "/tmp"])
        XCTAssertEqual(result.exit.exitCode, 0, result.stderr)
    }

    func testReadonlyRoot() async throws {
        var spec = self.spec(["sh", "-c", "touch /newfile"])
        spec.root?.readonly = true
        let result = try await run("ro", spec)
        XCTAssertNotEqual(result.exit.exitCode, 0)
        XCTAssertTrue(result.stderr.contains("Read-only file system"), result.stderr)
    }

    func testStdinEOFReachesTheProcess() async throws {
        let result = try await run("stdin", spec(["sh", "-c", "cat; echo done"]), stdin: "line one\nline two\n")
        XCTAssertEqual(result.stdout, "line one\nline two\ndone\n")
    }

    func testSignalEndsWith128PlusSignal() async throws {
        try await client.create(containerID: "sleeper", spec: spec(["sleep", "1000"])) { $0.closeStdin() }
        try await client.signal(containerID: "sleeper", signal: SIGKILL)
        let exit = try await backend.wait(for: "sleeper", state: .exit)
        XCTAssertEqual(exit.exitCode, 137)
    }

    func testPauseFreezesABusyLoop() async throws {
        try await client.create(containerID: "busy", spec: spec(["sh", "-c", "while true; do echo x >> /tmp/count; done"])) { $0.closeStdin() }
        let pid = try await client.pidsForContainer(containerID: "busy")[0]
        let counter = "/proc/\(pid)/root/tmp/count"
        func size() throws -> UInt64 { try XCTUnwrap(FileManager.default.attributesOfItem(atPath: counter)[.size] as? UInt64) }
        try await Task.sleep(for: .milliseconds(200))
        try await client.pause(containerID: "busy")
        XCTAssertEqual(backend.states(for: "busy"), [.start, .pause], "pause is delivered before pause returns")
        let events = try String(contentsOfFile: "\(try cgroupDirectory(of: pid))/cgroup.events", encoding: .utf8)
        XCTAssertTrue(events.contains("frozen 1"), events)
        let frozenAt = try size()
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertEqual(try size(), frozenAt, "no progress while paused")
        await assertThrows(.invalidState(containerID: "busy", state: "paused", operation: "pause")) { try await self.client.pause(containerID: "busy") }
        try await client.resume(containerID: "busy")
        try await Task.sleep(for: .milliseconds(200))
        XCTAssertGreaterThan(try size(), frozenAt, "progress after resume")
        try await client.signal(containerID: "busy", signal: SIGKILL)
        try await backend.wait(for: "busy", state: .exit)
        XCTAssertEqual(backend.states(for: "busy"), [.start, .pause, .resume, .exit])
    }

    func testPidsStatsAndSummary() async throws {
        try await client.create(containerID: "work", spec: spec(["sh", "-c", "sleep 1000 & while true; do :; done"])) { $0.closeStdin() }
        try await Task.sleep(for: .milliseconds(100))
        let pids = try await client.pidsForContainer(containerID: "work")
        XCTAssertEqual(pids.count, 2, "\(pids)")
        let first = try await client.stats(containerID: "work")
        try await Task.sleep(for: .milliseconds(300))
        let second = try await client.stats(containerID: "work")
        let before = try XCTUnwrap(first.cpu?.usageUsec), after = try XCTUnwrap(second.cpu?.usageUsec)
        XCTAssertGreaterThan(after, before + 30_000, "a busy loop uses cpu (at least 10% of 300 ms, even on a loaded machine)")
        XCTAssertEqual(second.network?.map(\.name).contains("lo"), true)
        let rows = try await client.summary(containerID: "work")
        XCTAssertEqual(Set(rows.map(\.pid)), Set(pids))
        XCTAssertTrue(rows.contains { $0.command == "sleep 1000" && $0.uid == 0 && $0.state == "S" }, "\(rows)")
        XCTAssertTrue(rows.contains { $0.command.hasPrefix("sh -c") && $0.state == "R" }, "\(rows)")
        let version = try await client.serverVersion()
        XCTAssertNotNil(version.kernel)
        XCTAssertNotNil(version.cgroupMode)
        try await client.signal(containerID: "work", signal: SIGKILL)
        try await backend.wait(for: "work", state: .exit)
    }

    func testManyContainersAtOnceEachInOrder() async throws {
        let ids = (0..<12).map { "many\($0)" }
        let spec = self.spec(["sh", "-c", "echo hi; exit 4"])
        let client = self.client!
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in ids {
                group.addTask { try await client.create(containerID: id, spec: spec) { $0.close() } }
            }
            try await group.waitForAll()
        }
        for id in ids {
            let exit = try await backend.wait(for: id, state: .exit)
            XCTAssertEqual(exit.exitCode, 4)
            XCTAssertEqual(backend.states(for: id), [.start, .exit])
        }
    }

    func testSlowBackendForOneContainerDoesNotDelayAnother() async throws {
        let gate = Mutex(false)
        let backend = RecordingBackend { id, info in
            if id == "slow" && info.state == .exit {
                while !gate.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
            }
        }
        let client = try LinuxClient(backend: backend, options: [.stateDirectory(stateDirectory), .cgroupParent(cgroupParent)])
        try await client.create(containerID: "slow", spec: spec(["true"])) { $0.close() }
        try await backend.wait(for: "slow", state: .exit)
        try await client.create(containerID: "fast", spec: spec(["true"])) { $0.close() }
        try await backend.wait(for: "fast", state: .exit, timeout: .seconds(10))
        gate.withLock { $0 = true }
    }
}

func assertThrows(_ expected: ContainerError, file: StaticString = #filePath, line: UInt = #line, _ body: () async throws -> Void) async {
    do {
        try await body()
        XCTFail("expected \(expected)", file: file, line: line)
    } catch let error as ContainerError {
        XCTAssertEqual(error, expected, file: file, line: line)
    } catch {
        XCTFail("expected \(expected), got \(error)", file: file, line: line)
    }
}

/// Resources reach the cgroup files. Controller limits need a host with controllers (the VM
/// tier); the core `cgroup.*` files work everywhere, hybrid hosts included.
final class ResourceTests: ContainerTestCase {
    func testResourcesAtCreateAndThroughUpdate() async throws {
        var spec = self.spec(["sleep", "100"])
        spec.linux?.resources = .init(unified: ["cgroup.max.descendants": "3"])
        try await client.create(containerID: "limited", spec: spec) { $0.close() }
        let pid = try await client.pidsForContainer(containerID: "limited")[0]
        let directory = try cgroupDirectory(of: pid)
        XCTAssertTrue(directory.hasSuffix("/\(cgroupParent!)/limited"), directory)
        XCTAssertEqual(try String(contentsOfFile: directory + "/cgroup.max.descendants", encoding: .utf8), "3\n")
        try await client.updateResources(containerID: "limited", resources: Resources(unified: ["cgroup.max.descendants": "7"]))
        XCTAssertEqual(try String(contentsOfFile: directory + "/cgroup.max.descendants", encoding: .utf8), "7\n")
        await assertThrows(.controllerUnavailable(controller: "nosuch")) {
            try await self.client.updateResources(containerID: "limited", resources: Resources(unified: ["nosuch.max": "1"]))
        }
        try await client.signal(containerID: "limited", signal: SIGKILL)
        try await backend.wait(for: "limited", state: .exit)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory), "the cgroup is removed on exit")
    }

    func testCgroupsPathFromTheSpec() async throws {
        var spec = self.spec(["sleep", "100"])
        spec.linux?.cgroupsPath = "/\(cgroupParent!)/custom/place"
        try await client.create(containerID: "placed", spec: spec) { $0.close() }
        let pid = try await client.pidsForContainer(containerID: "placed")[0]
        XCTAssertEqual(try cgroupDirectory(of: pid), "\(cgroupRootPath)/\(cgroupParent!)/custom/place")
        let inside = try await client.stats(containerID: "placed")
        XCTAssertNotNil(inside.cpu, "cpu.stat exists without controllers")
        try await client.signal(containerID: "placed", signal: SIGKILL)
        try await backend.wait(for: "placed", state: .exit)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(cgroupRootPath)/\(cgroupParent!)/custom"), "ancestors this code created are removed too")
    }
}

final class BindMountTests: ContainerTestCase {
    func testReadOnlyAndReadWriteBinds() async throws {
        let shared = NSTemporaryDirectory() + "lcd-bind-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: shared) }
        try "from host\n".write(toFile: shared + "/hello", atomically: true, encoding: .utf8)
        var spec = self.spec(["sh", "-c", "cat /ro/hello; echo x > /ro/new; echo written > /rw/new; grep -E ' /r[ow] ' /proc/self/mountinfo | cut -d' ' -f5,6"])
        spec.mounts?.append(.init(destination: "/ro", type: "bind", source: shared, options: ["rbind", "ro", "rprivate"]))
        spec.mounts?.append(.init(destination: "/rw", type: "bind", source: shared, options: ["rbind", "rw"]))
        let result = try await run("binds", spec)
        XCTAssertTrue(result.stderr.contains("Read-only file system"), result.stderr)
        let lines = result.stdout.split(separator: "\n")
        XCTAssertEqual(lines.first, "from host")
        XCTAssertTrue(lines.contains { $0.hasPrefix("/ro ro,") }, result.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("/rw rw,") }, result.stdout)
        XCTAssertEqual(try String(contentsOfFile: shared + "/new", encoding: .utf8), "written\n")
    }

    func testLcdRunDefaultRootWithReadOnlyHostDirectories() async throws {
        // The spec lcd run uses without --rootfs: a tmpfs root and the host's directories bound read-only.
        let empty = NSTemporaryDirectory() + "lcd-empty-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let spec = Spec.linuxContainer(rootfs: nil, emptyRoot: empty, args: ["sh", "-c", "touch /usr/x; hostname; echo ok > /tmp/t && cat /tmp/t"], hostname: "zero")
        let result = try await run("zero", spec)
        XCTAssertTrue(result.stderr.contains("Read-only file system"), result.stderr)
        XCTAssertEqual(result.stdout, "zero\nok\n")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: empty), [], "nothing was written to the mount point")
    }
}
