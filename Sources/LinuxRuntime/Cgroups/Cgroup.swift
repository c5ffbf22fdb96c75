import Foundation
import CLinuxSupport
import Glibc
import LibContainerd

/// Where cgroup v2 is mounted on this host and which controllers its root offers.
struct CgroupHost: Sendable {
    var mode: CgroupMode
    var root: String
    var controllers: Set<String>

    static let cgroup2Magic: Int = 0x6367_7270

    /// `/sys/fs/cgroup` if it is cgroup2 (unified), else `/sys/fs/cgroup/unified` (hybrid).
    static func detect() throws -> CgroupHost {
        for (path, mode) in [("/sys/fs/cgroup", CgroupMode.unified), ("/sys/fs/cgroup/unified", .hybrid)] {
            if lcd_filesystem_type(path) == cgroup2Magic {
                let controllers = (try? String(contentsOfFile: path + "/cgroup.controllers", encoding: .utf8)) ?? ""
                return CgroupHost(mode: mode, root: path, controllers: Set(controllers.split(whereSeparator: \.isWhitespace).map(String.init)))
            }
        }
        throw ContainerError.unsupported(feature: "cgroups", reason: "no cgroup2 file system at /sys/fs/cgroup or /sys/fs/cgroup/unified")
    }

    /// Throws `controllerUnavailable` for the first controller `files` need that the host lacks.
    func check(_ files: CgroupFiles) throws {
        for controller in files.controllers where !controllers.contains(controller) {
            throw ContainerError.controllerUnavailable(controller: controller)
        }
    }
}

/// One container's cgroup: created, limited, frozen, emptied and removed by exact path.
final class Cgroup: Sendable {
    let path: String
    /// Only a cgroup this code created is ever removed.
    let created: Bool
    /// Ancestors this code created on the way down, deepest first: removed too once empty.
    let createdAncestors: [String]

    /// A cgroup this or an earlier daemon made, taken over on restore.
    static func restored(path: String, created: Bool, createdAncestors: [String]) -> Cgroup {
        Cgroup(path: path, created: created, createdAncestors: createdAncestors)
    }

    private init(path: String, created: Bool, createdAncestors: [String]) {
        self.path = path
        self.created = created
        self.createdAncestors = createdAncestors
    }

    /// Creates `relative` under the host's root (or joins it if it exists), enables the
    /// controllers `files` need (and the accounting ones the host has) on the way down, and
    /// writes the files and attaches the device program: all before any process joins.
    static func create(host: CgroupHost, relative: String, files: CgroupFiles, devices: [DeviceRule]) throws -> Cgroup {
        try host.check(files)
        let components = relative.split(separator: "/").map(String.init)
        guard !components.isEmpty, !components.contains(".."), !components.contains(".") else {
            throw ContainerError.invalidSpec(path: "$.linux.cgroupsPath", reason: "\"\(relative)\" is not a cgroup path below the root")
        }
        // Another container's removal may take a shared parent away between our mkdirs: retry.
        var attempt = 1
        while true {
            do {
                return try createOnce(host: host, components: components, files: files, devices: devices)
            } catch ContainerError.systemCallFailed(_, let errno) where errno == .noSuchFileOrDirectory && attempt < 3 {
                attempt += 1
            }
        }
    }

    private static func createOnce(host: CgroupHost, components: [String], files: CgroupFiles, devices: [DeviceRule]) throws -> Cgroup {
        var current = host.root
        var createdAncestors: [String] = []
        let needed = files.controllers
        // Accounting every container gets where the host offers it, limits or not: stats need
        // memory.current and pids.current, and a later updateResources needs the controller on.
        let accounting = ["cpu", "memory", "pids", "io"].filter { host.controllers.contains($0) && !needed.contains($0) }
        func enableControllers(in directory: String) throws {
            if !needed.isEmpty { try write(directory + "/cgroup.subtree_control", needed.map { "+" + $0 }.joined(separator: " ")) }
            if !accounting.isEmpty { try? write(directory + "/cgroup.subtree_control", accounting.map { "+" + $0 }.joined(separator: " ")) }
        }
        // Whatever fails from here removes what this call made: the cgroup, then the
        // ancestors made on the way (gone again if nobody uses them; another container's
        // create that did is retried on ENOENT).
        var cgroup: Cgroup?
        do {
            for component in components.dropLast() {
                try enableControllers(in: current)
                current += "/" + component
                if mkdir(current, 0o755) == 0 {
                    createdAncestors.insert(current, at: 0)
                } else if errno != EEXIST {
                    throw ContainerError.systemCallFailed(operation: "mkdir \(current)", errno: .init(rawValue: errno))
                }
            }
            try enableControllers(in: current)
            let path = current + "/" + components.last!
            let created: Bool
            if mkdir(path, 0o755) == 0 {
                created = true
            } else if errno == EEXIST {
                created = false
            } else {
                throw ContainerError.systemCallFailed(operation: "mkdir \(path)", errno: .init(rawValue: errno))
            }
            let made = Cgroup(path: path, created: created, createdAncestors: createdAncestors)
            cgroup = made
            // Joining a cgroup that holds processes would put them under our limits and, at
            // the end, our kill (runc ≥ 1.2 refuses it too).
            if !created, made.isPopulated {
                throw ContainerError.invalidSpec(path: "$.linux.cgroupsPath", reason: "\(path) already has processes; a container needs a cgroup of its own")
            }
            try made.apply(files)
            try made.allowDevices(devices)
            return made
        } catch {
            cgroup?.remove()
            for ancestor in createdAncestors { rmdir(ancestor) }
            throw error
        }
    }

