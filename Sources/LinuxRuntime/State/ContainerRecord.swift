import Foundation
import Glibc
import LibContainerd
import OCIRuntimeSpec

/// What a daemon needs to take a container over after a restart, kept in the container's state
/// directory as `record.json` (written atomically: a temporary file renamed over it). Pids are
/// stored with their start times, so that a reused pid is never mistaken for the container.
struct ContainerRecord: Codable, Sendable {
    /// Bumped when the layout changes; a later release migrates older records.
    static let currentFormat = 1
    var format = ContainerRecord.currentFormat
    var id: String
    var spec: Spec
    var stateDirectory: String
    var cgroupPath: String?
    var cgroupCreated: Bool
    var cgroupAncestors: [String]
    var initPid: Int32
    var initStartTime: UInt64
    var helperPid: Int32
    var helperStartTime: UInt64
    var helperExecutable: String
    var namespaceFlags: Int32
    var poststop: [Spec.Hook]
    var stateDocument: String
    var execs: [String: ExecRecord] = [:]
    /// Where stdout and stderr go instead of the FIFOs (`CreateOption.logFile`); absent in
    /// records of earlier releases, which is the same as none.
    var logPath: String?

    struct ExecRecord: Codable, Sendable {
        var pid: Int32
        var startTime: UInt64
        var helperPid: Int32
        var helperStartTime: UInt64
        var terminal: Bool
    }

    static func path(in stateDirectory: String) -> String { stateDirectory + "/record.json" }

    func write() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(self)
        let path = Self.path(in: stateDirectory)
        // Per process: two daemons attached to one container never share a temporary file.
        let temporary = path + ".tmp.\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600]),
              rename(temporary, path) == 0 else {
            unlink(temporary)
            throw ContainerError.systemCallFailed(operation: "write \(path)", errno: .init(rawValue: errno))
        }
    }

    /// Changes the exec table on disk: read, change, write, under a lock on the state
    /// directory, so daemons attached to the same container (`lcd exec` while `lcd kill`
    /// runs) do not undo each other's changes. Returns the table as written.
    static func updateExecs(stateDirectory: String, _ change: (inout [String: ExecRecord]) -> Void) throws -> [String: ExecRecord] {
        let directory = Glibc.open(stateDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw ContainerError.systemCallFailed(operation: "open \(stateDirectory)", errno: .init(rawValue: errno)) }
        defer { Glibc.close(directory) }
        while flock(directory, LOCK_EX) != 0 && errno == EINTR {}
        guard var record = try read(stateDirectory: stateDirectory) else { throw ContainerError.notFound(containerID: (stateDirectory as NSString).lastPathComponent) }
        change(&record.execs)
        try record.write()
        return record.execs
    }

    static func read(stateDirectory: String) throws -> ContainerRecord? {
        guard let data = FileManager.default.contents(atPath: path(in: stateDirectory)) else { return nil }
        let record = try JSONDecoder().decode(ContainerRecord.self, from: data)
        guard record.format <= currentFormat else {
            throw ContainerError.unsupported(feature: "restore of \(record.id)", reason: "its record has format \(record.format); this library reads up to \(currentFormat)")
        }
        return record
    }
}

/// A process's start time (clock ticks since boot, field 22 of /proc/<pid>/stat), nil if it is gone.
func processStartTime(_ pid: Int32) -> UInt64? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 19, let start = UInt64(fields[19]) else { return nil }
    return fields[0] == "Z" ? nil : start
}
