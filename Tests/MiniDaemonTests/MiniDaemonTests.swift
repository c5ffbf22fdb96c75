import Glibc
import XCTest
import LibContainerd
import LibContainerdTesting
import MiniDaemon
import OCIRuntimeSpec

/// How a daemon author tests their daemon: the real daemon code, FakeClient underneath,
/// the test scripting what the containers do.
final class MiniDaemonTests: XCTestCase {
    private func makeDaemon(_ backend: RecordingBackend? = nil) -> (MiniDaemon, FakeClient) {
        let daemon = MiniDaemon()
        let client = FakeClient(backend: daemon)
        daemon.use(client)
        return (daemon, client)
    }

    private let spec = Spec(process: .init(args: ["/app"]), root: .init(path: "rootfs"))

    func testRecordsOutputAndExitCode() async throws {
        let (daemon, client) = makeDaemon()
        try await daemon.run("web", spec: spec)
        guard case .running? = daemon.record("web")?.status else { return XCTFail("not running after run") }
        try client.write(containerID: "web", stdout: Array("ready\n".utf8), stderr: Array("warn\n".utf8))
        try await client.exit(containerID: "web", code: 3)
        XCTAssertEqual(daemon.record("web")?.status, .exited(code: 3, oomKilled: false))
        try await eventually { daemon.record("web")?.output.count == 11 }
    }

    func testRestartsOnFailureUpToTheLimit() async throws {
        let (daemon, client) = makeDaemon()
        try await daemon.run("job", spec: spec, policy: .onFailure(maxRetries: 2))
        for attempt in 1...2 {
            try await client.exit(containerID: "job", code: 1)
            try await eventually { client.containerIDs == ["job"] && daemon.record("job")?.restarts == attempt }
        }
        try await client.exit(containerID: "job", code: 1)
        try await Task.sleep(for: .milliseconds(50))
        XCTAssertEqual(client.containerIDs, [], "no third restart")
        XCTAssertEqual(daemon.record("job")?.restarts, 2)
    }

    func testStopEscalatesToSigkillAfterTheGracePeriod() async throws {
        let (daemon, client) = makeDaemon()
        try await daemon.run("stubborn", spec: spec, policy: .always)
        try client.ignoreSignals([SIGTERM], containerID: "stubborn")
        let started = ContinuousClock.now
        try await daemon.stop("stubborn", grace: .milliseconds(100))
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(100))
        XCTAssertEqual(daemon.record("stubborn")?.status, .exited(code: 137, oomKilled: false))
        try await Task.sleep(for: .milliseconds(50))
        XCTAssertEqual(client.containerIDs, [], "a manual stop is not restarted, even with .always")
    }

    func testPauseExecAndOOM() async throws {
        let (daemon, client) = makeDaemon()
        try await daemon.run("db", spec: spec)
        try await daemon.pause("db")
        guard case .paused? = daemon.record("db")?.status else { return XCTFail("not paused") }
        try await daemon.resume("db")
        _ = try await daemon.exec("db", name: "backup", args: ["dump"])
        try await client.exitProcess(containerID: "db", processFriendlyName: "backup", code: 0)
        XCTAssertEqual(daemon.record("db")?.execExitCodes, ["backup": 0])
        try await client.oomKill(containerID: "db")
        XCTAssertEqual(daemon.record("db")?.status, .exited(code: 137, oomKilled: true))
    }

    private func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { return XCTFail("condition not met in \(timeout)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
