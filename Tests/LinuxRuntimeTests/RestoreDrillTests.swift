import Foundation
import Glibc
import LibContainerd
import LibContainerdTesting
import LinuxRuntime
import Synchronization
import XCTest

/// Issue 6's drill: one daemon runs 20 containers (writers, paused ones, ones with execs,
/// ones that exit while no daemon watches); it is killed with SIGKILL; this test's client
/// restores all twenty. See Tests/RestoreDrill/main.swift for the daemon.
final class RestoreDrillTests: ContainerTestCase {
    private var daemon: pid_t = 0

    override func tearDownWithError() throws {
        if daemon > 0 { kill(daemon, SIGKILL); var status: Int32 = 0; waitpid(daemon, &status, 0) }
        try super.tearDownWithError()
    }

    func testTwentyContainersSurviveADaemonKilledWithSIGKILL() async throws {
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let drill = (exe as NSString).deletingLastPathComponent + "/lcd-restore-drill"
        XCTAssertEqual(access(drill, X_OK), 0, "lcd-restore-drill is built with the tests (swift build --build-tests)")
        let ids = (0..<20).map { String(format: "drill-%02d", $0) }
        let kind: @Sendable (String) -> Int = { id in Int(id.suffix(2))! % 5 }

        // 1. The daemon starts its containers and reports their pids.
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        let argv = [drill, stateDirectory!, cgroupParent!, rootfs.path]
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        XCTAssertEqual(posix_spawn(&daemon, drill, &actions, nil, cArgs, environ), 0)
        close(fds[1])
        let report = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true)
        var lines: [String] = []
        var buffer = ""
        while !lines.contains("ready") {
            let data = report.availableData
            if data.isEmpty { break }
            buffer += String(decoding: data, as: UTF8.self)
            while let newline = buffer.firstIndex(of: "\n") {
                lines.append(String(buffer[..<newline]))
                buffer = String(buffer[buffer.index(after: newline)...])
            }
        }
        XCTAssertTrue(lines.contains("ready"), "the drill daemon did not get ready: \(lines)")
        var initPids: [String: Int32] = [:], execPids: [String: Int32] = [:]
        for line in lines {
            let fields = line.split(separator: " ").map(String.init)
            if fields.first == "container", fields.count == 3 { initPids[fields[1]] = Int32(fields[2]) }
            if fields.first == "exec", fields.count == 4 { execPids[fields[1] + "/" + fields[2]] = Int32(fields[3]) }
        }
        XCTAssertEqual(initPids.count, 20)
        XCTAssertEqual(execPids.count, 8)
        guard initPids.count == 20, execPids.count == 8 else { return }

        // The shells must have installed their USR1 traps: a pid namespace's init drops a
        // signal it has no handler for, and an exec's shell would die of it with 138.
        let trapping = ids.filter { kind($0) == 3 }.map { initPids[$0]! } + ids.filter { kind($0) == 2 }.map { execPids[$0 + "/short"]! }
        for pid in trapping {
            var tries = 0
            while !catchesSignal(SIGUSR1, pid: pid) && tries < 500 { usleep(10_000); tries += 1 }
            XCTAssertTrue(catchesSignal(SIGUSR1, pid: pid), "pid \(pid) never trapped SIGUSR1")
        }

        // 2. SIGKILL; while no daemon watches, some containers and execs exit and writers write.
        kill(daemon, SIGKILL)
        var status: Int32 = 0
        waitpid(daemon, &status, 0)
        daemon = 0
        let killedAt = uptime()
        for id in ids where kind(id) == 3 { kill(initPids[id]!, SIGUSR1) }
        for id in ids where kind(id) == 2 { kill(execPids[id + "/short"]!, SIGUSR1) }
        try await Task.sleep(for: .milliseconds(500))
        let restoredAt = uptime()

        // 3. A new daemon (this client) restores all twenty.
        XCTAssertEqual(client.containers(), ids)
        let outputs = Mutex<[String: AsyncThrowingStream<[UInt8], any Error>]>([:])
        for id in ids {
            try await client.restore(containerID: id) { io in
                if kind(id) == 0 { outputs.withLock { $0[id] = io.stdoutBytes() } } else { io.close() }
            }
        }
        var reattached = 0
        for id in ids {
            switch kind(id) {
            case 3:
                let exit = try await backend.wait(for: id, state: .exit)
                XCTAssertEqual(exit.exitCode, UInt32(20 + Int(id.suffix(2))!), "\(id): the true code, recorded while no daemon watched")
                XCTAssertFalse(FileManager.default.fileExists(atPath: "\(stateDirectory!)/\(id)"), "\(id): cleaned up once reported")
            case 1:
                XCTAssertEqual(backend.states(for: id), [.restore, .pause], "\(id): paused, read from the cgroup")
                await assertThrows(.invalidState(containerID: id, state: "paused", operation: "pause")) { try await self.client.pause(containerID: id) }
                reattached += 1
            case 2:
                let short = try await backend.wait(for: id, state: .exitProcess, processID: "short")
                XCTAssertEqual(short.exitCode, 5, "\(id): the exec that ended while no daemon watched")
                XCTAssertEqual(short.pid, execPids[id + "/short"]!)
                try await client.signalProcess(containerID: id, processFriendlyName: "long", signal: SIGKILL)
                let long = try await backend.wait(for: id, state: .exitProcess, processID: "long")
                XCTAssertEqual(long.exitCode, 137, "\(id): the exec still running was watched again")
                reattached += 1
            default:
                XCTAssertEqual(backend.states(for: id).first, .restore, id)
                reattached += 1
            }
        }
        XCTAssertEqual(reattached, 16, "every container still running was reattached")
        XCTAssertEqual(ids.filter { backend.states(for: $0).contains(.restore) || backend.states(for: $0) == [.exit] }.count, 20, "20/20 restored")

        // 4. Writers: everything since their start arrives, in order, including what they wrote
        // while no daemon was attached (their stdout was never read before).
        try await Task.sleep(for: .milliseconds(200))
        for id in ids where kind(id) == 0 {
            try await client.signal(containerID: id, signal: SIGKILL)
            let text = String(decoding: try await XCTUnwrap(outputs.withLock { $0[id] }).collect(), as: UTF8.self)
            let records = text.split(separator: "\n").compactMap { line -> (Int, Double)? in
                let fields = line.split(separator: " ")
                guard fields.count == 2, let n = Int(fields[0]), let t = Double(fields[1]) else { return nil }
                return (n, t)
            }
            XCTAssertEqual(records.map(\.0), Array(0..<records.count), "\(id): every line from the first, none lost")
            XCTAssertTrue(records.contains { $0.1 > killedAt && $0.1 < restoredAt }, "\(id): lines written while the daemon was down (\(killedAt)–\(restoredAt)) arrived: \(records.count) lines, \(records.first.map { "\($0.1)" } ?? "-")…\(records.last.map { "\($0.1)" } ?? "-")")
        }

        // 5. The rest ends normally through the new daemon.
        for id in ids where kind(id) == 1 { try await client.resume(containerID: id) }
        for id in ids where kind(id) != 3 {
            if kind(id) != 0 { try await client.signal(containerID: id, signal: SIGKILL) }
            let exit = try await backend.wait(for: id, state: .exit)
            XCTAssertEqual(exit.exitCode, 137, id)
        }
        XCTAssertEqual(client.containers(), [])
    }

    private func uptime() -> Double {
        Double((try? String(contentsOfFile: "/proc/uptime", encoding: .utf8))?.split(separator: " ").first ?? "") ?? 0
    }
}
