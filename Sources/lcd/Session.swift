import ContainerInit
import Foundation
import Glibc
import LibContainerd
import LinuxRuntime
import Synchronization

/// One `lcd` invocation as a short-lived daemon: a `LinuxClient` over the state directory, a
/// backend that remembers the events it needs, and lcd's own notes on the containers it ran.
///
/// `LinuxClient` forgets a container once it has exited (that is the library's contract); `lcd`
/// keeps a note per container in `<state>/.lcd/<id>.json` so that `ps` can list stopped ones
/// and `rm` has something to remove. A detached container's output is `<state>/.lcd/<id>.log`.
final class Session: Sendable {
    let client: LinuxClient
    let backend: SessionBackend
    let notes: NoteStore

    init(state: String, printEvents: Bool = false) throws {
        notes = NoteStore(directory: state + "/.lcd")
        backend = SessionBackend(notes: notes, printEvents: printEvents)
        client = try LinuxClient(backend: backend, options: [.stateDirectory(state)])
    }

    /// Takes container `id` over (a `restore` whose stdio this invocation does not use).
    /// Fails with the reason when there is nothing running to take over.
    func attach(_ id: String) async throws {
        do {
            try await client.restore(containerID: id, attachStdio: { io in io.close() })
        } catch ContainerError.notFound {
            if let note = notes.read(id) { throw Failure("container \(id) is not running (\(note.statusText))") }
            throw Failure("no such container: \(id)")
        }
        // An exit while no daemon watched is reported (and cleaned up) by the restore itself.
        if let code = backend.exitCode(id) { throw Failure("container \(id) is not running (exited with \(code))") }
    }

    /// Before the process exits: let the containers go, with no cleanup left half done.
    func finish() async { await client.detach() }
}

/// A one-line error for the user.
struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// What lcd remembers of a container it ran, beyond what the library records.
struct Note: Codable, Sendable {
    var id: String
    var command: [String]
    var created: Date
    /// Started with `run -d`: its output is in `log`.
    var log: String?
    var exitCode: UInt32?
    var finished: Date?

    var statusText: String { exitCode.map { "exited with \($0)" } ?? "running" }
}

struct NoteStore: Sendable {
    let directory: String

    func path(_ id: String) -> String { "\(directory)/\(id).json" }
    func logPath(_ id: String) -> String { "\(directory)/\(id).log" }

    func read(_ id: String) -> Note? {
        guard let data = FileManager.default.contents(atPath: path(id)) else { return nil }
        return try? decoder.decode(Note.self, from: data)
    }

    func write(_ note: Note) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temporary = path(note.id) + ".tmp.\(getpid())"
        try encoder.encode(note).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path(note.id)) == 0 else { throw Failure("cannot write \(path(note.id)): \(String(cString: strerror(errno)))") }
    }

    /// Records the exit in the note, if there is a note and it has none yet (the first daemon
    /// to see the exit wins; every daemon sees the same recorded code).
    func recordExit(_ id: String, code: UInt32) {
        guard var note = read(id), note.exitCode == nil else { return }
        note.exitCode = code
        note.finished = Date()
        try? write(note)
    }

    /// The note, the log and the zero-setup root directory and `/etc` of `run` without --rootfs.
    func remove(_ id: String) {
        unlink(path(id))
        for file in Self.logFiles(logPath(id)) { unlink(file) }
        rmdir(rootPath(id))
        try? FileManager.default.removeItem(atPath: etcPath(id))
    }

    /// A log and its rotated files, oldest first (`lcd run -d` uses the default rotation).
    static func logFiles(_ log: String) -> [String] { LogWriter.files(of: log, maxFiles: CreateOptions().logMaxFiles) }

    func rootPath(_ id: String) -> String { "\(directory)/\(id).root" }
    func etcPath(_ id: String) -> String { "\(directory)/\(id).etc" }

    func ids() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return entries.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }
    }

    private var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    private var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

/// Notes exits, optionally prints events, and lets commands wait for an exit.
final class SessionBackend: Backend {
    private struct Waiter {
        let id: String
        let process: String?
        let continuation: CheckedContinuation<UInt32, Never>
    }
    private let notes: NoteStore
    private let printEvents: Bool
    /// Exit codes seen, by container id and process (nil: the container's init).
    private let state = Mutex<(exits: [String: UInt32], waiters: [Waiter])>(([:], []))

    init(notes: NoteStore, printEvents: Bool) {
        self.notes = notes
        self.printEvents = printEvents
    }

    private static func key(_ id: String, _ process: String?) -> String { process.map { "\(id)/\($0)" } ?? id }

    func stateChanged(containerID id: String, state info: StateInfo) async throws {
        if printEvents {
            var line = "event \(info.state.rawValue) container=\(id) pid=\(info.pid)"
            if !info.processID.isEmpty && info.processID != "init" { line += " process=\(info.processID)" }
            if info.state == .exit || info.state == .exitProcess { line += " exitCode=\(info.exitCode)" }
            if info.oomKilled { line += " oomKilled=true" }
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        let process: String?
        switch info.state {
        case .exit:
            notes.recordExit(id, code: info.exitCode)
            process = nil
        case .exitProcess:
            process = info.processID
        default:
            return
        }
        let key = Self.key(id, process)
        let ready = state.withLock { state -> [Waiter] in
            state.exits[key] = info.exitCode
            let ready = state.waiters.filter { Self.key($0.id, $0.process) == key }
            state.waiters.removeAll { Self.key($0.id, $0.process) == key }
            return ready
        }
        for waiter in ready { waiter.continuation.resume(returning: info.exitCode) }
    }

    /// The exit code of the container (or of one of its processes), if seen.
    func exitCode(_ id: String, process: String? = nil) -> UInt32? {
        state.withLock { $0.exits[Self.key(id, process)] }
    }

    /// Waits for the container's (or process's) exit and returns its code.
    func waitForExit(_ id: String, process: String? = nil) async -> UInt32 {
        await withCheckedContinuation { continuation in
            let known = state.withLock { state -> UInt32? in
                if let code = state.exits[Self.key(id, process)] { return code }
                state.waiters.append(Waiter(id: id, process: process, continuation: continuation))
                return nil
            }
            if let known { continuation.resume(returning: known) }
        }
    }
}
