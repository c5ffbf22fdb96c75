import Foundation
import Glibc
import LibContainerd
import LinuxRuntime
import OCIRuntimeSpec
import Synchronization
import XCTest

/// The library touches only what it made: cgroups it did not create are never joined while
/// populated, killed or removed; shared parents go with the last container out.
final class OwnershipTests: ContainerTestCase {
    func testAPopulatedCgroupIsRefusedAndItsProcessesLive() async throws {
        let victim = "\(cgroupRootPath)/\(cgroupParent!)/victim"
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["60"]
        try sleeper.run()
        defer {
            kill(sleeper.processIdentifier, SIGKILL)
            sleeper.waitUntilExit()
            rmdir(victim)
        }
        try "\(sleeper.processIdentifier)".write(toFile: victim + "/cgroup.procs", atomically: false, encoding: .utf8)
        var spec = self.spec(["true"])
        spec.linux?.cgroupsPath = "\(cgroupParent!)/victim"
        await assertCreateFails(spec, specPath: "$.linux.cgroupsPath")
        XCTAssertEqual(kill(sleeper.processIdentifier, 0), 0, "the process that was there lives")
        XCTAssertTrue(FileManager.default.fileExists(atPath: victim), "the cgroup is still there")
    }

    func testAnEmptyExistingCgroupIsUsedButNotRemoved() async throws {
        let given = "\(cgroupRootPath)/\(cgroupParent!)/given"
        try FileManager.default.createDirectory(atPath: given, withIntermediateDirectories: true)
        defer { rmdir(given) }
        var spec = self.spec(["cat", "/proc/self/cgroup"])
        spec.linux?.cgroupsPath = "\(cgroupParent!)/given"
        spec.linux?.namespaces?.removeAll { $0.type == .cgroup }
        let result = try await run("given", spec)
        XCTAssertTrue(result.stdout.contains("0::/\(cgroupParent!)/given"), result.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: given), "a cgroup the library did not create stays")
    }

    func testAFailedCreateRemovesTheAncestorsItMade() async throws {
        var spec = self.spec(["true"])
        spec.linux?.cgroupsPath = "\(cgroupParent!)/a/b/c"
        spec.linux?.resources = .init(unified: ["cgroup.type": "no-such-type"])  // the write fails
        await assertCreateFails(spec) { error in
            if case .systemCallFailed = error { return true }
            return false
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(cgroupRootPath)/\(cgroupParent!)/a"), "the ancestors a and a/b are gone")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(cgroupRootPath)/\(cgroupParent!)"), "and the parent the create made")
    }

    /// 1000 containers, 2 at a time (200 in the VM tier, where each is 10–50× slower): then the
    /// daemon's fds, threads and mounts are what they were, and the state directory and the
    /// cgroup tree — the shared parent included — are gone.
    func testManyLifecyclesTwoAtATimeLeaveNothing() async throws {
        let count = ProcessInfo.processInfo.environment["LCD_VM_TIER"] == "1" ? 200 : 1000
        let spec = self.spec(["true"])
        _ = try await run("warm-up", spec)  // the client's own lasting threads and fds exist now
        let before = (fds: Self.count("/proc/self/fd"), threads: Self.count("/proc/self/task"), mounts: Self.mountCount())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<2 {
                group.addTask { [client = client!, backend = backend!] in
                    for index in stride(from: lane, to: count, by: 2) {
                        let id = "stress-\(index)"
                        try await client.create(containerID: id, spec: spec) { $0.close() }
                        _ = try await backend.wait(for: id, state: .exit, timeout: .seconds(60))
                    }
                }
            }
            try await group.waitForAll()
        }
        // Exit handling finishes after the event: give it a moment, then compare.
        for _ in 0..<6000 where (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory))?.isEmpty == false { usleep(10_000) }
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: stateDirectory)) ?? [], [], "state directory")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(cgroupRootPath)/\(cgroupParent!)"), "the shared parent cgroup went with the last container")
        XCTAssertEqual(Self.mountCount(), before.mounts, "mounts")
        XCTAssertLessThanOrEqual(Self.count("/proc/self/fd"), before.fds + 2, "file descriptors")
        XCTAssertLessThanOrEqual(Self.count("/proc/self/task"), before.threads + 4, "threads")
        XCTAssertEqual(Self.liveHelpers(), [])
    }

    private static func count(_ directory: String) -> Int { ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).count }
    private static func mountCount() -> Int {
        ((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "").split(separator: "\n").count
    }
}
