import Foundation
import Glibc
import LibContainerd

/// Checkpoints with CRIU's command-line tool, driven the way runc drives it: the container's
/// rootfs as `--root`, bind mounts from outside it declared external, its stdio files declared
/// external and handed back with `--inherit-fd` on restore, cgroups kept (`soft`).
///
/// A checkpoint is a directory `<dir>/<name>` with CRIU's images, its `dump.log`, and
/// `lcd-checkpoint.json` (``CheckpointRecord``): what a restore needs besides the images.
enum CRIU {
    /// What a restore needs to know about the dumped container.
    struct CheckpointRecord: Codable {
        static let fileName = "lcd-checkpoint.json"
        var name: String
        var exit: Bool
        /// Mount points in the container whose source lies outside it → the host path to bind again.
        var externalMounts: [String: String]
        /// CRIU's key (`file[mnt_id:inode]`) of the files on fds 0, 1, 2 ("" when not external).
        var stdio: [String]
    }

    static func locate() throws -> String {
        for directory in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin"] where access(directory + "/criu", X_OK) == 0 {
            return directory + "/criu"
        }
        throw ContainerError.unsupported(feature: "checkpoint", reason: "criu is not installed (Debian package criu)")
    }

    static func directory(_ checkpointDir: String?, stateDirectory: String, containerID: String) -> String {
        checkpointDir ?? "\(stateDirectory)/.checkpoints/\(containerID)"
    }

    /// `criu dump` of the tree under `pid`. With `exit`, CRIU ends the processes after the dump.
    static func dump(pid: Int32, rootfs: String, name: String, exit: Bool, into directory: String) throws {
        let criu = try locate()
        let (mounts, mountArguments) = externalMounts(of: pid)
        var stdio: [String] = []
        var arguments = ["dump", "--tree", "\(pid)", "--images-dir", directory, "--work-dir", directory, "--log-file", "dump.log", "-v4",
                         "--root", rootfs, "--manage-cgroups=soft", "--tcp-established", "--file-locks", "--ext-unix-sk",
                         "--network-lock", "nftables"] + mountArguments
        if !exit { arguments.append("--leave-running") }
        for fd in 0...2 {
            let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")) ?? ""
            guard link.hasPrefix("/"), !link.hasPrefix("/dev/pts/") else { stdio.append(""); continue }
            let key = try fileKey(pid: pid, fd: fd)
            stdio.append(key)
            if !arguments.contains(key) { arguments += ["--external", key] }
        }
        try run(criu, arguments, log: directory + "/dump.log")
        let record = CheckpointRecord(name: name, exit: exit, externalMounts: mounts, stdio: stdio)
        try JSONEncoder().encode(record).write(to: URL(fileURLWithPath: directory + "/" + CheckpointRecord.fileName))
    }

    /// The `criu restore` command line the helper runs, the new stdio on fds 10-12.
    static func restoreCommand(checkpoint directory: String, rootfs: String, cgroup relativePath: String?, stateDirectory: String) throws -> [String] {
        let criu = try locate()
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + CheckpointRecord.fileName))
        let record = try JSONDecoder().decode(CheckpointRecord.self, from: data)
        var command = [criu, "restore", "--images-dir", directory, "--work-dir", stateDirectory, "--log-file", "criu-restore.log", "-v4",
                       "--root", rootfs, "--restore-detached", "--pidfile", stateDirectory + "/criu-restore.pid",
                       "--manage-cgroups=soft", "--tcp-established", "--file-locks", "--ext-unix-sk"]
        if let relativePath { command += ["--cgroup-root", relativePath] }
        for (mountPoint, source) in record.externalMounts.sorted(by: { $0.key < $1.key }) {
            command += ["--external", "mnt[\(mountPoint)]:\(source)"]
        }
        var inherited: Set<String> = []
        for (fd, key) in record.stdio.enumerated() where !key.isEmpty && inherited.insert(key).inserted {
            command += ["--inherit-fd", "fd[\(10 + fd)]:\(key)"]
        }
        return command
    }

    /// Bind mounts whose source is outside the container (a host device, /dev/null over a masked
    /// path, a volume): those whose file system has no mount of its own root in the container.
    /// Returns mount point → host path, and the `--external mnt[…]` arguments for the dump.
    static func externalMounts(of pid: Int32) -> ([String: String], [String]) {
        let entries = mountinfo("/proc/\(pid)/mountinfo")
        let wholeFileSystems = Set(entries.filter { $0.root == "/" }.map(\.device))
        let host = mountinfo("/proc/self/mountinfo")
        var mounts: [String: String] = [:]
        for entry in entries where entry.root != "/" && entry.mountPoint != "/" && !wholeFileSystems.contains(entry.device) {
            // The same file system on the host, mounted from its root: source = mount point + root.
            if let hostMount = host.first(where: { $0.device == entry.device && $0.root == "/" }) {
                mounts[entry.mountPoint] = (hostMount.mountPoint == "/" ? "" : hostMount.mountPoint) + entry.root
            }
        }
        return (mounts, mounts.keys.sorted().flatMap { ["--external", "mnt[\($0)]:\($0)"] })
    }

    private struct MountEntry { var device: String; var root: String; var mountPoint: String }

    private static func mountinfo(_ path: String) -> [MountEntry] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            return MountEntry(device: String(fields[2]), root: unescape(fields[3]), mountPoint: unescape(fields[4]))
        }
    }

    private static func unescape(_ field: Substring) -> String {
        field.replacingOccurrences(of: "\\040", with: " ").replacingOccurrences(of: "\\011", with: "\t").replacingOccurrences(of: "\\134", with: "\\")
    }

    /// CRIU's name for an open file: `file[<mnt_id>:<inode>]` in hex.
    private static func fileKey(pid: Int32, fd: Int) throws -> String {
        let info = (try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8)) ?? ""
        var status = stat()
        guard let mountID = info.split(separator: "\n").first(where: { $0.hasPrefix("mnt_id:") }).flatMap({ Int($0.dropFirst(7).trimmingCharacters(in: .whitespaces)) }),
              stat("/proc/\(pid)/fd/\(fd)", &status) == 0 else {
            throw ContainerError.systemCallFailed(operation: "inspect fd \(fd) of \(pid) for criu", errno: .init(rawValue: errno))
        }
        return "file[\(String(mountID, radix: 16)):\(String(status.st_ino, radix: 16))]"
    }

    /// Runs criu to the end; a failure names the last error in its log.
    private static func run(_ criu: String, _ arguments: [String], log: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: criu)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
            let reason = lines.last { $0.contains("Error") }.map(String.init) ?? "no error in its log"
            throw ContainerError.unsupported(feature: "checkpoint", reason: "criu \(arguments[0]) failed with status \(process.terminationStatus): \(reason) (log: \(log))")
        }
    }
}
