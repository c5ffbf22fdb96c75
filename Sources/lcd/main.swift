import ArgumentParser
import Dispatch
import Foundation
import Glibc
import LibContainerd
import LinuxRuntime
import OCIRuntimeSpec
import Synchronization
import SystemPackage

@main
struct Lcd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lcd",
        abstract: "Run OCI containers with LibContainerd for Swift.",
        subcommands: [Run.self])
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one container in the foreground; exit with its status.",
        discussion: "Without --rootfs the container gets a fresh tmpfs root with the host's /usr, /bin, /sbin, /lib* and /etc bound read-only.")

    @Option(help: "Root file system directory.") var rootfs: String?
    @Option(help: "Container id (default: lcd-<random>).") var name: String?
    @Option(help: "Hostname inside the container (default: the id).") var hostname: String?
    @Option(name: .customLong("env"), help: "Environment variable KEY=VALUE; repeatable.") var env: [String] = []
    @Flag(help: "Print the container's events on stderr.") var events = false
    @Option(help: "State directory.") var state = "/run/libcontainerd"
    @Argument(parsing: .captureForPassthrough, help: "The command to run, after --.") var command: [String] = []

    func run() async throws {
        let args = command.first == "--" ? Array(command.dropFirst()) : command
        guard !args.isEmpty else { throw ValidationError("give the command to run after --, e.g. lcd run -- sh -c 'hostname; ps'") }
        let id = name ?? "lcd-" + UUID().uuidString.prefix(8).lowercased()
        for variable in env where !variable.contains("=") {
            throw ValidationError("--env \(variable): expected KEY=VALUE")
        }
        let emptyRoot = NSTemporaryDirectory() + "lcd-root-" + id
        if rootfs == nil { try FileManager.default.createDirectory(atPath: emptyRoot, withIntermediateDirectories: true) }
        defer { if rootfs == nil { try? FileManager.default.removeItem(atPath: emptyRoot) } }

        let backend = ForegroundBackend(printEvents: events)
        let client = try LinuxClient(backend: backend, options: [.stateDirectory(state)])
        let spec = Spec.linuxContainer(rootfs: rootfs, emptyRoot: emptyRoot, args: args, env: env, hostname: hostname ?? id)
        let output = Mutex<[Thread]>([])
        do {
            try await client.create(containerID: id, spec: spec) { io in
                output.withLock { threads in
                    threads = [copy(io.takeStdout(), to: 1), copy(io.takeStderr(), to: 2)]
                }
                if let stdin = io.takeStdin() {
                    let pump = Thread {
                        copy(from: 0, to: stdin.rawValue)
                        close(stdin.rawValue)
                        io.closeStdin()
                    }
                    pump.start()
                }
            }
        } catch let error as ContainerError {
            FileHandle.standardError.write(Data("lcd: \(error)\n".utf8))
            throw ExitCode(125)
        }
        let forwarding = [SIGINT, SIGTERM, SIGHUP, SIGQUIT].map { signal -> DispatchSourceSignal in
            Glibc.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal)
            source.setEventHandler { Task { try? await client.signal(containerID: id, signal: signal) } }
            source.resume()
            return source
        }
        let status = await backend.exitStatus()
        forwarding.forEach { $0.cancel() }
        for thread in output.withLock({ $0 }) { while !thread.isFinished { usleep(1000) } }
        throw ExitCode(Int32(status))
    }
}

/// Copies `fd` to `target` on a thread until EOF.
private func copy(_ fd: FileDescriptor?, to target: Int32) -> Thread {
    let thread = Thread {
        guard let fd else { return }
        copy(from: fd.rawValue, to: target)
        close(fd.rawValue)
    }
    thread.start()
    return thread
}

private func copy(from source: Int32, to target: Int32) {
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        var offset = 0
        while offset < n {
            let w = buffer[offset..<n].withUnsafeBytes { write(target, $0.baseAddress, $0.count) }
            if w < 0 && errno == EINTR { continue }
            if w <= 0 { return }
            offset += w
        }
    }
}

/// Prints events if asked, and remembers the exit.
final class ForegroundBackend: Backend {
    private let printEvents: Bool
    private let exit = Mutex<(status: UInt32?, waiter: CheckedContinuation<UInt32, Never>?)>((nil, nil))

    init(printEvents: Bool) { self.printEvents = printEvents }

    func stateChanged(containerID: String, state: StateInfo) async throws {
        if printEvents {
            var line = "event \(state.state.rawValue) container=\(containerID) pid=\(state.pid)"
            if state.state == .exit || state.state == .exitProcess { line += " exitCode=\(state.exitCode)" }
            if state.oomKilled { line += " oomKilled=true" }
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        guard state.state == .exit else { return }
        let waiter = exit.withLock { value -> CheckedContinuation<UInt32, Never>? in
            value.status = state.exitCode
            defer { value.waiter = nil }
            return value.waiter
        }
        waiter?.resume(returning: state.exitCode)
    }

    func exitStatus() async -> UInt32 {
        await withCheckedContinuation { continuation in
            let known = exit.withLock { value -> UInt32? in
                if value.status == nil { value.waiter = continuation }
                return value.status
            }
            if let known { continuation.resume(returning: known) }
        }
    }
}
