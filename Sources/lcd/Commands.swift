import ArgumentParser
import CLinuxSupport
import Dispatch
import Foundation
import Glibc
import LibContainerd
import LinuxRuntime
import SystemPackage

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "List containers: running, paused and exited.")
    @OptionGroup var global: Global

    /// One row of `ps`, as printed in JSON.
    struct Row: Encodable {
        var id: String
        var pid: Int32?
        var status: String
        var exitCode: UInt32?
        var created: Date?
        var command: [String]
        var processes: [String]
    }

    func run() async throws {
        // Looks only: records and the kernel, no restore, so it never disturbs another lcd.
        let session = try global.session()
        let recorded = session.client.containers()
        var rows: [Row] = []
        for id in Set(recorded + session.notes.ids()).sorted() {
            let note = session.notes.read(id)
            if let container = try? session.client.inspect(containerID: id) {
                var row = Row(id: id, pid: container.pid, status: "running", created: note?.created,
                              command: container.spec.process?.args ?? [], processes: container.processes)
                switch container.status {
                case .running: break
                case .paused: row.status = "paused"
                case .exited(let code): (row.status, row.exitCode, row.pid) = ("exited", code, nil)
                }
                rows.append(row)
            } else if let note {
                rows.append(Row(id: id, status: note.exitCode == nil ? "unknown" : "exited", exitCode: note.exitCode,
                                created: note.created, command: note.command, processes: []))
            }
        }
        if global.json { return try printJSON(rows) }
        printTable(["ID", "PID", "STATUS", "CREATED", "COMMAND"], rows.map { row in
            let status = row.status == "exited" ? "exited (\(row.exitCode.map(String.init) ?? "?"))" : row.status
            return [row.id, row.pid.map(String.init) ?? "-", status, row.created.map(ago) ?? "-", row.command.joined(separator: " ")]
        })
    }
}

struct Exec: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a command in a running container; exit with its status.")
    @OptionGroup var global: Global
    @Flag(name: .shortAndLong, help: "Give the command a terminal (stdin must be one).") var tty = false
    @Option(name: .customLong("env"), help: "Extra environment variable KEY=VALUE; repeatable.") var env: [String] = []
    @Argument(help: "Container id.") var id: String
    @Argument(parsing: .captureForPassthrough, help: "The command, after --.") var command: [String] = []

    func run() async throws {
        let args = command.first == "--" ? Array(command.dropFirst()) : command
        guard !args.isEmpty else { throw Failure("give the command after --, e.g. lcd exec \(id) -- ps") }
        for variable in env where !variable.contains("=") { throw Failure("--env \(variable): expected KEY=VALUE") }
        if tty && isatty(0) == 0 { throw Failure("--tty needs a terminal on stdin") }
        let session = try global.session()
        try await session.attach(id)
        let name = "exec-" + UUID().uuidString.prefix(8).lowercased()
        let containerEnv = (try? session.client.inspect(containerID: id))?.spec.process?.env ?? []
        let process = ExecProcess(args: args, terminal: tty, env: env.isEmpty ? nil : containerEnv + env)
        let output = OutputCopies()
        let terminal = tty ? RawTerminal() : nil
        defer { terminal?.restore() }
        do {
            _ = try await session.client.addProcess(containerID: id, processFriendlyName: name, process: process) { io in output.attach(io) }
        } catch {
            await session.finish()
            throw error
        }
        var sources = forwardSignals { signal in try? await session.client.signalProcess(containerID: id, processFriendlyName: name, signal: signal) }
        if let terminal {
            let resize: @Sendable () -> Void = {
                guard let (rows, columns) = terminal.size() else { return }
                Task { try? await session.client.resize(containerID: id, processFriendlyName: name, width: Int(columns), height: Int(rows)) }
            }
            resize()
            Glibc.signal(SIGWINCH, SIG_IGN)
            let winch = DispatchSource.makeSignalSource(signal: SIGWINCH)
            winch.setEventHandler(handler: resize)
            winch.resume()
            sources.append(winch)
        }
        let status = await session.backend.waitForExit(id, process: name)
        sources.forEach { $0.cancel() }
        output.waitUntilDone()
        await session.finish()
        throw ExitCode(Int32(status))
    }
}

struct Kill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send a signal to a container's init (default KILL).")
    @OptionGroup var global: Global
    @Argument(help: "Container id.") var id: String
    @Argument(help: "Signal: a name (TERM, SIGTERM) or a number.") var signal = "KILL"

    func run() async throws {
        guard let number = signalNumber(signal) else { throw Failure("unknown signal \(signal)") }
        try await withContainer(global, id) { try await $0.client.signal(containerID: id, signal: number) }
    }
}

struct Pause: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Freeze every process of a container.")
    @OptionGroup var global: Global
    @Argument(help: "Container id.") var id: String
    func run() async throws { try await withContainer(global, id) { try await $0.client.pause(containerID: id) } }
}

