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
    /// Filled by `read` from the `<name>-exec.json` files (see `writeExec`); `record.json`
    /// itself keeps it empty.
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

    /// Each exec has its own small record, `<name>-exec.json`, written when it starts and
    /// removed when it ends: no read-modify-write of `record.json` on the exec path, and
    /// daemons attached to the same container never undo each other's changes.
    static func execPath(_ name: String, in stateDirectory: String) -> String { "\(stateDirectory)/\(name)-exec.json" }

    static func writeExec(_ exec: ExecRecord, name: String, stateDirectory: String) throws {
        let path = execPath(name, in: stateDirectory)
        let temporary = path + ".tmp.\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: try JSONEncoder().encode(exec), attributes: [.posixPermissions: 0o600]),
              rename(temporary, path) == 0 else {
            unlink(temporary)
            throw ContainerError.systemCallFailed(operation: "write \(path)", errno: .init(rawValue: errno))
        }
    }

    static func removeExec(_ name: String, stateDirectory: String) { unlink(execPath(name, in: stateDirectory)) }

    static func read(stateDirectory: String) throws -> ContainerRecord? {
        guard let data = FileManager.default.contents(atPath: path(in: stateDirectory)) else { return nil }
        let record = try JSONDecoder().decode(ContainerRecord.self, from: data)
        guard record.format <= currentFormat else {
            throw ContainerError.unsupported(feature: "restore of \(record.id)", reason: "its record has format \(record.format); this library reads up to \(currentFormat)")
        }
        var withExecs = record
        for file in (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory)) ?? [] where file.hasSuffix("-exec.json") {
            if let data = FileManager.default.contents(atPath: stateDirectory + "/" + file), let exec = try? JSONDecoder().decode(ExecRecord.self, from: data) {
                withExecs.execs[String(file.dropLast("-exec.json".count))] = exec
            }
        }
        return withExecs
    }
}

/// A process's start time (clock ticks since boot, field 22 of /proc/<pid>/stat), nil if it is gone.
func processStartTime(_ pid: Int32) -> UInt64? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 19, let start = UInt64(fields[19]) else { return nil }
    return fields[0] == "Z" ? nil : start
}
