import Foundation
import Glibc
import LibContainerd
import LibContainerdTesting
import LinuxRuntime
import OCIRuntimeSpec
import XCTest

/// cgroup v2 controllers, by their files and by behaviour. They need a host whose cgroup2 has
/// the controllers (users' hosts do; this project's development machine does not): `make
/// test-vm` runs them in a VM, where `LCD_VM_TIER=1` turns a missing controller into a failure.
final class ControllerTests: ContainerTestCase {
    override func setUpWithError() throws {
        try super.setUpWithError()
        let available = Set(((try? String(contentsOfFile: cgroupRootPath + "/cgroup.controllers", encoding: .utf8)) ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
        let missing = ["cpu", "cpuset", "memory", "pids", "io"].filter { !available.contains($0) }
        guard missing.isEmpty else {
            if ProcessInfo.processInfo.environment["LCD_VM_TIER"] == "1" {
                XCTFail("the VM tier must have every controller; missing: \(missing)")
            }
            throw XCTSkip("cgroup controllers \(missing) are not available here; make test-vm runs these tests")
        }
    }

    /// The container's cgroup directory, from its init's /proc/<pid>/cgroup.
    private func cgroup(of id: String) async throws -> String {
        let pids = try await client.pidsForContainer(containerID: id)
        return try cgroupDirectory(of: try XCTUnwrap(pids.min()))
    }

    private func read(_ directory: String, _ file: String) -> String {
        ((try? String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testResourcesAtCreateAndThroughUpdateResources() async throws {
        var spec = self.spec(["sh", "-c", "grep Cpus_allowed_list /proc/self/status; sleep 100"])
        spec.linux?.resources = Spec.Linux.Resources(
            memory: .init(limit: 64 << 20, reservation: 16 << 20, swap: 96 << 20),
            cpu: .init(shares: 512, quota: 50_000, period: 100_000, cpus: "0"),
            pids: .init(limit: 40),
            blockIO: .init(weight: 300),
            unified: ["memory.high": "\(48 << 20)"])
        let output = OutputLines()
        try await client.create(containerID: "limits", spec: spec) { io in output.read(io) }
        let directory = try await cgroup(of: "limits")
        XCTAssertEqual(read(directory, "memory.max"), "\(64 << 20)")
        XCTAssertEqual(read(directory, "memory.low"), "\(16 << 20)")
        XCTAssertEqual(read(directory, "memory.high"), "\(48 << 20)")
        XCTAssertEqual(read(directory, "memory.swap.max"), "\(32 << 20)", "swap is memory+swap minus memory")
        XCTAssertEqual(read(directory, "cpu.weight"), "20", "shares 512 → weight 20, as runc converts")
        XCTAssertEqual(read(directory, "cpu.max"), "50000 100000")
        XCTAssertEqual(read(directory, "cpuset.cpus"), "0")
        XCTAssertEqual(read(directory, "pids.max"), "40")
        if FileManager.default.fileExists(atPath: directory + "/io.weight") {
            XCTAssertEqual(read(directory, "io.weight"), "default 2930", "blkio weight 300 → io weight, as runc converts")
        }
        // The cpuset is what the process is allowed, seen from inside.
        let allowed = try await output.line(containing: "Cpus_allowed_list")
        XCTAssertTrue(allowed.hasSuffix("\t0"), allowed)

        try await client.updateResources(containerID: "limits", resources: Resources(
            cpuShares: 1024, cpuPeriod: 100_000, cpuQuota: 20_000, cpusetCpus: "0-1", memoryLimit: 32 << 20, memorySwap: 48 << 20,
            memoryReservation: 8 << 20, pidsLimit: 10))
        XCTAssertEqual(read(directory, "memory.max"), "\(32 << 20)")
        XCTAssertEqual(read(directory, "memory.low"), "\(8 << 20)")
        XCTAssertEqual(read(directory, "memory.swap.max"), "\(16 << 20)")
        XCTAssertEqual(read(directory, "cpu.weight"), "39")
        XCTAssertEqual(read(directory, "cpu.max"), "20000 100000")
        XCTAssertEqual(read(directory, "cpuset.cpus"), "0-1")
        XCTAssertEqual(read(directory, "pids.max"), "10")
        await assertThrows(.invalidArgument(name: "kernelMemoryLimit", reason: "cgroup v2 has no kernel memory limit")) {
            try await self.client.updateResources(containerID: "limits", resources: Resources(kernelMemoryLimit: 1 << 20))
        }
        try await client.signal(containerID: "limits", signal: SIGKILL)
        try await backend.wait(for: "limits", state: .exit)
    }

    func testOverTheMemoryLimitTheProcessIsOOMKilled() async throws {
        var spec = self.spec(["sh", "-c", "echo ready; a=$(head -c 200000000 /dev/zero | tr '\\0' x); echo survived"])
        spec.linux?.resources = Spec.Linux.Resources(memory: .init(limit: 24 << 20, swap: 24 << 20))
        let (stdout, _, exit) = try await run("hog", spec)
        XCTAssertEqual(stdout, "ready\n", "killed before it could finish")
        XCTAssertTrue(exit.oomKilled)
        XCTAssertEqual(exit.exitCode, 137)
        XCTAssertEqual(backend.states(for: "hog"), [.start, .oom, .exit], "oom, then exit")
    }

    func testOverPidsMaxForkFails() async throws {
        var spec = self.spec(["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait"])
        spec.linux?.resources = Spec.Linux.Resources(pids: .init(limit: 4))
        let (_, stderr, _) = try await run("forky", spec)
        XCTAssertTrue(stderr.contains("can't fork"), "the shell's fork failed at pids.max: \(stderr)")
        var unlimited = self.spec(["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 0.1 & done; wait"])
        unlimited.linux?.resources = Spec.Linux.Resources(pids: .init(limit: 20))
        let (_, fine, exit) = try await run("roomy", unlimited)
        XCTAssertEqual(fine, "", "under the limit nothing fails")
        XCTAssertEqual(exit.exitCode, 0)
    }

    func testStatsFillMemoryPidsAndIO() async throws {
        // A loop device gives the container a block device to read, so io.stat has a line.
        let image = NSTemporaryDirectory() + "lcd-io-" + UUID().uuidString.prefix(8)
        XCTAssertTrue(FileManager.default.createFile(atPath: image, contents: Data(count: 4 << 20)))
        defer { unlink(image) }
        let loop = try shell("losetup -f --show \(image)").trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(loop.hasPrefix("/dev/loop"), loop)
        defer { _ = try? shell("losetup -d \(loop)") }
        var status = stat()
        XCTAssertEqual(stat(loop, &status), 0)
        let (major, minor) = (Int64((status.st_rdev >> 8) & 0xfff | (status.st_rdev >> 32) & ~0xfff), Int64((status.st_rdev & 0xff) | ((status.st_rdev >> 12) & ~0xff)))
        var spec = self.spec(["sh", "-c", "a=$(head -c 8000000 /dev/zero | tr '\\0' x); dd if=/dev/disk of=/dev/null bs=65536 2>/dev/null; echo read; sleep 100; echo $a"])
        spec.linux?.devices = [.init(type: "b", path: "/dev/disk", major: major, minor: minor, fileMode: 0o600)]
        let output = OutputLines()
        try await client.create(containerID: "busy", spec: spec) { io in output.read(io) }
        _ = try await output.line(containing: "read")
        let stats = try await client.stats(containerID: "busy")
        XCTAssertGreaterThan(stats.memory?.usage ?? 0, 8_000_000, "the shell holds 8 MB")
        XCTAssertNotNil(stats.memory?.stat["anon"])
        XCTAssertEqual(stats.pids?.current, 2, "sh and sleep")
        let device = try XCTUnwrap(stats.io?.first { $0.major == UInt64(major) && $0.minor == UInt64(minor) }, "\(stats.io ?? [])")
        XCTAssertGreaterThanOrEqual(device.readBytes, 4 << 20)
        try await client.signal(containerID: "busy", signal: SIGKILL)
        try await backend.wait(for: "busy", state: .exit)
    }

    private func shell(_ command: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, command)
        return text
    }
}

/// Reads a container's stdout line by line in the background.
final class OutputLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    func read(_ io: IOPipe) {
        io.closeStdin()
        guard let stdout = io.takeStdout() else { return }
        _ = io.takeStderr().map { try? $0.close() }
        Thread { [self] in
            var pending = ""
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(stdout.rawValue, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                pending += String(decoding: buffer[..<n], as: UTF8.self)
                while let newline = pending.firstIndex(of: "\n") {
                    let line = String(pending[..<newline])
                    pending = String(pending[pending.index(after: newline)...])
                    lock.withLock { lines.append(line) }
                }
            }
            try? stdout.close()
        }.start()
    }

    func line(containing text: String, timeout: Duration = .seconds(20)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = lock.withLock({ lines.first { $0.contains(text) } }) { return line }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw ContainerError.timeout(operation: "output containing \(text)", seconds: Double(timeout.components.seconds))
    }
}

/// The default spec's pids limit, read back from the cgroup file (VM tier: needs pids).
final class DefaultPidsLimitTests: ContainerTestCase {
    func testTheDefaultSpecLimitsPids() async throws {
        let available = ((try? String(contentsOfFile: cgroupRootPath + "/cgroup.controllers", encoding: .utf8)) ?? "").split(whereSeparator: \.isWhitespace)
        let spec = Spec.linuxContainer(rootfs: rootfs.path, args: ["sleep", "60"])
        guard available.contains("pids") else {
            if ProcessInfo.processInfo.environment["LCD_VM_TIER"] == "1" { XCTFail("the VM tier must have the pids controller") }
            XCTAssertNil(spec.linux?.resources?.pids, "no limit is asked for where it cannot be applied")
            throw XCTSkip("no pids controller here; make test-vm runs this test")
        }
        XCTAssertEqual(spec.linux?.resources?.pids?.limit, Spec.defaultPidsLimit)
        try await client.create(containerID: "pids", spec: spec) { $0.close() }
        let pids = try await client.pidsForContainer(containerID: "pids")
        let pid = try XCTUnwrap(pids.min())
        let limit = try String(contentsOfFile: try cgroupDirectory(of: pid) + "/pids.max", encoding: .utf8)
        XCTAssertEqual(limit.trimmingCharacters(in: .whitespacesAndNewlines), "\(Spec.defaultPidsLimit)")
        try await client.signal(containerID: "pids", signal: SIGKILL)
        _ = try await backend.wait(for: "pids", state: .exit, timeout: .seconds(60))
    }
}
