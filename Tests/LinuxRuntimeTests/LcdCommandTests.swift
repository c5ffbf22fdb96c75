import Foundation
import Glibc
import LinuxRuntime
import OCIRuntimeSpec
import XCTest

/// `lcd` as users run it: every command a separate process over one state directory.
final class LcdCommandTests: ContainerTestCase {
    private var lcd: String!

    override func setUpWithError() throws {
        try super.setUpWithError()
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        lcd = (exe as NSString).deletingLastPathComponent + "/lcd"
        XCTAssertEqual(access(lcd, X_OK), 0, "lcd is built with the tests")
    }

    override func tearDownWithError() throws {
        // lcd's own notes are the CLI's business: rm removed them, or the test failed.
        let notes = (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory + "/.lcd")) ?? []
        XCTAssertEqual(notes, [], "lcd rm left notes behind")
        rmdir(stateDirectory + "/.lcd")
        try super.tearDownWithError()
    }

    /// Runs `lcd COMMAND --state <test state> ARGS…`; returns stdout, stderr and the exit status.
    @discardableResult
    private func lcd(_ args: String...) throws -> (out: String, err: String, status: Int32) { try lcd(args) }

    private func lcd(_ args: [String]) throws -> (out: String, err: String, status: Int32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: lcd)
        // Options before the container id: after it, everything is the command.
        process.arguments = [args[0], "--state", stateDirectory] + args.dropFirst()
        let out = Pipe(), err = Pipe()
        (process.standardOutput, process.standardError, process.standardInput) = (out, err, FileHandle.nullDevice)
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self), process.terminationStatus)
    }

    private func psRows() throws -> [[String: Any]] {
        let ps = try lcd("ps", "--json")
        XCTAssertEqual(ps.status, 0, ps.err)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(ps.out.utf8)) as? [[String: Any]])
    }

    private func status(of id: String) throws -> String? {
        try psRows().first { $0["id"] as? String == id }?["status"] as? String
    }

    func testASessionAcrossInvocations() throws {
        let run = try lcd("run", "-d", "--rootfs", rootfs.path, "--name", "web", "--", "sh", "-c",
                          "i=0; while :; do echo tick $i; echo warn $i >&2; i=$((i+1)); sleep 0.05; done")
        XCTAssertEqual(run.status, 0, run.err)
        XCTAssertEqual(run.out, "web\n")

        // ps: a table by default, JSON with --json.
        let table = try lcd("ps")
        XCTAssertTrue(table.out.hasPrefix("ID "), table.out)
        XCTAssertTrue(table.out.contains("web") && table.out.contains("running"), table.out)
        XCTAssertEqual(try status(of: "web"), "running")

        // exec: output and status come back through this invocation.
        let exec = try lcd("exec", "web", "--", "sh", "-c", "echo from-exec $(hostname); exit 3")
        XCTAssertEqual(exec.status, 3)
        XCTAssertEqual(exec.out, "from-exec web\n")

        // logs: stdout and stderr of the detached container, written without any reader.
        usleep(300_000)
        let logs = try lcd("logs", "web")
        XCTAssertTrue(logs.out.hasPrefix("tick 0\n") || logs.out.hasPrefix("warn 0\n"), logs.out)
        XCTAssertTrue(logs.out.contains("tick 3\n") && logs.out.contains("warn 3\n"), logs.out)

        // pause and resume, seen by ps; exec refused while paused, in one line.
        XCTAssertEqual(try lcd("pause", "web").status, 0)
        XCTAssertEqual(try status(of: "web"), "paused")
        let refused = try lcd("exec", "web", "--", "true")
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertEqual(refused.err.split(separator: "\n").count, 1, refused.err)
        XCTAssertTrue(refused.err.contains("paused"), refused.err)
        XCTAssertEqual(try lcd("resume", "web").status, 0)
        XCTAssertEqual(try status(of: "web"), "running")

        // top and stats.
        let top = try lcd("top", "web")
        XCTAssertEqual(top.status, 0, top.err)
        XCTAssertTrue(top.out.contains("sh -c i=0"), top.out)
        let stats = try lcd("stats", "web", "--json")
        XCTAssertEqual(stats.status, 0, stats.err)
        let cpu = try XCTUnwrap((JSONSerialization.jsonObject(with: Data(stats.out.utf8)) as? [String: Any])?["cpu"] as? [String: Any])
        XCTAssertGreaterThan((cpu["usageUsec"] as? NSNumber)?.intValue ?? 0, 0)

        // update: applied where the pids controller exists, refused by name where it does not.
        let update = try lcd("update", "web", "--pids", "50")
        let controllers = (try? String(contentsOfFile: cgroupRootPath + "/cgroup.controllers", encoding: .utf8)) ?? ""
        if controllers.split(separator: " ").contains(where: { $0.hasPrefix("pids") }) {
            XCTAssertEqual(update.status, 0, update.err)
        } else {
            XCTAssertNotEqual(update.status, 0)
            XCTAssertTrue(update.err.contains("pids"), update.err)
        }

        // rm refuses a running container; rm -f kills and removes it.
        let busy = try lcd("rm", "web")
        XCTAssertNotEqual(busy.status, 0)
        XCTAssertTrue(busy.err.contains("running"), busy.err)
        XCTAssertEqual(try lcd("rm", "-f", "web").status, 0)
        XCTAssertEqual(try psRows().count, 0)
    }

    func testExitWhileNoLcdRunsIsListedWithItsCodeThenRemoved() throws {
        XCTAssertEqual(try lcd("run", "-d", "--rootfs", rootfs.path, "--name", "job", "--", "sh", "-c", "echo done; exit 7").status, 0)
        var row: [String: Any]?
        for _ in 0..<200 {
            row = try psRows().first { $0["id"] as? String == "job" }
            if row?["status"] as? String == "exited" { break }
            usleep(20_000)
        }
        XCTAssertEqual(row?["status"] as? String, "exited")
        XCTAssertEqual((row?["exitCode"] as? NSNumber)?.intValue, 7)
        XCTAssertEqual(try lcd("logs", "job").out, "done\n")
        let kill = try lcd("kill", "job")
        XCTAssertNotEqual(kill.status, 0)
        XCTAssertTrue(kill.err.contains("exited with 7"), kill.err)
        XCTAssertEqual(try lcd("rm", "job").status, 0)
        XCTAssertEqual(try psRows().count, 0)
    }

    func testKillPauseAndSignalsByName() throws {
        XCTAssertEqual(try lcd("run", "-d", "--rootfs", rootfs.path, "--name", "polite", "--", "sh", "-c", "trap 'exit 4' TERM; while :; do sleep 0.05; done").status, 0)
        XCTAssertEqual(try lcd("kill", "polite", "SIGTERM").status, 0)
        for _ in 0..<200 {
            if try status(of: "polite") == "exited" { break }
            usleep(20_000)
        }
        XCTAssertEqual(try psRows().first?["exitCode"] as? NSNumber, 4)
        let bad = try lcd("kill", "polite", "NOPE")
        XCTAssertEqual(bad.err.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count, 1, bad.err)
        XCTAssertTrue(bad.err.contains("unknown signal NOPE"), bad.err)
        XCTAssertEqual(try lcd("rm", "polite").status, 0)
    }

    func testErrorsAreOneLineWithANonZeroStatus() throws {
        for args in [["kill", "ghost"], ["pause", "ghost"], ["exec", "ghost", "--", "true"], ["rm", "ghost"], ["logs", "ghost"], ["stats", "ghost"]] {
            let (_, text, status) = try lcd(args)
            XCTAssertNotEqual(status, 0, "\(args)")
            XCTAssertEqual(text.split(separator: "\n").count, 1, "\(args): \(text)")
            XCTAssertTrue(text.contains("no such container: ghost"), "\(args): \(text)")
        }
        let run = try lcd("run", "--rootfs", "/nonexistent-root", "--name", "bad", "--", "true")
        XCTAssertEqual(run.status, 125)
        XCTAssertTrue(run.err.contains("/nonexistent-root"), run.err)
    }

    func testZeroSetupRunHasNoHostSecretsAndCleansItsEtc() throws {
        let run = try lcd("run", "--name", "zero", "--", "sh", "-c", "cat /etc/shadow; echo shadow=$?; cat /etc/hostname; ls /usr/bin/ls")
        XCTAssertEqual(run.status, 0, run.err)
        XCTAssertEqual(run.out, "shadow=1\nzero\n/usr/bin/ls\n", run.err)
        XCTAssertTrue(run.err.contains("No such file"), run.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: NSTemporaryDirectory() + "lcd-etc-zero"), "the generated /etc is removed")
    }

    func testPidsLimitFlag() throws {
        let controllers = (try? String(contentsOfFile: cgroupRootPath + "/cgroup.controllers", encoding: .utf8)) ?? ""
        guard controllers.split(whereSeparator: \.isWhitespace).contains("pids") else {
            // No pids controller (this project's hybrid host): a clear error, nothing left.
            let run = try lcd("run", "--pids-limit", "7", "--", "true")
            XCTAssertEqual(run.status, 125)
            XCTAssertTrue(run.err.contains("pids"), run.err)
            return
        }
        XCTAssertEqual(try lcd("run", "-d", "--name", "limited", "--pids-limit", "7", "--", "sleep", "60").status, 0)
        XCTAssertEqual(try lcd("run", "-d", "--name", "default", "--", "sleep", "60").status, 0)
        defer { for id in ["limited", "default"] { _ = try? lcd("rm", "-f", id) } }
        for (id, expected) in [("limited", "7"), ("default", "\(Spec.defaultPidsLimit)")] {
            let row = try XCTUnwrap(try psRows().first { $0["id"] as? String == id })
            let pid = try XCTUnwrap(row["pid"] as? Int)
            let limit = try String(contentsOfFile: try cgroupDirectory(of: Int32(pid)) + "/pids.max", encoding: .utf8)
            XCTAssertEqual(limit.trimmingCharacters(in: .whitespacesAndNewlines), expected, id)
        }
    }
}
