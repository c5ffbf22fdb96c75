import Foundation
import Glibc
import LibContainerd
import LinuxRuntime
import OCIRuntimeSpec
import XCTest

/// Defences, each asserted from inside the container (see Docs/SECURITY.md).
final class SecurityTests: ContainerTestCase {
    /// The library's default spec on the busybox rootfs.
    private func secureSpec(_ args: [String]) -> Spec {
        Spec.linuxContainer(rootfs: rootfs.path, args: args, hostname: "secure")
    }

    private func status(_ field: String, in text: String) -> String? {
        text.split(separator: "\n").first { $0.hasPrefix(field + ":") }.map { $0.split(separator: "\t").last.map(String.init) ?? "" }
    }

    func testDefaultSpecGivesDockersCapabilitiesNoNewPrivsAndSeccomp() async throws {
        let result = try await run("defaults", secureSpec(["cat", "/proc/self/status"]))
        let dockerDefault = "00000000a80425fb"
        XCTAssertEqual(status("CapBnd", in: result.stdout), dockerDefault)
        XCTAssertEqual(status("CapEff", in: result.stdout), dockerDefault)
        XCTAssertEqual(status("CapPrm", in: result.stdout), dockerDefault)
        XCTAssertEqual(status("CapInh", in: result.stdout), "0000000000000000")
        XCTAssertEqual(status("CapAmb", in: result.stdout), "0000000000000000")
        XCTAssertEqual(status("NoNewPrivs", in: result.stdout), "1")
        XCTAssertEqual(status("Seccomp", in: result.stdout), "2")
    }

    func testDefaultProfileRefusesDangerousCalls() async throws {
        let result = try await run("refused", secureSpec(["sh", "-c", "unshare -U true; echo unshare=$?; mkdir /mnt; mount -t tmpfs none /mnt; echo mount=$?; echo ok"]))
        XCTAssertTrue(result.stdout.contains("unshare=1"), result.stdout)
        XCTAssertTrue(result.stdout.contains("mount=255") || result.stdout.contains("mount=1"), result.stdout)
        XCTAssertTrue(result.stderr.contains("Operation not permitted"), result.stderr)
        XCTAssertTrue(result.stdout.hasSuffix("ok\n"), "ordinary programs keep running")
    }

    func testBlockedSyscallReturnsTheConfiguredErrno() async throws {
        var spec = self.spec(["sh", "-c", "mkdir /tmp/d; echo rc=$?"])
        spec.linux?.seccomp = .init(defaultAction: .allow, syscalls: [.init(names: ["mkdir", "mkdirat"], action: .errno, errnoRet: UInt(EDQUOT))])
        let result = try await run("errno", spec)
        XCTAssertTrue(result.stderr.contains("quota"), "EDQUOT expected: \(result.stderr)")
        XCTAssertEqual(result.stdout, "rc=1\n")
    }

    func testCapabilitySetsAsGiven() async throws {
        var spec = self.spec(["cat", "/proc/self/status"])
        spec.process?.user = .init(uid: 1000, gid: 1000)
        spec.process?.capabilities = .init(bounding: ["CAP_KILL", "CAP_NET_BIND_SERVICE"], effective: ["CAP_NET_BIND_SERVICE"],
                                           inheritable: ["CAP_NET_BIND_SERVICE"], permitted: ["CAP_NET_BIND_SERVICE"], ambient: ["CAP_NET_BIND_SERVICE"])
        let result = try await run("caps", spec)
        XCTAssertEqual(status("CapBnd", in: result.stdout), "0000000000000420", result.stderr)
        XCTAssertEqual(status("CapAmb", in: result.stdout), "0000000000000400", "ambient survives exec for a non-root user")
        XCTAssertEqual(status("CapEff", in: result.stdout), "0000000000000400")
        XCTAssertEqual(status("NoNewPrivs", in: result.stdout), "0")
    }