    func apply(_ files: CgroupFiles) throws {
        for (file, value) in files.writes { try Self.write(path + "/" + file, value) }
    }

    /// Freezes or thaws every process, waiting until `cgroup.events` says it is done.
    func freeze(_ frozen: Bool, timeout: Duration) throws {
        try Self.write(path + "/cgroup.freeze", frozen ? "1" : "0")
        try wait(for: "frozen", frozen ? "1" : "0", timeout: timeout, operation: frozen ? "pause" : "resume")
    }

    var isFrozen: Bool { event("frozen") == "1" }
    var isPopulated: Bool { event("populated") == "1" }

    /// Kills every process in the cgroup tree (cgroup.kill, or SIGKILL one by one before 5.14).
    /// Only in a cgroup this code created: one it joined may hold processes it does not own.
    func kill() {
        guard created else { return }
        if (try? Self.write(path + "/cgroup.kill", "1")) == nil {
            for pid in pids() { Glibc.kill(pid, SIGKILL) }
        }
    }

    /// Kills what is left, waits until empty, removes the directory if this code created it.
    func remove(timeout: Duration = .seconds(5)) {
        if created, isPopulated {
            kill()
            try? wait(for: "populated", "0", timeout: timeout, operation: "empty cgroup")
        }
        if created { rmdir(path) }
    }

    /// Ancestors made by this code for any container are listed in `<state>/cgroup-ancestors`;
    /// after each cleanup, those that are now empty are removed (rmdir fails on a cgroup still
    /// in use), so the last container out removes a shared parent, whoever created it. Every
    /// read-change-write of the list holds an flock on the state directory itself (no lock
    /// file to leave behind), and the list is replaced by rename, so concurrent creates and
    /// cleanups — in this daemon or another — lose no entry.
    static func rememberAncestors(_ ancestors: [String], stateDirectory: String) {
        guard !ancestors.isEmpty else { return }
        withAncestorList(stateDirectory) { known in
            for ancestor in ancestors where !known.contains(ancestor) { known.append(ancestor) }
        }
    }

    static func removeUnusedAncestors(stateDirectory: String) {
        withAncestorList(stateDirectory) { known in
            // Deepest first: a parent can only go once its children are gone.
            known = known.sorted { $0.count > $1.count }.filter { rmdir($0) != 0 && errno != ENOENT }
        }
    }

    private static func withAncestorList(_ stateDirectory: String, _ change: (inout [String]) -> Void) {
        let list = stateDirectory + "/cgroup-ancestors"
        let lock = open(stateDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard lock >= 0 else { return }
        defer { close(lock) }
        guard flock(lock, LOCK_EX) == 0 else { return }
        let before = ((try? String(contentsOfFile: list, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        var after = before
        change(&after)
        guard after != before else { return }
        if after.isEmpty {
            unlink(list)
        } else {
            let temporary = list + ".\(getpid()).tmp"
            guard (try? Data(after.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: temporary))) != nil else { return }
            rename(temporary, list)
        }
    }

    /// Host pids of every process in the cgroup and its descendants.
    func pids() -> [Int32] {
        var result: [Int32] = []
        var directories = [path]
        while let directory = directories.popLast() {
            for line in (read("cgroup.procs", in: directory) ?? "").split(separator: "\n") {
                if let pid = Int32(line) { result.append(pid) }
            }
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                var info = stat()
                let child = directory + "/" + entry
                if lstat(child, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { directories.append(child) }
            }
        }
        return result.sorted()
    }

    /// A file of the cgroup, nil if it does not exist (its controller is absent).
    func read(_ file: String, in directory: String? = nil) -> String? {
        try? String(contentsOfFile: (directory ?? path) + "/" + file, encoding: .utf8)
    }

    /// `key value` lines (cpu.stat, memory.stat, memory.events, cgroup.events) as a dictionary.
    func keyedValues(_ file: String) -> [String: UInt64]? {
        guard let text = read(file) else { return nil }
        var result: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = UInt64(parts[1]) { result[String(parts[0])] = value }
        }
        return result
    }

    private func event(_ key: String) -> String? {
        for line in (read("cgroup.events") ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == key { return String(parts[1]) }
        }
        return nil
    }

    private func wait(for key: String, _ value: String, timeout: Duration, operation: String) throws {
        let deadline = ContinuousClock.now + timeout
        var pause: Duration = .microseconds(200)
        while event(key) != value {
            guard ContinuousClock.now < deadline else {
                throw ContainerError.timeout(operation: "\(operation) (\(path): \(key) \(value))", seconds: Double(timeout.components.seconds))
            }
            usleep(UInt32(pause.components.attoseconds / 1_000_000_000_000))
            pause = min(pause * 2, .milliseconds(10))
        }
    }

    static func write(_ file: String, _ value: String) throws {
        let fd = open(file, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ContainerError.systemCallFailed(operation: "open \(file)", errno: .init(rawValue: errno)) }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw ContainerError.systemCallFailed(operation: "write \"\(value)\" to \(file)", errno: .init(rawValue: errno))
        }
    }
}
