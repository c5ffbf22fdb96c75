import Foundation
import Glibc
import Synchronization
import XCTest
import LibContainerd
import SystemPackage

final class IOPipeTests: XCTestCase {
    private func isOpen(_ fd: FileDescriptor) -> Bool { fcntl(fd.rawValue, F_GETFD) != -1 }

    func testByteSequencesReadToEOFAndTakeOwnership() async throws {
        let (outRead, outWrite) = try FileDescriptor.pipe()
        let (errRead, errWrite) = try FileDescriptor.pipe()
        let pipe = IOPipe(stdin: nil, stdout: outRead, stderr: errRead)
        _ = try outWrite.writeAll(Array("hello ".utf8))
        _ = try errWrite.writeAll(Array("oops".utf8))
        _ = try outWrite.writeAll(Array("world".utf8))
        try outWrite.close()
        try errWrite.close()
        let stdout = pipe.stdoutBytes()
        XCTAssertNil(pipe.stdout, "the sequence takes stdout")
        let out = try await stdout.collect()
        let err = try await pipe.stderrBytes().collect()
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "hello world")
        XCTAssertEqual(String(decoding: err, as: UTF8.self), "oops")
        XCTAssertFalse(isOpen(outRead), "the reader closes what it took at EOF")
    }

    func testCloseStdinClosesOnceAndNotifiesOnce() throws {
        let (read, write) = try FileDescriptor.pipe()
        defer { try? read.close() }
        let calls = Mutex(0)
        let pipe = IOPipe(stdin: write, stdout: nil, stderr: nil, onStdinClose: { calls.withLock { $0 += 1 } })
        try pipe.writeStdin(Array("abc".utf8))
        pipe.closeStdin()
        pipe.closeStdin()
        XCTAssertEqual(calls.withLock { $0 }, 1)
        XCTAssertFalse(isOpen(write))
        var buffer = [UInt8](repeating: 0, count: 8)
        let count = try buffer.withUnsafeMutableBytes { try read.read(into: $0) }
        XCTAssertEqual(Array(buffer[..<count]), Array("abc".utf8))
        XCTAssertEqual(try buffer.withUnsafeMutableBytes { try read.read(into: $0) }, 0, "EOF after closeStdin")
        XCTAssertThrowsError(try pipe.writeStdin([1]))
    }

    func testTakenDescriptorsAreNotClosedByThePipe() throws {
        let (read, write) = try FileDescriptor.pipe()
        var pipe: IOPipe? = IOPipe(stdin: write, stdout: read, stderr: nil, terminal: true)
        XCTAssertTrue(pipe!.terminal)
        XCTAssertNil(pipe!.stderr)
        let taken = pipe!.takeStdout()
        XCTAssertEqual(taken, read)
        pipe = nil
        XCTAssertTrue(isOpen(read), "a taken descriptor belongs to the taker")
        XCTAssertFalse(isOpen(write), "what the pipe still owned is closed when it is released")
        try read.close()
    }

    func testCloseClosesEverythingStillOwned() throws {
        let (read, write) = try FileDescriptor.pipe()
        let pipe = IOPipe(stdin: write, stdout: read, stderr: nil)
        pipe.close()
        XCTAssertFalse(isOpen(read))
        XCTAssertFalse(isOpen(write))
        XCTAssertNil(pipe.stdin)
        XCTAssertNil(pipe.takeStdin())
        let empty = try awaitResult { try await pipe.stderrBytes().collect() }
        XCTAssertEqual(empty, [])
    }

    private func awaitResult<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let result = Mutex<Result<T, any Error>?>(nil)
        let done = expectation(description: "done")
        Task {
            do { let value = try await body(); result.withLock { $0 = .success(value) } } catch { result.withLock { $0 = .failure(error) } }
            done.fulfill()
        }
        wait(for: [done], timeout: 5)
        return try result.withLock { $0! }.get()
    }
}