    func testMaskedAndReadonlyPaths() async throws {
        var spec = secureSpec(["sh", "-c", "ls /proc/acpi | wc -l; cat /proc/timer_list | wc -c; echo x > /proc/sys/kernel/domainname; echo rc=$?"])
        spec.linux?.maskedPaths = ["/proc/acpi", "/proc/timer_list"]
        let result = try await run("masked", spec)
        XCTAssertEqual(result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }, ["0", "0", "rc=1"])
        XCTAssertTrue(result.stderr.contains("Read-only file system"), result.stderr)
    }

    func testOnlyStdioReachesTheProcess() async throws {
        // The exec'd program's own table (no shell, whose pipelines open fds of their own); ls
        // may still hold the directory it lists (busybox's has closed it by then).
        let result = try await run("fds", secureSpec(["ls", "-l", "/proc/self/fd"]))
        let entries = result.stdout.split(separator: "\n").filter { $0.contains(" -> ") }.map { line -> (fd: String, target: String) in
            let parts = line.components(separatedBy: " -> ")
            return (String(parts[0].split(separator: " ").last ?? ""), parts[1])
        }
        let others = entries.filter { !["0", "1", "2"].contains($0.fd) }
        XCTAssertEqual(Set(entries.map(\.fd)).intersection(["0", "1", "2"]).count, 3, result.stdout)
        XCTAssertLessThanOrEqual(others.count, 1, "at most ls's own directory handle besides stdio: \(result.stdout)")
        XCTAssertTrue(others.allSatisfy { $0.target.hasPrefix("/proc/") && $0.target.hasSuffix("/fd") }, result.stdout)
    }

    func testRlimitsSysctlAndOOMScore() async throws {
        var spec = self.spec(["sh", "-c", "ulimit -n; ulimit -Hn; cat /proc/sys/net/ipv4/ip_forward; cat /proc/self/oom_score_adj"])
        spec.process?.rlimits = [.init(type: "RLIMIT_NOFILE", hard: 200, soft: 100)]
        spec.process?.oomScoreAdj = 500
        spec.linux?.sysctl = ["net.ipv4.ip_forward": "1"]
        let result = try await run("limits", spec)
        XCTAssertEqual(result.stdout, "100\n200\n1\n500\n", result.stderr)
    }

    func testBadSecurityInputIsATypedErrorAndLeavesNothing() async throws {
        func expectSpecError(_ path: String, _ change: (inout Spec) -> Void, file: StaticString = #filePath, line: UInt = #line) async {
            var spec = self.spec(["true"])
            change(&spec)
            await assertCreateFails(spec, specPath: path, file: file, line: line)
        }
        await expectSpecError("$.process.capabilities.bounding[1]") { $0.process?.capabilities = .init(bounding: ["CAP_KILL", "CAP_FLY"]) }
        await expectSpecError("$.linux.seccomp.syscalls[0].names[1]") {
            $0.linux?.seccomp = .init(defaultAction: .allow, syscalls: [.init(names: ["read", "no_such_syscall"], action: .errno)])
        }
        await expectSpecError("$.linux.sysctl.kernel.panic") { $0.linux?.sysctl = ["kernel.panic": "1"] }
        await expectSpecError("$.process.rlimits[0].type") { $0.process?.rlimits = [.init(type: "RLIMIT_BOGUS", hard: 1, soft: 1)] }
        await expectSpecError("$.process.rlimits[0].hard") { $0.process?.rlimits = [.init(type: "RLIMIT_MEMLOCK", hard: .max, soft: 1)] }
        await expectSpecError("$.process.cwd") { $0.process?.cwd = "/proc/self/fd/7" }
        XCTAssertEqual(backend.states(for: "bad"), [])
    }
}

/// A hostile root file system: symlinks that point out of it.
final class HostileRootfsTests: ContainerTestCase {
    func testSymlinkedMountDestinationStaysInsideTheRootfs() async throws {
        let outside = NSTemporaryDirectory() + "lcd-outside-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        // Inside the container, /evil points at the host directory's path.
        try FileManager.default.createSymbolicLink(atPath: rootfs.path + "/evil", withDestinationPath: outside)
        var spec = self.spec(["sh", "-c", "echo inside > /evil/marker; cat \(outside)/marker; grep -c ' \(outside) ' /proc/self/mountinfo"])
        spec.mounts?.append(.init(destination: "/evil", type: "tmpfs", source: "tmpfs"))
        let result = try await run("symlinked", spec)
        XCTAssertEqual(result.stdout, "inside\n1\n", result.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outside), [], "nothing reached the host directory")
        XCTAssertTrue(FileManager.default.fileExists(atPath: rootfs.path + outside), "the path was created inside the rootfs")
    }

    func testProcOntoASymlinkIsRefused() async throws {
        try FileManager.default.removeItem(atPath: rootfs.path + "/proc")
        try FileManager.default.createDirectory(atPath: rootfs.path + "/elsewhere", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: rootfs.path + "/proc", withDestinationPath: "/elsewhere")
        do {
            try await client.create(containerID: "procsym", spec: spec(["true"])) { $0.close() }
            XCTFail("create succeeded")
        } catch ContainerError.invalidSpec(let path, let reason) {
            XCTAssertEqual(path, "$.mounts[0]")
            XCTAssertTrue(reason.contains("symlink"), reason)
        }
        XCTAssertEqual(backend.states(for: "procsym"), [])
    }
}
