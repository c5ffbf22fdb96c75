import Foundation
import Glibc
import LibContainerd
import LibContainerdTesting
import LinuxRuntime
import OCIRuntimeSpec
import Synchronization
import XCTest

/// addProcess and signalProcess, asserted from inside the container.
final class ExecTests: ContainerTestCase {
    private func startIdle(_ id: String, _ spec: Spec? = nil) async throws {
        try await client.create(containerID: id, spec: spec ?? self.spec(["sleep", "1000"])) { $0.close() }
    }

    /// Runs an exec to its end: stdout, stderr, and its exit-process event.
    private func exec(_ id: String, _ name: String, _ process: ExecProcess, stdin: String? = nil) async throws -> (pid: Int32, stdout: String, stderr: String, exit: StateInfo) {
        let earlier = backend.events(for: id).filter { $0.state == .exitProcess && $0.processID == name }.count
        let streams = Mutex<(AsyncThrowingStream<[UInt8], any Error>, AsyncThrowingStream<[UInt8], any Error>)?>(nil)
        let pid = try await client.addProcess(containerID: id, processFriendlyName: name, process: process) { io in
            if let stdin { try io.writeStdin(Array(stdin.utf8)) }
            io.closeStdin()
            streams.withLock { $0 = (io.stdoutBytes(), io.stderrBytes()) }
        }
        let (out, err) = try XCTUnwrap(streams.withLock { $0 })
        let stdout = try await out.collect()
        let stderr = try await err.collect()
        let exit = try await backend.wait(for: id, state: .exitProcess, processID: name, occurrence: earlier + 1)
        return (pid, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self), exit)
    }

    private func stop(_ id: String) async throws {
        try await client.signal(containerID: id, signal: SIGKILL)
        try await backend.wait(for: id, state: .exit)
    }

    func testExecRunsInsideTheContainer() async throws {
        try await startIdle("box")
        let result = try await exec("box", "e1", ExecProcess(args: ["sh", "-c", "hostname; cat /proc/1/comm; readlink /proc/self/ns/mnt; echo err >&2; exit 5"]))
        let lines = result.stdout.split(separator: "\n")
        XCTAssertEqual(lines.first, "box")
        XCTAssertEqual(lines.dropFirst().first, "sleep", "pid 1 of the exec's pid namespace is the container's init")
        let initPid = try await client.pidsForContainer(containerID: "box")[0]
        let initMnt = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(initPid)/ns/mnt")
        XCTAssertEqual(String(lines.dropFirst(2).first ?? ""), initMnt)
        XCTAssertEqual(result.stderr, "err\n")
        XCTAssertEqual(result.exit.exitCode, 5)
        XCTAssertEqual(result.exit.processID, "e1")
        XCTAssertEqual(result.exit.pid, result.pid, "addProcess returns the host pid")
        try await stop("box")
        XCTAssertEqual(backend.states(for: "box"), [.start, .exitProcess, .exit])
    }

    func testExecOverridesUserEnvAndCwdAndKeepsTheContainersDefences() async throws {
        try await startIdle("secure", Spec.linuxContainer(rootfs: rootfs.path, args: ["sleep", "1000"], env: ["FROM=container"]))
        let result = try await exec("secure", "who", ExecProcess(
            args: ["sh", "-c", "id -u; id -g; pwd; echo $FROM; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status | cut -f2"],
            user: .init(uid: 65534, gid: 65534), env: ["PATH=/bin", "FROM=exec"], cwd: "/tmp"))
        XCTAssertEqual(result.stdout.split(separator: "\n"), ["65534", "65534", "/tmp", "exec", "0000000000000000", "1", "2"], result.stderr)
        let root = try await exec("secure", "root", ExecProcess(args: ["sh", "-c", "grep CapEff /proc/self/status | cut -f2; echo $FROM"]))
        XCTAssertEqual(root.stdout, "00000000a80425fb\ncontainer\n", "the container's capabilities and env when the exec sets none")
        try await stop("secure")
    }

    func testExecExitsComeBeforeTheInitExit() async throws {
        try await startIdle("order")
        for name in ["a", "b"] {
            _ = try await client.addProcess(containerID: "order", processFriendlyName: name, process: ExecProcess(args: ["sleep", "1000"])) { $0.close() }
        }
        try await client.signal(containerID: "order", signal: SIGKILL)
        try await backend.wait(for: "order", state: .exit)
        let events = backend.events(for: "order")
        XCTAssertEqual(events.map(\.state), [.start, .exitProcess, .exitProcess, .exit])
        XCTAssertEqual(Set(events.filter { $0.state == .exitProcess }.map(\.processID)), ["a", "b"])
        XCTAssertTrue(events.filter { $0.state == .exitProcess }.allSatisfy { $0.exitCode == 137 }, "killed with the pid namespace")
    }

    func testSignalProcessStdinAndNames() async throws {
        try await startIdle("sig")
        let echo = try await exec("sig", "cat", ExecProcess(args: ["cat"]), stdin: "to the exec\n")
        XCTAssertEqual(echo.stdout, "to the exec\n")
        _ = try await client.addProcess(containerID: "sig", processFriendlyName: "sleeper", process: ExecProcess(args: ["sleep", "1000"])) { $0.close() }
        await assertThrows(.alreadyExists(containerID: "sig", processFriendlyName: "sleeper")) {
            _ = try await self.client.addProcess(containerID: "sig", processFriendlyName: "sleeper", process: ExecProcess(args: ["true"])) { $0.close() }
        }
        await assertThrows(.alreadyExists(containerID: "sig", processFriendlyName: "init")) {
            _ = try await self.client.addProcess(containerID: "sig", processFriendlyName: "init", process: ExecProcess(args: ["true"])) { $0.close() }
        }
        try await client.signalProcess(containerID: "sig", processFriendlyName: "sleeper", signal: SIGTERM)
        let terminated = try await backend.wait(for: "sig", state: .exitProcess, processID: "sleeper")
        XCTAssertEqual(terminated.exitCode, 143)
        await assertThrows(.processNotFound(containerID: "sig", processFriendlyName: "sleeper")) {
            try await self.client.signalProcess(containerID: "sig", processFriendlyName: "sleeper", signal: SIGTERM)
        }
        // The name is free again once its exit was reported.
        let again = try await exec("sig", "sleeper", ExecProcess(args: ["true"]))
        XCTAssertEqual(again.exit.exitCode, 0)
        try await stop("sig")
    }

    func testExecIntoPausedUnknownOrWithBadInput() async throws {
        try await startIdle("frozen")
        try await client.pause(containerID: "frozen")
        await assertThrows(.invalidState(containerID: "frozen", state: "paused", operation: "exec")) {
            _ = try await self.client.addProcess(containerID: "frozen", processFriendlyName: "x", process: ExecProcess(args: ["true"])) { $0.close() }
        }
        try await client.resume(containerID: "frozen")
        await assertThrows(.notFound(containerID: "nobody")) {
            _ = try await self.client.addProcess(containerID: "nobody", processFriendlyName: "x", process: ExecProcess(args: ["true"])) { $0.close() }
        }
        do {
            _ = try await client.addProcess(containerID: "frozen", processFriendlyName: "missing", process: ExecProcess(args: ["no-such-program"])) { $0.close() }
            XCTFail("exec of a missing program succeeded")
        } catch ContainerError.invalidSpec(let path, _) {
            XCTAssertEqual(path, "$.process.args[0]")
        }
        do {
            _ = try await client.addProcess(containerID: "frozen", processFriendlyName: "../x", process: ExecProcess(args: ["true"])) { $0.close() }
            XCTFail("bad name accepted")
        } catch ContainerError.invalidArgument {}
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(stateDirectory!)/frozen").sorted()
        XCTAssertEqual(files, ["init-control", "init-stderr", "init-stdin", "init-stdout", "record.json"], "a failed exec leaves no files")
        try await stop("frozen")
        XCTAssertEqual(backend.states(for: "frozen"), [.start, .pause, .resume, .exit])
    }
}

