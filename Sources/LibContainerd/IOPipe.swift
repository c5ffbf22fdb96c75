import Foundation
import Synchronization
import SystemPackage

/// The stdio of one container process — libcontainerd's `IOPipe`.
///
/// Ownership: the pipe owns its descriptors until you take one (``takeStdin()``,
/// ``takeStdout()``, ``takeStderr()``, or the byte sequences, which take theirs); what it still
/// owns is closed by ``close()`` or when the pipe is released. A descriptor you take is yours to
/// close. With a terminal, stdout carries the terminal and stderr is `nil`.
public final class IOPipe: Sendable {
    /// Whether the process has a terminal (stdout then carries both output streams).
    public let terminal: Bool
    private let descriptors: Mutex<Descriptors>
    private let onStdinClose: (@Sendable () -> Void)?

    private struct Descriptors {
        var stdin: FileDescriptor?
        var stdout: FileDescriptor?
        var stderr: FileDescriptor?
        var stdinClosed = false
    }

    /// - Parameter onStdinClose: called once when ``closeStdin()`` runs, after the descriptor
    ///   is closed — how a runtime learns it must pass the EOF on to the process.
    public init(
        stdin: FileDescriptor?, stdout: FileDescriptor?, stderr: FileDescriptor?,
        terminal: Bool = false, onStdinClose: (@Sendable () -> Void)? = nil
    ) {
        self.terminal = terminal
        self.onStdinClose = onStdinClose
        self.descriptors = Mutex(Descriptors(stdin: stdin, stdout: stdout, stderr: stderr))
    }

    deinit { close() }

    /// The write end of the process's stdin, still owned by the pipe.
    public var stdin: FileDescriptor? { descriptors.withLock { $0.stdin } }
    /// The read end of the process's stdout, still owned by the pipe.
    public var stdout: FileDescriptor? { descriptors.withLock { $0.stdout } }
    /// The read end of the process's stderr, still owned by the pipe.
    public var stderr: FileDescriptor? { descriptors.withLock { $0.stderr } }

    /// Takes stdin: the caller closes it, and should call ``closeStdin()`` instead of closing
    /// it by hand if the process must see EOF while the runtime holds its own end open.
    public func takeStdin() -> FileDescriptor? { descriptors.withLock { d in defer { d.stdin = nil }; return d.stdin } }
    /// Takes stdout; the caller closes it.
    public func takeStdout() -> FileDescriptor? { descriptors.withLock { d in defer { d.stdout = nil }; return d.stdout } }
    /// Takes stderr; the caller closes it.
    public func takeStderr() -> FileDescriptor? { descriptors.withLock { d in defer { d.stderr = nil }; return d.stderr } }

    /// Writes all of `bytes` to the process's stdin.
    public func writeStdin(_ bytes: some Sequence<UInt8>) throws {
        guard let fd = stdin else {
            throw ContainerError.invalidArgument(name: "stdin", reason: "already closed or taken")
        }
        _ = try fd.writeAll(bytes)
    }

    /// Closes stdin so that the process reads EOF. Safe to call more than once.
    public func closeStdin() {
        let (fd, first) = descriptors.withLock { d -> (FileDescriptor?, Bool) in
            defer { d.stdin = nil; d.stdinClosed = true }
            return (d.stdin, !d.stdinClosed)
        }
        try? fd?.close()
        if first { onStdinClose?() }
    }

    /// Closes every descriptor the pipe still owns.
    public func close() {
        let fds = descriptors.withLock { d -> [FileDescriptor] in
            defer { d.stdin = nil; d.stdout = nil; d.stderr = nil }
            return [d.stdin, d.stdout, d.stderr].compactMap { $0 }
        }
        for fd in fds { try? fd.close() }
    }

    /// The process's stdout as chunks of bytes, ending at EOF. Takes stdout.
    public func stdoutBytes() -> AsyncThrowingStream<[UInt8], any Error> { Self.chunks(of: takeStdout()) }

    /// The process's stderr as chunks of bytes, ending at EOF (at once with a terminal). Takes stderr.
    public func stderrBytes() -> AsyncThrowingStream<[UInt8], any Error> { Self.chunks(of: takeStderr()) }

    /// Reads `fd` to EOF on a thread of its own (the read blocks), then closes it.
    static func chunks(of fd: FileDescriptor?) -> AsyncThrowingStream<[UInt8], any Error> {
        AsyncThrowingStream { continuation in
            guard let fd else { return continuation.finish() }
            let reader = Thread {
                defer { try? fd.close() }
                var buffer = [UInt8](repeating: 0, count: 64 * 1024)
                while true {
                    do {
                        let count = try buffer.withUnsafeMutableBytes { try fd.read(into: $0, retryOnInterrupt: true) }
                        if count == 0 { return continuation.finish() }
                        continuation.yield(Array(buffer[..<count]))
                    } catch {
                        return continuation.finish(throwing: error)
                    }
                }
            }
            reader.name = "IOPipe reader"
            reader.start()
        }
    }
}

extension AsyncSequence where Element == [UInt8] {
    /// Everything the sequence yields, concatenated.
    public func collect() async throws -> [UInt8] {
        var all: [UInt8] = []
        for try await chunk in self { all += chunk }
        return all
    }
}
