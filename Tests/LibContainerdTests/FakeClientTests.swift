import Foundation
import Glibc
import Synchronization
import XCTest
import LibContainerd
import LibContainerdTesting
import OCIRuntimeSpec

final class FakeClientTests: XCTestCase {
    struct Refused: Error {}

    private nonisolated static func spec(_ args: [String] = ["sh"], terminal: Bool = false) -> Spec {
        Spec(process: .init(terminal: terminal, user: .init(uid: 1000, gid: 1000), args: args), root: .init(path: "rootfs"))
    }

    private static let ignoreStdio: StdioCallback = { _ in }

    func testStartIsDeliveredBeforeCreateReturnsAndAfterStdioIsAttached() async throws {
        let log = Mutex<[String]>([])
        let backend = RecordingBackend { _, info in log.withLock { $0.append(info.state.rawValue) } }
        let client = FakeClient(backend: backend)
        try await client.create(containerID: "c1", spec: Self.spec()) { _ in log.withLock { $0.append("attach") } }
        XCTAssertEqual(log.withLock { $0 }, ["attach", "start-container"])
        let value1 = try await client.pidsForContainer(containerID: "c1").first
        XCTAssertEqual(backend.events(for: "c1").first?.pid, value1)
    }

    func testDuplicateUnknownAndInvalidInputs() async throws {
        let client = FakeClient(backend: RecordingBackend())
        try await client.create(containerID: "c1", spec: Self.spec(), attachStdio: Self.ignoreStdio)
        await assertThrows(.alreadyExists(containerID: "c1")) { try await client.create(containerID: "c1", spec: Self.spec(), attachStdio: Self.ignoreStdio) }
        await assertThrows(.notFound(containerID: "nope")) { try await client.signal(containerID: "nope", signal: SIGTERM) }
        await assertThrows(.notFound(containerID: "nope")) { try await client.pause(containerID: "nope") }
        await assertThrows(.processNotFound(containerID: "c1", processFriendlyName: "x")) { try await client.signalProcess(containerID: "c1", processFriendlyName: "x", signal: SIGTERM) }
        await assertThrows(.invalidSpec(path: "$.process", reason: "required to start a container")) { try await client.create(containerID: "c2", spec: Spec(), attachStdio: Self.ignoreStdio) }
        await assertThrows(.invalidSpec(path: "$.process.args", reason: "must name the program to run")) { try await client.create(containerID: "c2", spec: Self.spec([]), attachStdio: Self.ignoreStdio) }
        XCTAssertEqual(client.containerIDs, ["c1"])
    }

    func testFailedAttachOrRefusedStartLeavesNothing() async throws {
        let backend = RecordingBackend { id, info in if id == "refused" && info.state == .start { throw Refused() } }
        let client = FakeClient(backend: backend)
        do {
            try await client.create(containerID: "attach", spec: Self.spec()) { _ in throw Refused() }
            XCTFail("expected the attach error")
        } catch is Refused {}
        do {
            try await client.create(containerID: "refused", spec: Self.spec(), attachStdio: Self.ignoreStdio)
            XCTFail("expected the backend's error")
        } catch is Refused {}
        XCTAssertEqual(client.containerIDs, [])
        XCTAssertEqual(backend.states(for: "attach"), [])
        try await client.create(containerID: "attach", spec: Self.spec(), attachStdio: Self.ignoreStdio)
    }

