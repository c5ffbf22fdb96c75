import ContainerInit
import Foundation
import Glibc
import LibContainerd
import LinuxRuntime
import OCIRuntimeSpec
import XCTest

/// The rotation itself, on a temporary directory (no root needed).
final class LogWriterTests: XCTestCase {
    func testRotationKeepsTheNewestOutputWithinTheCap() throws {
        let directory = NSTemporaryDirectory() + "lcd-logs-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/c.log"
        var writer = try XCTUnwrap(LogWriter(path: path, maxSize: 1000, maxFiles: 3))
        var all: [UInt8] = []
        for index in 0..<500 {
            let line = Array("line \(index)\n".utf8)
            all += line
            XCTAssertTrue(writer.write(line[...]))
        }
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 2500) + Array("\nlast\n".utf8)
        all += big
        XCTAssertTrue(writer.write(big[...]), "a write larger than the cap is split across files")
        writer.close()

        let files = LogWriter.files(of: path, maxFiles: 3)
        XCTAssertEqual(files, [path + ".2", path + ".1", path])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory).sorted(), ["c.log", "c.log.1", "c.log.2"])
        var kept: [UInt8] = []
        for file in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            XCTAssertLessThanOrEqual(data.count, 1000, file)
            kept += data
        }
        XCTAssertLessThanOrEqual(kept.count, 3000)
        XCTAssertEqual(Array(all.suffix(kept.count)), kept, "what is kept is the newest output, in order")
    }

    func testOneFileIsTruncatedInPlace() throws {
        let path = NSTemporaryDirectory() + "lcd-log-" + UUID().uuidString.prefix(8)
        defer { unlink(path) }
        var writer = try XCTUnwrap(LogWriter(path: path, maxSize: 10, maxFiles: 1))
        writer.write(Array("0123456789abc".utf8)[...])
        writer.close()
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "abc")
    }
}

/// Logs of detached containers: a pipe the helper copies, capped and rotated.
final class LogFileTests: ContainerTestCase {
    func testAHugeWriterLeavesAtMostTheCapAndItsNewestLines() async throws {
        let log = stateDirectory + "-big.log"
        defer { for file in LogWriter.files(of: log, maxFiles: 5) { unlink(file) } }
        // 300 MB, then numbered lines; nobody reads: the helper must drain the pipe.
        let spec = Spec.linuxContainer(rootfs: rootfs.path, args: ["sh", "-c", """
            readlink /proc/self/fd/1; readlink /proc/self/fd/2
            head -c 300000000 /dev/zero | tr '\\0' 'a'; echo
            for i in 1 2 3; do echo tail-$i; done
            """])
        try await client.create(containerID: "big", spec: spec, options: [.logFile(log)]) { $0.close() }
        let exit = try await backend.wait(for: "big", state: .exit, timeout: .seconds(600))
        XCTAssertEqual(exit.exitCode, 0)
        let files = LogWriter.files(of: log, maxFiles: 5)
        var total = 0
        for file in files {
            var info = stat()
            XCTAssertEqual(stat(file, &info), 0, "\(file) exists")
            XCTAssertLessThanOrEqual(Int(info.st_size), 20 << 20, file)
            total += Int(info.st_size)
        }
        XCTAssertLessThanOrEqual(total, 100 << 20, "the default cap is 100 MiB in all")
        XCTAssertGreaterThan(total, 4 * 20 << 20, "four full rotated files and the current one: nothing lost below the cap")
        let newest = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertTrue(newest.hasSuffix("aaa\ntail-1\ntail-2\ntail-3\n"), String(newest.suffix(40)))
        let oldest = try String(contentsOfFile: files[0], encoding: .utf8)
        XCTAssertFalse(oldest.contains("pipe:"), "the first lines rotated away")
        XCTAssertFalse(FileManager.default.fileExists(atPath: log + ".5"))
    }

    func testTheContainerHoldsAPipeNotTheLogFile() async throws {
        let log = stateDirectory + "-small.log"
        defer { for file in LogWriter.files(of: log, maxFiles: 2) { unlink(file) } }
        let spec = Spec.linuxContainer(rootfs: rootfs.path, args: ["sh", "-c", "readlink /proc/self/fd/1; readlink /proc/self/fd/2; echo to-stderr >&2; echo abcdefghij"])
        try await client.create(containerID: "small", spec: spec, options: [.logFile(log), .logRotation(maxSize: 1 << 20, maxFiles: 2)]) { $0.close() }
        _ = try await backend.wait(for: "small", state: .exit, timeout: .seconds(60))
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 4, "\(lines)")
        XCTAssertTrue(lines[0].hasPrefix("pipe:["), "stdout is a pipe: \(lines)")
        XCTAssertEqual(lines[0], lines[1], "stdout and stderr are the same pipe, so their order is kept")
        XCTAssertEqual(Array(lines[2...]), ["to-stderr", "abcdefghij"])
    }
}
