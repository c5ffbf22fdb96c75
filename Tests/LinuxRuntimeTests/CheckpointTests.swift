import Foundation
import Glibc
import LibContainerd
import LibContainerdTesting
import LinuxRuntime
import OCIRuntimeSpec
import XCTest

/// CRIU checkpoints of real containers. They need a kernel Debian's CRIU supports (`criu
/// check`): `make test-vm` runs them in a VM; elsewhere they skip with criu's reason, unless
/// `LCD_VM_TIER=1`, where that is a failure.
final class CheckpointTests: ContainerTestCase {
    override func setUpWithError() throws {
        try super.setUpWithError()
        let criu = ["/usr/sbin/criu", "/usr/bin/criu"].first { (path: String) in access(path, X_OK) == 0 }
        var reason = "criu is not installed"
        if let criu {
            let check = Process()
            check.executableURL = URL(fileURLWithPath: criu)
            check.arguments = ["check"]
            let output = Pipe()
            (check.standardOutput, check.standardError) = (output, output)
            try check.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            check.waitUntilExit()
            if check.terminationStatus == 0 { return }
            reason = "criu check failed: " + (text.split(separator: "\n").last { $0.contains("Error") }.map(String.init) ?? text)
        }
        if ProcessInfo.processInfo.environment["LCD_VM_TIER"] == "1" { XCTFail("the VM tier must run the checkpoint tests: \(reason)") }
        throw XCTSkip(reason + "; make test-vm runs these tests")
    }

    /// A counter in the rootfs, bumped every 50 ms. The container shares the host's network
    /// namespace: Debian's CRIU 3.17 fails to dump a new one's links on 6.1 (netlink EINVAL).
    private func counterSpec() -> Spec {
        var spec = self.spec(["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /count; echo tick $i; sleep 0.05; done"])
        spec.linux?.namespaces?.removeAll { $0.type == .network }
        return spec
    }

    private func count() -> Int { Int(((try? String(contentsOfFile: rootfs.path + "/count", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 }

    private func waitForCount(above value: Int) async throws -> Int {
        for _ in 0..<400 {
            let now = count()
            if now > value { return now }
            try await Task.sleep(for: .milliseconds(25))
        }
        XCTFail("the counter never passed \(value)")
        return count()
    }

    func testCheckpointThatLeavesItRunningThenListAndDelete() async throws {
        try await client.create(containerID: "live", spec: counterSpec()) { $0.close() }
        _ = try await waitForCount(above: 3)
        try await client.createCheckpoint(containerID: "live", checkpointID: "one", checkpointDir: nil, exit: false)
        let after = count()
        _ = try await waitForCount(above: after)  // still counting
        XCTAssertEqual(backend.states(for: "live"), [.start], "no exit: it was left running")
        let listed = try await client.listCheckpoints(containerID: "live", checkpointDir: nil)
        XCTAssertEqual(listed.map(\.name), ["one"])
        XCTAssertEqual(listed.first?.exit, false)

        await assertThrows(.alreadyExists(containerID: "live", processFriendlyName: "checkpoint one")) {
            try await self.client.createCheckpoint(containerID: "live", checkpointID: "one", checkpointDir: nil, exit: false)
        }
        await assertThrows(.invalidArgument(name: "checkpoint name \"-bad\"", reason: "must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")) {
            try await self.client.createCheckpoint(containerID: "live", checkpointID: "-bad", checkpointDir: nil, exit: false)
        }
        let directory = stateDirectory + "/.checkpoints/live"
        await assertThrows(.invalidArgument(name: "checkpoint", reason: "no checkpoint nope in \(stateDirectory!)/.checkpoints/other")) {
            try await self.client.create(containerID: "other", checkpoint: "nope", checkpointDir: nil, spec: self.counterSpec(), attachStdio: { _ in }, options: [])
        }
        try await client.deleteCheckpoint(containerID: "live", checkpointID: "one", checkpointDir: nil)
        let remaining = try await client.listCheckpoints(containerID: "live", checkpointDir: nil)
        XCTAssertEqual(remaining, [])
        await assertThrows(.invalidArgument(name: "checkpoint", reason: "no checkpoint one in \(directory)")) {
            try await self.client.deleteCheckpoint(containerID: "live", checkpointID: "one", checkpointDir: nil)
        }
        try await client.signal(containerID: "live", signal: SIGKILL)
        try await backend.wait(for: "live", state: .exit)
    }

    func testCheckpointWithExitThenRestoreContinuesTheCounter() async throws {
        let checkpoints = NSTemporaryDirectory() + "lcd-checkpoints-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: checkpoints) }
        try await client.create(containerID: "counter", spec: counterSpec()) { $0.close() }
        _ = try await waitForCount(above: 10)
        try await client.createCheckpoint(containerID: "counter", checkpointID: "snap", checkpointDir: checkpoints, exit: true)
        let exit = try await backend.wait(for: "counter", state: .exit)
        XCTAssertEqual(exit.exitCode, 137, "criu ends the dumped processes")
        let dumped = count()
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertEqual(count(), dumped, "stopped after the dump")
        let listed = try await client.listCheckpoints(containerID: "counter", checkpointDir: checkpoints)
        XCTAssertEqual(listed.map(\.exit), [true])

        let output = OutputLines()
        try await client.create(containerID: "counter", checkpoint: "snap", checkpointDir: checkpoints, spec: counterSpec(),
                                attachStdio: { io in output.read(io) }, options: [])
        XCTAssertEqual(backend.states(for: "counter"), [.start, .exit, .start], "the restore delivers start-container")
        let resumed = try await waitForCount(above: dumped)
        XCTAssertLessThan(resumed, dumped + 20, "continues from \(dumped), not from 1")
        // The restored process writes to the new container's stdout.
        _ = try await output.line(containing: "tick \(dumped + 2)")
        let pids = try await client.pidsForContainer(containerID: "counter")
        XCTAssertFalse(pids.isEmpty, "the restored processes are in the container's cgroup")

        try await client.signal(containerID: "counter", signal: SIGKILL)
        let second = try await backend.wait(for: "counter", state: .exit, occurrence: 2)
        XCTAssertEqual(second.exitCode, 137)
        try await client.deleteCheckpoint(containerID: "counter", checkpointID: "snap", checkpointDir: checkpoints)
    }
}