final class ExecBackgroundChildTests: ContainerTestCase {
    /// moby#26995: a background child that keeps the exec's stdout open does not delay
    /// exit-process — it is reported when the exec's own process exits. The child's later
    /// output still reaches the pipe, which reaches EOF when the child exits too.
    func testBackgroundChildDoesNotHoldTheExitBack() async throws {
        try await client.create(containerID: "bg", spec: spec(["sleep", "1000"])) { $0.close() }
        let started = ContinuousClock.now
        let output = Mutex<AsyncThrowingStream<[UInt8], any Error>?>(nil)
        _ = try await client.addProcess(containerID: "bg", processFriendlyName: "spawner", process: ExecProcess(args: ["sh", "-c", "(sleep 2; echo late) & echo early"])) { io in
            io.closeStdin()
            output.withLock { $0 = io.stdoutBytes() }
        }
        let exit = try await backend.wait(for: "bg", state: .exitProcess, processID: "spawner", timeout: .seconds(10))
        XCTAssertEqual(exit.exitCode, 0)
        XCTAssertLessThan(ContinuousClock.now - started, .milliseconds(1700), "reported when sh exits, not when the background child (2 s) lets go of stdout")
        let text = String(decoding: try await XCTUnwrap(output.withLock { $0 }).collect(), as: UTF8.self)
        XCTAssertEqual(text, "early\nlate\n")
        try await client.signal(containerID: "bg", signal: SIGKILL)
        try await backend.wait(for: "bg", state: .exit)
    }
}

