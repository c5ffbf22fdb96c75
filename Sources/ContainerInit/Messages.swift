import Glibc

/// The messages between the daemon, the helper and the container process: one enum per
/// channel, one codec for all. A message is a frame — a 4-byte little-endian length, then the
/// payload — whose payload is length-prefixed tokens (the plan's `TokenWriter`), the first
/// naming the case. No string in a message, whatever it holds, can end a field early or forge
/// another message; a payload must be consumed exactly.
///
/// Channels:
/// - ``DaemonMessage``: daemon → helper, the helper's fd 3.
/// - ``HelperMessage``: helper → daemon, the helper's fd 4.
/// - ``ProcessMessage``: container process → helper, the error pipe (close-on-exec: its EOF
///   without a message means the program is running).
/// - ``ControlRequest``: daemon → helper, the `<name>-control` FIFO (one frame per write,
///   below PIPE_BUF, so concurrent writers never interleave).
///
/// (The helper → process "go" pipe carries fixed-size binary values, no strings.)
public protocol FramedMessage: Equatable, Sendable {
    func write(to payload: inout TokenWriter)
    init(reading payload: inout TokenReader) throws(MessageDecodingError)
}

public struct MessageDecodingError: Error, Equatable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

extension FramedMessage {
    /// The frame: length, then payload.
    public func framed() -> [UInt8] {
        var payload = TokenWriter()
        write(to: &payload)
        let length = UInt32(payload.bytes.count)
        return (0..<4).map { UInt8(truncatingIfNeeded: length >> ($0 * 8)) } + payload.bytes
    }

    /// A message from one frame's payload, which must be used up exactly.
    public init(payload bytes: [UInt8]) throws(MessageDecodingError) {
        var reader = TokenReader(bytes)
        self = try Self(reading: &reader)
        guard reader.isAtEnd else { throw MessageDecodingError(reason: "\(bytes.count - reader.index) bytes after the message") }
    }
}

/// Collects bytes from a stream and hands out whole frames' payloads.
public struct FrameReader {
    /// Frames above this are refused (a plan with a large seccomp program and hooks is far below).
    public static let maximumFrame = 64 << 20
    private var buffer: [UInt8] = []
    public init() {}

    public mutating func append(_ bytes: some Sequence<UInt8>) { buffer += bytes }

    /// The payload length a frame header announces, refused above ``maximumFrame``.
    static func length(of header: some Collection<UInt8>) throws(MessageDecodingError) -> Int {
        let length = header.prefix(4).reversed().reduce(0) { $0 << 8 | Int($1) }
        guard length <= maximumFrame else { throw MessageDecodingError(reason: "a frame of \(length) bytes") }
        return length
    }

    /// The next complete payload, nil while incomplete.
    public mutating func next() throws(MessageDecodingError) -> [UInt8]? {
        guard buffer.count >= 4 else { return nil }
        let length = try Self.length(of: buffer)
        guard buffer.count >= 4 + length else { return nil }
        defer { buffer.removeFirst(4 + length) }
        return Array(buffer[4..<(4 + length)])
    }

    /// The next complete message, nil while incomplete; a malformed frame or message throws.
    public mutating func next<M: FramedMessage>(_ type: M.Type) throws(MessageDecodingError) -> M? {
        guard let payload = try next() else { return nil }
        return try M(payload: payload)
    }

    /// Bytes received that do not make a whole frame (for EOF diagnostics).
    public var pending: Int { buffer.count }
}

/// Reads one framed message from a blocking descriptor; nil at EOF or on a malformed frame.
func readMessage<M: FramedMessage>(_ type: M.Type, from fd: Int32) -> M? {
    guard let header = readExactly(fd, 4), let length = try? FrameReader.length(of: header),
          let payload = readExactly(fd, length) else { return nil }
    return try? M(payload: payload)
}

@discardableResult
func send(_ message: some FramedMessage, to fd: Int32) -> Bool { writeAll(fd, message.framed()) }

// MARK: - The channels

/// Daemon → helper.
public enum DaemonMessage: FramedMessage {
    /// The first message: what to run.
    case plan(Plan)
    /// Start the process (closing the pipe instead: give up).
    case start
    /// The daemon watches the process: the helper may reap it from now on.
    case acknowledge

    public func write(to out: inout TokenWriter) {
        switch self {
        case .plan(let plan): out.put("plan"); plan.write(to: &out)
        case .start: out.put("start")
        case .acknowledge: out.put("acknowledge")
        }
    }