    func testStdioIsRealAndStreamsStaySeparate() async throws {
        let backend = RecordingBackend()
        let client = FakeClient(backend: backend)
        let pipe = Mutex<IOPipe?>(nil)
        try await client.create(containerID: "c1", spec: Self.spec()) { io in pipe.withLock { $0 = io } }
        let io = try XCTUnwrap(pipe.withLock { $0 })
        try client.write(containerID: "c1", stdout: Array("out".utf8), stderr: Array("err".utf8))
        try io.writeStdin(Array("input".utf8))
        io.closeStdin()
        let received = try await client.readStdin(containerID: "c1")
        XCTAssertEqual(String(decoding: received, as: UTF8.self), "input")
        let (stdout, stderr) = (io.stdoutBytes(), io.stderrBytes())
        try await client.exit(containerID: "c1", code: 0)
        let out = try await stdout.collect()
        let err = try await stderr.collect()
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "out")
        XCTAssertEqual(String(decoding: err, as: UTF8.self), "err")
    }

    func testTerminalHasNoStderr() async throws {
        let client = FakeClient(backend: RecordingBackend())
        let hasStderr = Mutex(true)
        try await client.create(containerID: "t", spec: Self.spec(terminal: true)) { io in hasStderr.withLock { $0 = io.stderr != nil || !io.terminal } }
        XCTAssertFalse(hasStderr.withLock { $0 })
        try await client.resize(containerID: "t", processFriendlyName: "init", width: 120, height: 40)
        XCTAssertEqual(client.terminalSize(containerID: "t")?.width, 120)
        await assertThrows(.invalidArgument(name: "terminal size 0x40", reason: "must be 1...65535 in each dimension")) {
            try await client.resize(containerID: "t", processFriendlyName: "init", width: 0, height: 40)
        }
    }

    func testExecExitsComeBeforeTheInitExit() async throws {
        let backend = RecordingBackend()
        let client = FakeClient(backend: backend)
        try await client.create(containerID: "c1", spec: Self.spec(), attachStdio: Self.ignoreStdio)
        let pid1 = try await client.addProcess(containerID: "c1", processFriendlyName: "e1", process: ExecProcess(args: ["top"]), attachStdio: Self.ignoreStdio)
        let pid2 = try await client.addProcess(containerID: "c1", processFriendlyName: "e2", process: ExecProcess(args: ["sleep"]), attachStdio: Self.ignoreStdio)
        XCTAssertNotEqual(pid1, pid2)
        await assertThrows(.alreadyExists(containerID: "c1", processFriendlyName: "e1")) {
            _ = try await client.addProcess(containerID: "c1", processFriendlyName: "e1", process: ExecProcess(args: ["x"]), attachStdio: Self.ignoreStdio)
        }
        try await client.exitProcess(containerID: "c1", processFriendlyName: "e1", code: 3)
        try await client.exit(containerID: "c1", code: 7)
        let events = backend.events(for: "c1")
        XCTAssertEqual(events.map(\.state), [.start, .exitProcess, .exitProcess, .exit])
        XCTAssertEqual(events[1].processID, "e1")
        XCTAssertEqual(events[1].exitCode, 3)
        XCTAssertEqual(events[2].processID, "e2")
        XCTAssertEqual(events[2].exitCode, 137, "killed with the pid namespace")
        XCTAssertEqual(events[3].exitCode, 7)
        XCTAssertEqual(client.containerIDs, [], "the id is free once the exit is delivered")
    }

    func testSignalsEndWith128PlusSignalAndIgnoredOnesDoNothing() async throws {
        let backend = RecordingBackend()
        let client = FakeClient(backend: backend)
        try await client.create(containerID: "c1", spec: Self.spec(), attachStdio: Self.ignoreStdio)
        try await client.signal(containerID: "c1", signal: SIGWINCH)
        try await client.signal(containerID: "c1", signal: 0)
        XCTAssertEqual(client.containerIDs, ["c1"])
        try await client.signal(containerID: "c1", signal: SIGTERM)
        let value2 = try await backend.wait(for: "c1", state: .exit).exitCode
        XCTAssertEqual(value2, 143)
    }

    func testPauseAndResumeReturnAfterTheBackendSawThemAndHoldSignals() async throws {
        let backend = RecordingBackend { _, _ in try await Task.sleep(for: .milliseconds(20)) }
        let client = FakeClient(backend: backend)
        try await client.create(containerID: "c1", spec: Self.spec(), attachStdio: Self.ignoreStdio)
        try await client.pause(containerID: "c1")
        XCTAssertEqual(backend.states(for: "c1"), [.start, .pause])
        XCTAssertTrue(client.isPaused(containerID: "c1"))
        await assertThrows(.invalidState(containerID: "c1", state: "paused", operation: "pause")) { try await client.pause(containerID: "c1") }
        await assertThrows(.invalidState(containerID: "c1", state: "paused", operation: "exec")) {
            _ = try await client.addProcess(containerID: "c1", processFriendlyName: "e", process: ExecProcess(args: ["ls"]), attachStdio: Self.ignoreStdio)
        }
        try await client.signal(containerID: "c1", signal: SIGTERM)
        XCTAssertEqual(client.containerIDs, ["c1"], "a frozen process does not act on SIGTERM")
        try await client.resume(containerID: "c1")
        let exit = try await backend.wait(for: "c1", state: .exit)
        XCTAssertEqual(exit.exitCode, 143)
        XCTAssertEqual(backend.states(for: "c1"), [.start, .pause, .resume, .exit])
    }

    func testSigkillEndsAPausedContainer() async throws {
        let backend = RecordingBackend()
        let client = FakeClient(backend: backend)
        try await client.create(containerID: "c1", spec: Self.spec(), attachStdio: Self.ignoreStdio)
        try await client.pause(containerID: "c1")
        try await client.signal(containerID: "c1", signal: SIGKILL)
        let value3 = try await backend.wait(for: "c1", state: .exit).exitCode
        XCTAssertEqual(value3, 137)
    }

    func testOOMMarksTheExit() async throws {
        let backend = RecordingBackend()
        let client = FakeClient(backend: backend)
        try await client.create(containerID: "c1", spec: Self.spec(), attachStdio: Self.ignoreStdio)
        try await client.oomKill(containerID: "c1")
        let events = backend.events(for: "c1")
        XCTAssertEqual(events.map(\.state), [.start, .oom, .exit])
        XCTAssertEqual(events.last?.exitCode, 137)
        XCTAssertEqual(events.last?.oomKilled, true)
        XCTAssertEqual(events[0].oomKilled, false)
    }

    func testRestoreReattachesAndReportsExitsThatHappenedMeanwhile() async throws {
        let backend = RecordingBackend()
        let client = FakeClient(backend: backend)
        try await client.create(containerID: "alive", spec: Self.spec(), attachStdio: Self.ignoreStdio)
        try await client.create(containerID: "paused", spec: Self.spec(), attachStdio: Self.ignoreStdio)
        try await client.create(containerID: "gone", spec: Self.spec(), attachStdio: Self.ignoreStdio)
        try await client.pause(containerID: "paused")
        client.simulateDaemonRestart()
        await assertThrows(.notFound(containerID: "alive")) { try await client.signal(containerID: "alive", signal: SIGTERM) }
        try client.write(containerID: "alive", stdout: Array("while away".utf8))
        try await client.exit(containerID: "gone", code: 42)
        XCTAssertEqual(backend.states(for: "gone"), [.start], "nobody to tell while the daemon is away")

        let pipe = Mutex<IOPipe?>(nil)
        try await client.restore(containerID: "alive") { io in pipe.withLock { $0 = io } }
        try await client.restore(containerID: "paused", attachStdio: Self.ignoreStdio)
        try await client.restore(containerID: "gone", attachStdio: Self.ignoreStdio)
        await assertThrows(.notFound(containerID: "never")) { try await client.restore(containerID: "never", attachStdio: Self.ignoreStdio) }

        XCTAssertEqual(backend.states(for: "alive"), [.start, .restore])
        XCTAssertEqual(backend.states(for: "paused"), [.start, .pause, .restore, .pause])
        XCTAssertEqual(backend.events(for: "gone").last, StateInfo(state: .exit, pid: backend.events(for: "gone")[0].pid, exitCode: 42))
        let stdout = try XCTUnwrap(pipe.withLock { $0 }).stdoutBytes()
        try await client.exit(containerID: "alive", code: 0)
        let value4 = try await stdout.collect()
        XCTAssertEqual(String(decoding: value4, as: UTF8.self), "while away")
    }

    func testRestoreWithoutLiveRestoreStopsTheContainer() async throws {
        let backend = RecordingBackend()
        let client = FakeClient(backend: backend, options: [.liveRestore(false)])
        try await client.create(containerID: "c1", spec: Self.spec(), attachStdio: Self.ignoreStdio)
        client.simulateDaemonRestart()
        try await client.restore(containerID: "c1", attachStdio: Self.ignoreStdio)
        let value5 = try await backend.wait(for: "c1", state: .exit).exitCode
        XCTAssertEqual(value5, 143)
        XCTAssertEqual(backend.states(for: "c1"), [.start, .exit])
    }

    func testCheckpoints() async throws {
        let backend = RecordingBackend()
        let client = FakeClient(backend: backend)
        try await client.create(containerID: "c1", spec: Self.spec(), attachStdio: Self.ignoreStdio)
        try await client.createCheckpoint(containerID: "c1", checkpointID: "cp1", checkpointDir: "/cp", exit: false)
        await assertThrows(.alreadyExists(containerID: "c1", processFriendlyName: "checkpoint cp1")) {
            try await client.createCheckpoint(containerID: "c1", checkpointID: "cp1", checkpointDir: "/cp", exit: false)
        }
        do {
            try await client.createCheckpoint(containerID: "c1", checkpointID: "-bad", checkpointDir: "/cp", exit: false)
            XCTFail("bad name accepted")
        } catch ContainerError.invalidArgument {}
        try await client.createCheckpoint(containerID: "c1", checkpointID: "cp2", checkpointDir: "/cp", exit: true)
        let value6 = try await backend.wait(for: "c1", state: .exit).exitCode
        XCTAssertEqual(value6, 137)
        let value7 = try await client.listCheckpoints(containerID: "c1", checkpointDir: "/cp").map(\.name)
        XCTAssertEqual(value7, ["cp1", "cp2"])
        try await client.deleteCheckpoint(containerID: "c1", checkpointID: "cp1", checkpointDir: "/cp")
        let value8 = try await client.listCheckpoints(containerID: "c1", checkpointDir: "/cp").map(\.name)
        XCTAssertEqual(value8, ["cp2"])
        try await client.create(containerID: "c1", checkpoint: "cp2", checkpointDir: "/cp", spec: Self.spec(), attachStdio: Self.ignoreStdio, options: [])
        XCTAssertEqual(backend.states(for: "c1"), [.start, .exit, .start])
        do {
            try await client.create(containerID: "c2", checkpoint: "nope", checkpointDir: "/cp", spec: Self.spec(), attachStdio: Self.ignoreStdio, options: [])
            XCTFail("unknown checkpoint accepted")
        } catch ContainerError.invalidArgument {}
    }

    func testStatsPidsSummaryAndResources() async throws {
        let client = FakeClient(backend: RecordingBackend())
        try await client.create(containerID: "c1", spec: Self.spec(["sh", "-c", "x"]), attachStdio: Self.ignoreStdio)
        let exec = try await client.addProcess(containerID: "c1", processFriendlyName: "e", process: ExecProcess(args: ["ps"]), attachStdio: Self.ignoreStdio)
        let pids = try await client.pidsForContainer(containerID: "c1")
        XCTAssertEqual(pids.count, 2)
        XCTAssertEqual(pids.last, exec)
        let rows = try await client.summary(containerID: "c1")
        XCTAssertEqual(rows.map(\.command), ["sh -c x", "ps"])
        XCTAssertEqual(rows.first?.uid, 1000)
        let value9 = try await client.stats(containerID: "c1").pids?.current
        XCTAssertEqual(value9, 2)
        client.setStats(Stats(memory: .init(usage: 99)), for: "c1")
        let value10 = try await client.stats(containerID: "c1").memory?.usage
        XCTAssertEqual(value10, 99)
        try await client.updateResources(containerID: "c1", resources: Resources(pidsLimit: 10))
        XCTAssertEqual(client.resources(containerID: "c1")?.pidsLimit, 10)
        await assertThrows(.notFound(containerID: "x")) { _ = try await client.stats(containerID: "x") }
        let value11 = try await client.serverVersion().cgroupMode
        XCTAssertEqual(value11, .unified)
    }

    func testManyContainersConcurrentlyEachInOrder() async throws {
        let backend = RecordingBackend { _, _ in try await Task.sleep(for: .microseconds(Int.random(in: 0...500))) }
        let client = FakeClient(backend: backend)
        let spec = Self.spec()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<40 {
                group.addTask {
                    let id = "c\(n)"
                    try await client.create(containerID: id, spec: spec) { _ in }
                    _ = try await client.addProcess(containerID: id, processFriendlyName: "e", process: ExecProcess(args: ["x"])) { _ in }
                    try await client.pause(containerID: id)
                    try await client.resume(containerID: id)
                    try await client.exit(containerID: id, code: UInt32(n))
                }
            }
            try await group.waitForAll()
        }
        for n in 0..<40 {
            XCTAssertEqual(backend.states(for: "c\(n)"), [.start, .pause, .resume, .exitProcess, .exit])
            XCTAssertEqual(backend.events(for: "c\(n)").last?.exitCode, UInt32(n))
        }
    }

    func testEventStream() async throws {
        let client = FakeClient(backend: RecordingBackend())
        let events = client.events
        try await client.create(containerID: "c1", spec: Self.spec(), attachStdio: Self.ignoreStdio)
        try await client.exit(containerID: "c1", code: 1)
        var states: [State] = []
        for await event in events {
            states.append(event.info.state)
            if event.info.state == .exit { break }
        }
        XCTAssertEqual(states, [.start, .exit])
    }

    func testRecordingBackendWaitTimesOut() async throws {
        let backend = RecordingBackend()
        do {
            try await backend.wait(for: "x", state: .exit, timeout: .milliseconds(50))
            XCTFail("expected a timeout")
        } catch ContainerError.timeout(let operation, _) {
            XCTAssertTrue(operation.contains("exit of x"))
        }
    }

    private func assertThrows(_ expected: ContainerError, file: StaticString = #filePath, line: UInt = #line, _ body: () async throws -> Void) async {
        do {
            try await body()
            XCTFail("expected \(expected)", file: file, line: line)
        } catch let error as ContainerError {
            XCTAssertEqual(error, expected, file: file, line: line)
        } catch {
            XCTFail("expected \(expected), got \(error)", file: file, line: line)
        }
    }
}