struct Resume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Thaw a paused container.")
    @OptionGroup var global: Global
    @Argument(help: "Container id.") var id: String
    func run() async throws { try await withContainer(global, id) { try await $0.client.resume(containerID: id) } }
}

struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "CPU, memory and pids of a container, from its cgroup.")
    @OptionGroup var global: Global
    @Argument(help: "Container id.") var id: String

    func run() async throws {
        let stats = try await withContainer(global, id) { try await $0.client.stats(containerID: id) }
        if global.json { return try printJSON(stats) }
        let cpu = stats.cpu.map { String(format: "%.3fs", Double($0.usageUsec) / 1e6) } ?? "-"
        let memory = stats.memory.map { bytes($0.usage) + " / " + ($0.limit.map(bytes) ?? "max") } ?? "-"
        let pids = stats.pids.map { "\($0.current) / " + ($0.limit.map(String.init) ?? "max") } ?? "-"
        printTable(["ID", "CPU", "MEMORY", "PIDS"], [[id, cpu, memory, pids]])
    }
}

struct Top: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The processes of a container.")
    @OptionGroup var global: Global
    @Argument(help: "Container id.") var id: String

    func run() async throws {
        let processes = try await withContainer(global, id) { try await $0.client.summary(containerID: id) }
        if global.json { return try printJSON(processes) }
        printTable(["PID", "PPID", "UID", "STATE", "COMMAND"], processes.map { ["\($0.pid)", "\($0.ppid)", "\($0.uid)", $0.state, $0.command] })
    }
}

struct Update: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Change a running container's limits.")
    @OptionGroup var global: Global
    @Option(help: "Memory limit: bytes, or with k, m, g.") var memory: String?
    @Option(help: "CPUs: a fraction of CPU time, e.g. 0.5.") var cpus: Double?
    @Option(help: "Maximum number of processes.") var pids: Int64?
    @Argument(help: "Container id.") var id: String

    func run() async throws {
        var resources = Resources()
        if let memory {
            guard let limit = byteCount(memory), limit > 0 else { throw Failure("--memory \(memory): expected bytes, e.g. 64m") }
            resources.memoryLimit = limit
        }
        if let cpus {
            guard cpus > 0 else { throw Failure("--cpus \(cpus): must be more than 0") }
            (resources.cpuPeriod, resources.cpuQuota) = (100_000, Int64(cpus * 100_000))
        }
        if let pids {
            guard pids > 0 else { throw Failure("--pids \(pids): must be more than 0") }
            resources.pidsLimit = pids
        }
        guard !resources.isEmpty else { throw Failure("nothing to update: give --memory, --cpus or --pids") }
        try await withContainer(global, id) { try await $0.client.updateResources(containerID: id, resources: resources) }
    }
}

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the output of a container started with run -d.")
    @OptionGroup var global: Global
    @Argument(help: "Container id.") var id: String

    func run() async throws {
        let notes = NoteStore(directory: global.state + "/.lcd")
        guard let note = notes.read(id) else { throw Failure("no such container: \(id)") }
        guard let log = note.log else { throw Failure("container \(id) was not started with run -d: its output went to its terminal") }
        // Oldest first: the rotated files (<log>.N … <log>.1), then the current one.
        for file in NoteStore.logFiles(log) {
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                if errno == ENOENT { continue }  // rotated away meanwhile, or nothing written yet
                throw Failure("cannot open \(file): \(String(cString: strerror(errno)))")
            }
            copy(from: fd, to: 1)
            close(fd)
        }
    }
}

struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a stopped container (with -f: kill it first).")
    @OptionGroup var global: Global
    @Flag(name: .shortAndLong, help: "Kill the container if it is running.") var force = false
    @Argument(help: "Container id.") var id: String

    func run() async throws {
        let session = try global.session()
        if let container = try? session.client.inspect(containerID: id) {
            if case .exited = container.status {
                // Exited while no daemon watched: the restore reports it and cleans up.
                _ = try? await session.attach(id)
            } else {
                guard force else { throw Failure("container \(id) is \(container.status == .paused ? "paused" : "running"); stop it first or use rm -f") }
                try await session.attach(id)
                try await session.client.signal(containerID: id, signal: SIGKILL)
                _ = await session.backend.waitForExit(id)
            }
            await session.finish()
        } else if session.notes.read(id) == nil {
            throw Failure("no such container: \(id)")
        }
        session.notes.remove(id)
        if global.json { try printJSON(["removed": id]) } else { print(id) }
    }
}

/// Attaches to `id`, runs `body`, and lets the container go whatever happened.
func withContainer<T>(_ global: Global, _ id: String, _ body: (Session) async throws -> T) async throws -> T {
    let session = try global.session()
    try await session.attach(id)
    do {
        let result = try await body(session)
        await session.finish()
        return result
    } catch {
        await session.finish()
        throw error
    }
}
