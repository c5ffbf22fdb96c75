import Foundation
import Glibc
import LibContainerd
import LibContainerdTesting
import LinuxRuntime
import OCIRuntimeSpec
import Synchronization
import XCTest

/// Live restore: `lcd run` processes are the daemons; each is killed with SIGKILL while its
/// container runs, and this test's client takes the containers over.
final class RestoreTests: ContainerTestCase {
    private var daemons: [pid_t] = []

    override func tearDownWithError() throws {
        for pid in daemons { kill(pid, SIGKILL); var status: Int32 = 0; waitpid(pid, &status, 0) }
        try super.tearDownWithError()
    }

    /// Starts `lcd run` with the test's state directory and rootfs, running `script`.
    private func startDaemon(_ name: String, _ script: String) throws {
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let lcd = (exe as NSString).deletingLastPathComponent + "/lcd"
        guard access(lcd, X_OK) == 0 else { throw XCTSkip("lcd is not built next to the tests") }
        let argv = [lcd, "run", "--state", stateDirectory!, "--rootfs", rootfs.path, "--name", name, "--", "sh", "-c", script]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in 0...2 { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        XCTAssertEqual(posix_spawn(&pid, lcd, &actions, nil, cArgs, environ), 0)
        daemons.append(pid)
        let record = "\(stateDirectory!)/\(name)/record.json"
        for _ in 0..<6000 where !FileManager.default.fileExists(atPath: record) { usleep(10_000) }  // a minute: TCG is slow
        XCTAssertTrue(FileManager.default.fileExists(atPath: record), "\(name) did not start")
    }

    private func killDaemons() {
        for pid in daemons { kill(pid, SIGKILL); var status: Int32 = 0; waitpid(pid, &status, 0) }
        daemons = []
    }

    func testContainersOutliveAKilledDaemonAndAreRestored() async throws {
        try startDaemon("counter", "i=0; while :; do i=$((i+1)); echo line $i; sleep 0.01; done")
        // Exits on SIGUSR1, sent once its daemon is dead: no timing assumption (TCG is slow).
        try startDaemon("exiter", "trap 'exit 42' USR1; while :; do sleep 0.05; done")
        try startDaemon("frozen", "while :; do sleep 0.05; done")
        let exiterPid = try XCTUnwrap(pidOfInit("exiter"))
        for _ in 0..<6000 where !catchesSignal(SIGUSR1, pid: exiterPid) { usleep(10_000) }
        killDaemons()
        kill(exiterPid, SIGUSR1)
        // The daemon paused this one before it died (as `pause` does: cgroup.freeze).
        let frozenPid = try XCTUnwrap(pidOfInit("frozen"))
        let frozenCgroup = try cgroupDirectory(of: frozenPid)
        try "1".write(toFile: "\(frozenCgroup)/cgroup.freeze", atomically: false, encoding: .utf8)
        // Freezing completes asynchronously (longer on a loaded machine): wait for the kernel to say so.
        for _ in 0..<6000 where !((try? String(contentsOfFile: "\(frozenCgroup)/cgroup.events", encoding: .utf8)) ?? "").contains("frozen 1") {
            usleep(10_000)
        }
        XCTAssertTrue(((try? String(contentsOfFile: "\(frozenCgroup)/cgroup.events", encoding: .utf8)) ?? "").contains("frozen 1"), "the freeze completed")
        try await Task.sleep(for: .milliseconds(800))  // the counter writes into its pipe; the exiter exits

        XCTAssertEqual(client.containers(), ["counter", "exiter", "frozen"])
        await assertThrows(.notFound(containerID: "never")) { try await self.client.restore(containerID: "never") { _ in } }

        let output = Mutex<AsyncThrowingStream<[UInt8], any Error>?>(nil)
        try await client.restore(containerID: "counter") { io in output.withLock { $0 = io.stdoutBytes() } }
        try await client.restore(containerID: "exiter") { _ in XCTFail("an exited container has no stdio to attach") }
        try await client.restore(containerID: "frozen") { $0.close() }

        let exit = try await backend.wait(for: "exiter", state: .exit)
        XCTAssertEqual(exit.exitCode, 42, "the status recorded while no daemon watched, not 255")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(stateDirectory!)/exiter"), "cleaned up once reported")
        XCTAssertEqual(backend.states(for: "counter"), [.restore])
        XCTAssertEqual(backend.states(for: "frozen"), [.restore, .pause], "paused state read from the cgroup")
        await assertThrows(.invalidState(containerID: "frozen", state: "paused", operation: "pause")) { try await self.client.pause(containerID: "frozen") }

        // Output written while no daemon read it waited in the pipe, in order, nothing lost.
        try await client.signal(containerID: "counter", signal: SIGKILL)
        let text = String(decoding: try await XCTUnwrap(output.withLock { $0 }).collect(), as: UTF8.self)
        let numbers = text.split(separator: "\n").compactMap { Int($0.split(separator: " ").last ?? "") }
        XCTAssertGreaterThan(numbers.count, 20, "lines written while the daemon was away: \(text)")
        XCTAssertEqual(numbers, Array((numbers.first ?? 0)..<((numbers.first ?? 0) + numbers.count)), "consecutive, none lost")
        let counterExit = try await backend.wait(for: "counter", state: .exit)
        XCTAssertEqual(counterExit.exitCode, 137)

        try await client.resume(containerID: "frozen")
        try await client.signal(containerID: "frozen", signal: SIGKILL)
        try await backend.wait(for: "frozen", state: .exit)
        XCTAssertEqual(client.containers(), [])
    }

    func testRestoreWithoutLiveRestoreStopsTheContainer() async throws {
        try startDaemon("polite", "trap 'exit 3' TERM; while :; do sleep 0.05; done")
        try startDaemon("stubborn", "trap '' TERM; while :; do sleep 0.05; done")
        killDaemons()
        try await client.restore(containerID: "polite", attachStdio: { $0.close() }, options: [.liveRestore(false)])
        let polite = try await backend.wait(for: "polite", state: .exit)
        XCTAssertEqual(polite.exitCode, 3, "SIGTERM first")
        let started = ContinuousClock.now
        try await client.restore(containerID: "stubborn", attachStdio: { $0.close() }, options: [.liveRestore(false), .stateChangeTimeout(.milliseconds(300))])
        let stubborn = try await backend.wait(for: "stubborn", state: .exit)
        XCTAssertEqual(stubborn.exitCode, 137, "SIGKILL after the grace period")
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(300))
        XCTAssertEqual(backend.states(for: "stubborn"), [.restore, .exit])
    }

    private func pidOfInit(_ name: String) -> Int32? {
        guard let data = FileManager.default.contents(atPath: "\(stateDirectory!)/\(name)/record.json"),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return (object["initPid"] as? NSNumber)?.int32Value
    }
}
