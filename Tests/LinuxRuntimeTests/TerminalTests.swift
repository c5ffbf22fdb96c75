import Foundation
import Glibc
import LibContainerd
import LinuxRuntime
import OCIRuntimeSpec
import Synchronization
import XCTest

/// Terminals for the init and for execs, and resize, asserted from inside the container.
final class TerminalTests: ContainerTestCase {
    /// Collects a stream as it arrives, so a test can wait for a piece of output.
    final class Collector: Sendable {
        private let text = Mutex("")
        init(_ stream: AsyncThrowingStream<[UInt8], any Error>) {
            Task { for try await chunk in stream { text.withLock { $0 += String(decoding: chunk, as: UTF8.self).replacingOccurrences(of: "\r", with: "") } } }
        }
        var value: String { text.withLock { $0 } }
        func wait(for piece: String, timeout: Duration = .seconds(10)) async throws {
            let deadline = ContinuousClock.now + timeout
            while !value.contains(piece) {
                guard ContinuousClock.now < deadline else { return XCTFail("no \"\(piece)\" in the output:\n\(value)") }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    func testInitTerminalIsTheConsoleAndCarriesBothStreams() async throws {
        var spec = self.spec(["sh", "-c", "tty; stty size; echo to-stderr >&2; [ -t 0 ] && echo stdin-is-a-tty"])
        spec.process?.terminal = true
        spec.process?.consoleSize = .init(height: 30, width: 100)
        let stderrSeen = Mutex<Bool?>(nil)
        let collector = Mutex<Collector?>(nil)
        try await client.create(containerID: "tty", spec: spec) { io in
            stderrSeen.withLock { $0 = io.stderr != nil }
            XCTAssertTrue(io.terminal)
            collector.withLock { $0 = Collector(io.stdoutBytes()) }
        }
        XCTAssertEqual(stderrSeen.withLock { $0 }, false, "with a terminal there is no stderr")
        let output = try XCTUnwrap(collector.withLock { $0 })
        try await output.wait(for: "stdin-is-a-tty")
        let lines = output.value.split(separator: "\n")
        XCTAssertTrue(lines.first == "/dev/console" || lines.first?.hasPrefix("/dev/pts/") == true, output.value)
        XCTAssertEqual(lines.dropFirst().first, "30 100")
        XCTAssertTrue(lines.contains("to-stderr"), "stderr goes through the terminal")
        try await backend.wait(for: "tty", state: .exit)
    }

    func testResizeReachesTheProcessAsSIGWINCH() async throws {
        var spec = self.spec(["sh", "-c", "trap 'stty size' WINCH; echo ready; while :; do sleep 0.05; done"])
        spec.process?.terminal = true
        let collector = Mutex<Collector?>(nil)
        try await client.create(containerID: "winch", spec: spec) { io in collector.withLock { $0 = Collector(io.stdoutBytes()) } }
        let output = try XCTUnwrap(collector.withLock { $0 })
        try await output.wait(for: "ready")
        try await client.resize(containerID: "winch", processFriendlyName: "init", width: 120, height: 40)
        try await output.wait(for: "40 120")
        await assertThrows(.invalidArgument(name: "terminal size 0x10", reason: "must be 1...65535 in each dimension")) {
            try await self.client.resize(containerID: "winch", processFriendlyName: "init", width: 0, height: 10)
        }
        await assertThrows(.processNotFound(containerID: "winch", processFriendlyName: "nope")) {
            try await self.client.resize(containerID: "winch", processFriendlyName: "nope", width: 10, height: 10)
        }
        try await client.signal(containerID: "winch", signal: SIGKILL)
        try await backend.wait(for: "winch", state: .exit)
    }

    /// (`read` is retried: busybox's returns early when SIGWINCH interrupts it.)
    func testExecWithATerminalAndResize() async throws {
        try await client.create(containerID: "host", spec: spec(["sleep", "1000"])) { $0.close() }
        await assertThrows(.invalidState(containerID: "host", state: "without a terminal", operation: "resize init")) {
            try await self.client.resize(containerID: "host", processFriendlyName: "init", width: 80, height: 24)
        }
        let collector = Mutex<Collector?>(nil)
        let stdin = Mutex<IOPipe?>(nil)
        _ = try await client.addProcess(containerID: "host", processFriendlyName: "shell", process: ExecProcess(
            args: ["sh", "-c", "tty; trap 'stty size' WINCH; echo ready; until read line; do :; done; echo got:$line"], terminal: true)) { io in
            stdin.withLock { $0 = io }
            collector.withLock { $0 = Collector(io.stdoutBytes()) }
        }
        let output = try XCTUnwrap(collector.withLock { $0 })
        try await output.wait(for: "ready")
        XCTAssertTrue(output.value.hasPrefix("/dev/pts/"), output.value)
        try await client.resize(containerID: "host", processFriendlyName: "shell", width: 90, height: 33)
        try await output.wait(for: "33 90")
        try XCTUnwrap(stdin.withLock { $0 }).writeStdin(Array("hello\n".utf8))
        try await output.wait(for: "got:hello")
        let exit = try await backend.wait(for: "host", state: .exitProcess, processID: "shell")
        XCTAssertEqual(exit.exitCode, 0)
        try await client.signal(containerID: "host", signal: SIGKILL)
        try await backend.wait(for: "host", state: .exit)
    }

    func testClosingATerminalsStdinSendsEOF() async throws {
        var spec = self.spec(["sh", "-c", "cat; echo after-eof"])
        spec.process?.terminal = true
        let collector = Mutex<Collector?>(nil)
        try await client.create(containerID: "eof", spec: spec) { io in
            try io.writeStdin(Array("typed\n".utf8))
            io.closeStdin()
            collector.withLock { $0 = Collector(io.stdoutBytes()) }
        }
        let output = try XCTUnwrap(collector.withLock { $0 })
        try await output.wait(for: "after-eof")
        try await backend.wait(for: "eof", state: .exit)
    }
}
