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
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600]),
              rename(temporary, path) == 0 else {
            throw ContainerError.systemCallFailed(operation: "write \(path)", errno: .init(rawValue: errno))
        }
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