/// CVE-2019-5736: a container must never be able to write to the helper's binary.
final class HelperOverwriteTests: ContainerTestCase {
    func testContainerCannotOverwriteTheHelperDuringExec() async throws {
        try compileProgram("overwrite-helper", into: rootfs.path)

        // A private copy of the helper: if the defence failed, only this copy would be hurt.
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let helper = NSTemporaryDirectory() + "lcd-shim-copy-" + UUID().uuidString.prefix(8)
        try FileManager.default.copyItem(atPath: (exe as NSString).deletingLastPathComponent + "/lcd-shim", toPath: helper)
        defer { try? FileManager.default.removeItem(atPath: helper) }
        let original = try Data(contentsOf: URL(fileURLWithPath: helper))
        let client = try LinuxClient(backend: backend, options: [.stateDirectory(stateDirectory), .cgroupParent(cgroupParent), .helperPath(helper)])

        var spec = self.spec(["/bin/overwrite-helper", "4"])
        // Even with CAP_SYS_PTRACE, which lets it see a non-dumpable helper's /proc files.
        spec.process?.capabilities = .init(bounding: ["CAP_SYS_PTRACE", "CAP_DAC_OVERRIDE"], effective: ["CAP_SYS_PTRACE", "CAP_DAC_OVERRIDE"], permitted: ["CAP_SYS_PTRACE", "CAP_DAC_OVERRIDE"])
        let output = Mutex<AsyncThrowingStream<[UInt8], any Error>?>(nil)
        try await client.create(containerID: "hostile", spec: spec) { io in
            io.closeStdin()
            output.withLock { $0 = io.stdoutBytes() }
        }
        for n in 0..<150 {
            guard (try? await client.addProcess(containerID: "hostile", processFriendlyName: "e\(n)", process: ExecProcess(args: ["true"])) { $0.close() }) != nil else { break }
            try await Task.sleep(for: .milliseconds(15))
        }
        let report = String(decoding: try await XCTUnwrap(output.withLock { $0 }).collect(), as: UTF8.self)
        try await backend.wait(for: "hostile", state: .exit, timeout: .seconds(20))
        XCTAssertFalse(report.contains("OVERWROTE"), report)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: helper)), original, "the helper binary is unchanged")
        let holds = report.split(separator: "\n").filter { $0.hasPrefix("HOLD") }
        XCTAssertFalse(holds.isEmpty, "the hostile program never caught a helper, so the test proved nothing:\n\(report)")
        // What it caught is a sealed in-memory copy, not the host's file. (The file would be
        // busy — ETXTBSY — while the container's own helper runs it, but that is no defence
        // once every helper using the file has exited.)
        XCTAssertTrue(holds.allSatisfy { $0.contains("/memfd:lcd-shim") }, "a helper ran from the host file:\n\(report)")
    }
}
