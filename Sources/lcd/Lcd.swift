import ArgumentParser
import Dispatch
import Foundation
import Glibc
import LibContainerd
import LinuxRuntime
import OCIRuntimeSpec
import SystemPackage

/// `lcd`: every invocation is a short-lived daemon over one state directory. `run` creates;
/// the other commands `restore` the container they name, act, and let it go again.
@main
struct Lcd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lcd",
        abstract: "Run OCI containers with LibContainerd for Swift.",
        subcommands: [Run.self, List.self, Exec.self, Kill.self, Pause.self, Resume.self, StatsCommand.self, Top.self,
                      Update.self, Logs.self, Remove.self])

    /// Errors, usage errors included, are one line on stderr (`lcd: …`) with a non-zero status.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand { try await command.run() } else { try command.run() }
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success || message.isEmpty { exit(withError: error) }  // help; a container's status
            var line = message.split(separator: "\n").first.map(String.init) ?? ""
            if line.hasPrefix("Error: ") { line.removeFirst(7) }
            FileHandle.standardError.write(Data("lcd: \(line)\n".utf8))
            Foundation.exit(code.rawValue)
        }
    }
}

/// Options every command takes.
struct Global: ParsableArguments {
    @Option(help: "State directory.") var state = "/run/libcontainerd"
    @Flag(help: "Print JSON instead of a table.") var json = false

    func session(printEvents: Bool = false) throws -> Session { try Session(state: state, printEvents: printEvents) }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a container: in the foreground (exit with its status), or detached with -d.",
        discussion: """
            Without --rootfs the container gets a fresh tmpfs root with the host's /usr, /bin, /sbin and /lib* bound read-only (submounts too) and a generated /etc (never the host's).
            A detached container's output goes to a log file (see lcd logs); it stays listed after it exits until lcd rm.
            A foreground container is forgotten once lcd run returns its status (ps lists it while it runs).
            """)

    @OptionGroup var global: Global
    @Option(help: "Root file system directory.") var rootfs: String?
    @Option(help: "Container id (default: lcd-<random>).") var name: String?
    @Option(help: "Hostname inside the container (default: the id).") var hostname: String?
    @Option(name: .customLong("env"), help: "Environment variable KEY=VALUE; repeatable.") var env: [String] = []
    @Flag(name: .shortAndLong, help: "Detach: print the id and return; output goes to the log.") var detach = false
    @Flag(help: "Share the host's network namespace instead of getting an empty one.") var hostNetwork = false
    @Flag(help: "Print the container's events on stderr.") var events = false
    @Option(help: "Most processes the container may have (0: no limit; default 4096 where the pids controller exists).") var pidsLimit: Int64?
    @Argument(parsing: .captureForPassthrough, help: "The command to run, after --.") var command: [String] = []

    func run() async throws {
        let args = command.first == "--" ? Array(command.dropFirst()) : command
        guard !args.isEmpty else { throw Failure("give the command to run after --, e.g. lcd run -- sh -c 'hostname; ps'") }
        let id = name ?? "lcd-" + UUID().uuidString.prefix(8).lowercased()
        for variable in env where !variable.contains("=") { throw Failure("--env \(variable): expected KEY=VALUE") }
        let session = try global.session(printEvents: events)
        if let note = session.notes.read(id) { throw Failure("container \(id) already exists (\(note.statusText)); lcd rm it first") }
        // A detached container keeps a note (for ps, logs and rm) and its zero-setup root until
        // lcd rm; a foreground one is forgotten when lcd run returns.
        let emptyRoot = detach ? session.notes.rootPath(id) : NSTemporaryDirectory() + "lcd-root-" + id
        if detach { try session.notes.write(Note(id: id, command: args, created: Date(), log: session.notes.logPath(id))) }
        let etc = detach ? session.notes.etcPath(id) : NSTemporaryDirectory() + "lcd-etc-" + id
        if rootfs == nil {
            try FileManager.default.createDirectory(atPath: emptyRoot, withIntermediateDirectories: true)
            try ZeroSetupEtc.write(to: etc, hostname: hostname ?? id)
        }
        defer {
            if !detach && rootfs == nil {
                rmdir(emptyRoot)
                try? FileManager.default.removeItem(atPath: etc)
            }
        }
        var spec = Spec.linuxContainer(
            rootfs: rootfs, emptyRoot: emptyRoot, etc: rootfs == nil ? etc : nil, args: args, env: env, hostname: hostname ?? id)
        if hostNetwork { spec.linux?.namespaces?.removeAll { $0.type == .network } }
        if let pidsLimit {
            guard pidsLimit >= 0 else { throw Failure("--pids-limit \(pidsLimit): expected 0 (no limit) or a positive number") }
            spec.linux?.resources?.pids = pidsLimit > 0 ? .init(limit: pidsLimit) : nil
        }

        let output = OutputCopies()
        do {
            if detach {
                try await session.client.create(containerID: id, spec: spec, options: [.logFile(session.notes.logPath(id))]) { io in io.close() }
            } else {
                try await session.client.create(containerID: id, spec: spec) { io in output.attach(io) }
            }
        } catch {
            if detach { session.notes.remove(id) }
            FileHandle.standardError.write(Data("lcd: \(error)\n".utf8))
            throw ExitCode(125)
        }
        if detach {
            print(id)
            await session.finish()
            return
        }
        let forwarding = forwardSignals { signal in try? await session.client.signal(containerID: id, signal: signal) }
        let status = await session.backend.waitForExit(id)
        forwarding.forEach { $0.cancel() }
        output.waitUntilDone()
        await session.finish()
        throw ExitCode(Int32(status))
    }
}

/// Forwards the signals a terminal sends to `send` instead of dying of them.
func forwardSignals(_ send: @escaping @Sendable (Int32) async -> Void) -> [DispatchSourceSignal] {
    [SIGINT, SIGTERM, SIGHUP, SIGQUIT].map { signal in
        Glibc.signal(signal, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signal)
        source.setEventHandler { Task { await send(signal) } }
        source.resume()
        return source
    }
}