    public init(reading r: inout TokenReader) throws(MessageDecodingError) {
        switch try r.message() {
        case "plan":
            do { self = .plan(try Plan(reading: &r)) } catch { throw MessageDecodingError(reason: "plan: \(error.reason)") }
        case "start": self = .start
        case "acknowledge": self = .acknowledge
        case let other: throw MessageDecodingError(reason: "unknown daemon message \(other)")
        }
    }
}

/// Helper → daemon.
public enum HelperMessage: FramedMessage {
    /// Detached, with the FIFOs open: the helper's pid.
    case ready(pid: Int32)
    /// A poststart hook failed (the start goes on).
    case warning(String)
    /// The process runs: its host pid.
    case started(pid: Int32)
    /// The start failed.
    case failed(StartFailure)

    public func write(to out: inout TokenWriter) {
        switch self {
        case .ready(let pid): out.put("ready"); out.put(Int(pid))
        case .warning(let text): out.put("warning"); out.put(text)
        case .started(let pid): out.put("started"); out.put(Int(pid))
        case .failed(let failure): out.put("failed"); failure.write(to: &out)
        }
    }

    public init(reading r: inout TokenReader) throws(MessageDecodingError) {
        switch try r.message() {
        case "ready": self = .ready(pid: try r.pid())
        case "warning": self = .warning(try r.text())
        case "started": self = .started(pid: try r.pid())
        case "failed": self = .failed(try StartFailure(reading: &r))
        case let other: throw MessageDecodingError(reason: "unknown helper message \(other)")
        }
    }
}

/// Container process → helper, before exec.
public enum ProcessMessage: FramedMessage {
    /// Run the createRuntime hooks now (the process waits on the go pipe).
    case runHooks
    case failed(StartFailure)

    public func write(to out: inout TokenWriter) {
        switch self {
        case .runHooks: out.put("run-hooks")
        case .failed(let failure): out.put("failed"); failure.write(to: &out)
        }
    }

    public init(reading r: inout TokenReader) throws(MessageDecodingError) {
        switch try r.message() {
        case "run-hooks": self = .runHooks
        case "failed": self = .failed(try StartFailure(reading: &r))
        case let other: throw MessageDecodingError(reason: "unknown process message \(other)")
        }
    }
}

/// Daemon → helper over the control FIFO, while the process runs.
public enum ControlRequest: FramedMessage {
    /// End the process's input (the EOF character for a terminal).
    case closeStdin
    /// A new terminal size.
    case resize(columns: UInt16, rows: UInt16)

    public func write(to out: inout TokenWriter) {
        switch self {
        case .closeStdin: out.put("close-stdin")
        case .resize(let columns, let rows): out.put("resize"); out.put(Int(columns)); out.put(Int(rows))
        }
    }

    public init(reading r: inout TokenReader) throws(MessageDecodingError) {
        switch try r.message() {
        case "close-stdin": self = .closeStdin
        case "resize":
            guard let columns = UInt16(exactly: try r.number()), let rows = UInt16(exactly: try r.number()) else {
                throw MessageDecodingError(reason: "a terminal size out of range")
            }
            self = .resize(columns: columns, rows: rows)
        case let other: throw MessageDecodingError(reason: "unknown control request \(other)")
        }
    }
}

extension StartFailure {
    func write(to out: inout TokenWriter) {
        out.put(kind); out.put(location); out.put(Int(errno)); out.put(message)
    }

    init(reading r: inout TokenReader) throws(MessageDecodingError) {
        let kind = try r.text(), location = try r.text()
        guard let code = Int32(exactly: try r.number()) else { throw MessageDecodingError(reason: "an errno out of range") }
        self.init(kind: kind, location: location, errno: code, message: try r.text())
    }
}

extension TokenReader {
    mutating func message() throws(MessageDecodingError) -> String { try text() }
    mutating func text() throws(MessageDecodingError) -> String {
        do { return try string() } catch { throw MessageDecodingError(reason: error.reason) }
    }
    mutating func number() throws(MessageDecodingError) -> Int {
        do { return try int() } catch { throw MessageDecodingError(reason: error.reason) }
    }
    mutating func pid() throws(MessageDecodingError) -> Int32 {
        guard let pid = Int32(exactly: try number()), pid > 0 else { throw MessageDecodingError(reason: "not a pid") }
        return pid
    }
}
