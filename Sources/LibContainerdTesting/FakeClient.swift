import Foundation
import LibContainerd
import OCIRuntimeSpec
import Synchronization
import SystemPackage

/// An in-memory ``Client`` with the real event contract, for testing code written against the API.
///
/// No container is run: each "process" is a record with real pipes for stdio (so your stdio
/// handling is exercised), and the test decides what it does — ``write(containerID:processFriendlyName:stdout:stderr:)``,
/// ``exit(containerID:code:)``, ``exitProcess(containerID:processFriendlyName:code:)``, ``oomKill(containerID:)``.
///
/// Contract kept, as in ``LinuxRuntime``'s `LinuxClient`:
/// - `start-container` is delivered before `create` returns; a backend error fails `create`
///   and leaves no container;
/// - `exit-process` of every running exec comes before the init's `exit`; the id is free for
///   a new `create` as soon as the exit is recorded;
/// - `pause`/`resume` return after the backend saw the event; a paused container holds other
///   signals until it resumes (`SIGKILL` still kills it);
/// - a fatal signal ends the process with 128 + signal; ignored-by-default signals (`SIGCHLD`,
///   `SIGWINCH`, `SIGURG`, `SIGCONT`) and signal 0 do nothing;
/// - `oom` makes the next `exit` carry `oomKilled`;
/// - unknown ids are `notFound`, duplicate ids and exec names `alreadyExists`.
public final class FakeClient: Client {
    private let dispatcher: EventDispatcher
    private let options: CreateOptions
    private let state = Mutex(World())

    private static let ignoredSignals: Set<Int32> = [0, SIGCHLD, SIGWINCH, SIGURG, SIGCONT]

    public init(backend: any Backend, options: [CreateOption] = []) {
        self.options = CreateOptions(options)
        self.dispatcher = EventDispatcher(backend: backend, logger: self.options.logger)
    }

    // MARK: - Model

    private struct World {
        var containers: [String: Container] = [:]
        var checkpoints: [String: [String: Checkpoint]] = [:]  // dir → name → checkpoint
        var nextPid: Int32 = 4000
        var stats: [String: Stats] = [:]

        /// A container the (current) daemon knows: detached ones are unknown until restored.
        func attached(_ id: String) throws -> Container {
            guard let container = containers[id], !container.detached else { throw ContainerError.notFound(containerID: id) }
            return container
        }

        mutating func allocatePid() -> Int32 {
            defer { nextPid += 1 }
            return nextPid
        }
    }

    private struct Container {
        var spec: Spec
        var initProcess: FakeProcess
        var execs: [String: FakeProcess] = [:]
        var paused = false
        var oomSeen = false
        var pendingSignals: [Int32] = []
        /// Signals the init process handles or ignores instead of dying (see ``FakeClient/ignoreSignals(_:containerID:)``).
        var handledSignals: Set<Int32> = []
        var resources = Resources()
        var detached = false
        /// Set when the container exited while detached: delivered on restore.
        var exitedWhileDetached: UInt32?
    }

    private struct FakeProcess {
        let pid: Int32
        let args: [String]
        let uid: UInt32
        let terminal: Bool
        let pipes: PipeSet
        var terminalSize: (width: Int, height: Int)?
    }

    /// Both ends of a process's three pipes. The daemon side is duplicated into each IOPipe;
    /// the originals stay here, as a shim would hold them, so that output waits in the pipe
    /// while no daemon is attached.
    private final class PipeSet: Sendable {
        let processStdin, daemonStdout, processStdout: FileDescriptor
        let daemonStderr, processStderr: FileDescriptor?
        /// Closed when the daemon closes stdin (the "close stdin" request of the original).
        private let daemonStdin: Mutex<FileDescriptor?>
        private let processEndsClosed = Mutex(false)

        init(terminal: Bool) throws {
            let (stdinRead, stdinWrite) = try FileDescriptor.pipe()
            processStdin = stdinRead
            daemonStdin = Mutex(stdinWrite)
            (daemonStdout, processStdout) = try FileDescriptor.pipe()
            if terminal {
                (daemonStderr, processStderr) = (nil, nil)
            } else {
                let (r, w) = try FileDescriptor.pipe()
                (daemonStderr, processStderr) = (r, w)
            }
        }

        /// A fresh IOPipe over duplicates of the daemon ends.
        func ioPipe(terminal: Bool) throws -> IOPipe {
            IOPipe(
                stdin: try daemonStdin.withLock { try $0?.duplicate() },
                stdout: try daemonStdout.duplicate(), stderr: try daemonStderr?.duplicate(),
                terminal: terminal, onStdinClose: { [weak self] in self?.closeStdin() })
        }

        func closeStdin() {
            let fd = daemonStdin.withLock { fd in defer { fd = nil }; return fd }
            try? fd?.close()
        }

        /// The process exits: its output ends reach EOF once every reader drained them.
        func closeProcessEnds() {
            let first = processEndsClosed.withLock { closed in defer { closed = true }; return !closed }
            guard first else { return }
            try? processStdout.close()
            try? processStderr?.close()
        }

        deinit {
            closeProcessEnds()
            closeStdin()
            for fd in [processStdin, daemonStdout, daemonStderr].compactMap({ $0 }) { try? fd.close() }
        }
    }

    // MARK: - Client

    public func serverVersion() async throws -> ServerVersion {
        ServerVersion(major: 0, minor: 1, patch: 0, revision: "fake", kernel: "fake", cgroupMode: .unified, controllers: ["cpu", "memory", "pids", "io"])
    }

    public func create(
        containerID: String, checkpoint: String?, checkpointDir: String?, spec: Spec,
        attachStdio: @escaping StdioCallback, options: [CreateOption]
    ) async throws {
        guard let process = spec.process else {
            throw ContainerError.invalidSpec(path: "$.process", reason: "required to start a container")
        }
        guard let executable = process.args?.first, !executable.isEmpty else {
            throw ContainerError.invalidSpec(path: "$.process.args", reason: "must name the program to run")
        }
        _ = executable
        if let checkpoint {
            let dir = checkpointDirectory(checkpointDir, containerID)
            guard state.withLock({ $0.checkpoints[dir]?[checkpoint] }) != nil else {
                throw ContainerError.invalidArgument(name: "checkpoint", reason: "no checkpoint \(checkpoint) in \(dir)")
            }
        }
        let terminal = process.terminal ?? false
        let pipes = try PipeSet(terminal: terminal)
        let pid = try state.withLock { world -> Int32 in
            guard world.containers[containerID] == nil else { throw ContainerError.alreadyExists(containerID: containerID) }
            let pid = world.allocatePid()
            world.containers[containerID] = Container(
                spec: spec,
                initProcess: FakeProcess(pid: pid, args: process.args ?? [], uid: process.user.uid, terminal: terminal, pipes: pipes))
            return pid
        }
        do {
            try await attachStdio(pipes.ioPipe(terminal: terminal))
            try await dispatcher.deliver(containerID, StateInfo(state: .start, pid: pid))
        } catch {
            _ = state.withLock { $0.containers.removeValue(forKey: containerID) }
            throw error
        }
    }

    public func signal(containerID: String, signal: Int32) async throws {
        try signalProcess(containerID, initFriendlyName, signal)
    }

    public func signalProcess(containerID: String, processFriendlyName: String, signal: Int32) async throws {
        try signalProcess(containerID, processFriendlyName, signal)
    }

    private func signalProcess(_ id: String, _ name: String, _ signal: Int32) throws {
        let deliverNow = try state.withLock { world -> Bool in
            let container = try world.attached(id)
            guard name == initFriendlyName || container.execs[name] != nil else {
                throw ContainerError.processNotFound(containerID: id, processFriendlyName: name)
            }
            if Self.ignoredSignals.contains(signal) { return false }
            if name == initFriendlyName && container.handledSignals.contains(signal) && signal != SIGKILL { return false }
            if container.paused && signal != SIGKILL {
                world.containers[id]!.pendingSignals.append(signal)
                return false
            }
            return true
        }
        guard deliverNow else { return }
        let code = exitStatus(forSignal: signal)
        if name == initFriendlyName { finishContainer(id, code: code) } else { finishExec(id, name, code: code) }
    }

    public func addProcess(
        containerID: String, processFriendlyName: String, process: ExecProcess,
        attachStdio: @escaping StdioCallback
    ) async throws -> Int32 {
        guard let executable = process.args.first, !executable.isEmpty else {
            throw ContainerError.invalidArgument(name: "process.args", reason: "must name the program to run")
        }
        let pipes = try PipeSet(terminal: process.terminal)
        let pid = try state.withLock { world -> Int32 in
            let container = try world.attached(containerID)
            if container.paused {
                throw ContainerError.invalidState(containerID: containerID, state: "paused", operation: "exec")
            }
            guard processFriendlyName != initFriendlyName, container.execs[processFriendlyName] == nil else {
                throw ContainerError.alreadyExists(containerID: containerID, processFriendlyName: processFriendlyName)
            }
            let pid = world.allocatePid()
            let uid = process.user?.uid ?? container.spec.process?.user.uid ?? 0
            world.containers[containerID]!.execs[processFriendlyName] = FakeProcess(
                pid: pid, args: process.args, uid: uid, terminal: process.terminal, pipes: pipes)
            return pid
        }
        // As in the original, stdio is attached after the process started; an attach error is
        // returned but the process keeps running.
        try await attachStdio(pipes.ioPipe(terminal: process.terminal))
        return pid
    }

    public func resize(containerID: String, processFriendlyName: String, width: Int, height: Int) async throws {
        guard width > 0, height > 0, width <= Int(UInt16.max), height <= Int(UInt16.max) else {
            throw ContainerError.invalidArgument(name: "terminal size \(width)x\(height)", reason: "must be 1...65535 in each dimension")
        }
        try state.withLock { world in
            var container = try world.attached(containerID)
            func resized(_ process: FakeProcess) throws -> FakeProcess {
                guard process.terminal else {
                    throw ContainerError.invalidState(containerID: containerID, state: "without a terminal", operation: "resize \(processFriendlyName)")
                }
                var copy = process
                copy.terminalSize = (width, height)
                return copy
            }
            if processFriendlyName == initFriendlyName {
                container.initProcess = try resized(container.initProcess)
            } else if let exec = container.execs[processFriendlyName] {
                container.execs[processFriendlyName] = try resized(exec)
            } else {
                throw ContainerError.processNotFound(containerID: containerID, processFriendlyName: processFriendlyName)
            }
            world.containers[containerID] = container
        }
    }

    public func pause(containerID: String) async throws {
        let pid = try setPaused(containerID, true)
        try await dispatcher.deliver(containerID, StateInfo(state: .pause, pid: pid), timeout: options.stateChangeTimeout)
    }

    public func resume(containerID: String) async throws {
        let pid = try setPaused(containerID, false)
        try await dispatcher.deliver(containerID, StateInfo(state: .resume, pid: pid), timeout: options.stateChangeTimeout)
        let pending = state.withLock { world -> [Int32] in
            defer { world.containers[containerID]?.pendingSignals = [] }
            return world.containers[containerID]?.pendingSignals ?? []
        }
        for signal in pending where state.withLock({ $0.containers[containerID] != nil }) {
            try signalProcess(containerID, initFriendlyName, signal)
        }
    }

    private func setPaused(_ id: String, _ paused: Bool) throws -> Int32 {
        try state.withLock { world in
            let container = try world.attached(id)
            guard container.paused != paused else {
                throw ContainerError.invalidState(containerID: id, state: paused ? "paused" : "running", operation: paused ? "pause" : "resume")
            }
            world.containers[id]!.paused = paused
            return container.initProcess.pid
        }
    }

    public func restore(containerID: String, attachStdio: @escaping StdioCallback, options: [CreateOption]) async throws {
        let settings = self.options.applying(options)
        let found = try state.withLock { world -> (Container, Bool) in
            guard let container = world.containers[containerID], container.detached else {
                throw ContainerError.notFound(containerID: containerID)
            }
            world.containers[containerID]!.detached = false
            return (container, container.exitedWhileDetached == nil)
        }
        let (container, running) = found
        guard running else {
            // It exited while the daemon was away: report the recorded status, then forget it.
            _ = state.withLock { $0.containers.removeValue(forKey: containerID) }
            try await dispatcher.deliver(containerID, StateInfo(
                state: .exit, pid: container.initProcess.pid,
                exitCode: container.exitedWhileDetached ?? 0, oomKilled: container.oomSeen))
            return
        }
        try await attachStdio(container.initProcess.pipes.ioPipe(terminal: container.initProcess.terminal))
        guard settings.liveRestore else {
            // Live restore off: stop it as the original did (it ends on SIGTERM here).
            if container.paused { try await resume(containerID: containerID) }
            try signalProcess(containerID, initFriendlyName, SIGTERM)
            return
        }
        try await dispatcher.deliver(containerID, StateInfo(state: .restore, pid: container.initProcess.pid))
        if container.paused {
            try await dispatcher.deliver(containerID, StateInfo(state: .pause, pid: container.initProcess.pid))
        }
    }

    public func stats(containerID: String) async throws -> Stats {
        try state.withLock { world in
            let container = try world.attached(containerID)
            return world.stats[containerID] ?? Stats(
                cpu: Stats.CPU(usageUsec: 0, userUsec: 0, systemUsec: 0),
                memory: Stats.Memory(usage: 0),
                pids: Stats.Pids(current: UInt64(1 + container.execs.count)))
        }
    }

    public func pidsForContainer(containerID: String) async throws -> [Int32] {
        try state.withLock { world in
            let container = try world.attached(containerID)
            return [container.initProcess.pid] + container.execs.values.map(\.pid).sorted()
        }
    }

    public func summary(containerID: String) async throws -> [Summary] {
        try state.withLock { world in
            let container = try world.attached(containerID)
            let status = container.paused ? "D" : "S"
            let main = container.initProcess
            return [Summary(pid: main.pid, ppid: 1, uid: main.uid, state: status, command: main.args.joined(separator: " "))]
                + container.execs.values.sorted { $0.pid < $1.pid }.map {
                    Summary(pid: $0.pid, ppid: 0, uid: $0.uid, state: status, command: $0.args.joined(separator: " "))
                }
        }
    }

    public func updateResources(containerID: String, resources: Resources) async throws {
        if resources.kernelMemoryLimit != nil || resources.kernelTCPMemoryLimit != nil {
            throw ContainerError.invalidArgument(name: "kernelMemoryLimit", reason: "cgroup v2 has no kernel memory limit")
        }
        try state.withLock { world in
            _ = try world.attached(containerID)
            world.containers[containerID]!.resources = resources
        }
    }

    public func createCheckpoint(containerID: String, checkpointID: String, checkpointDir: String?, exit: Bool) async throws {
        try Checkpoint.validate(name: checkpointID)
        let dir = checkpointDirectory(checkpointDir, containerID)
        try state.withLock { world in
            _ = try world.attached(containerID)
            guard world.checkpoints[dir]?[checkpointID] == nil else {
                throw ContainerError.alreadyExists(containerID: containerID, processFriendlyName: "checkpoint \(checkpointID)")
            }
            world.checkpoints[dir, default: [:]][checkpointID] = Checkpoint(name: checkpointID, exit: exit)
        }
        if exit { finishContainer(containerID, code: exitStatus(forSignal: SIGKILL)) }
    }

    public func deleteCheckpoint(containerID: String, checkpointID: String, checkpointDir: String?) async throws {
        let dir = checkpointDirectory(checkpointDir, containerID)
        try state.withLock { world in
            guard world.checkpoints[dir]?.removeValue(forKey: checkpointID) != nil else {
                throw ContainerError.invalidArgument(name: "checkpoint", reason: "no checkpoint \(checkpointID) in \(dir)")
            }
        }
    }

    public func listCheckpoints(containerID: String, checkpointDir: String?) async throws -> Checkpoints {
        let dir = checkpointDirectory(checkpointDir, containerID)
        return state.withLock { world in
            (world.checkpoints[dir] ?? [:]).values.sorted { $0.name < $1.name }
        }
    }

    private func checkpointDirectory(_ dir: String?, _ id: String) -> String {
        dir ?? "\(options.stateDirectory)/.checkpoints/\(id)"
    }

    // MARK: - Scripting what the "processes" do

    /// Writes to the stdout and/or stderr of a process, as the process would.
    public func write(containerID: String, processFriendlyName: String = initFriendlyName, stdout: [UInt8] = [], stderr: [UInt8] = []) throws {
        let pipes = try process(containerID, processFriendlyName).pipes
        if !stdout.isEmpty { _ = try pipes.processStdout.writeAll(stdout) }
        if !stderr.isEmpty {
            guard let fd = pipes.processStderr else {
                throw ContainerError.invalidState(containerID: containerID, state: "using a terminal", operation: "write to stderr")
            }
            _ = try fd.writeAll(stderr)
        }
    }

    /// Everything the daemon wrote to a process's stdin, up to EOF (waits for the EOF).
    public func readStdin(containerID: String, processFriendlyName: String = initFriendlyName) async throws -> [UInt8] {
        let fd = try process(containerID, processFriendlyName).pipes.processStdin.duplicate()
        return try await IOPipe(stdin: nil, stdout: fd, stderr: nil).stdoutBytes().collect()
    }

    /// The init process exits with `code`: every exec exits first (killed with the pid
    /// namespace, 137), then `exit` is delivered. Returns after the backend saw the exit.
    public func exit(containerID: String, code: UInt32) async throws {
        _ = try process(containerID, initFriendlyName)
        try await finishContainer(containerID, code: code)?.wait()
    }

    /// An exec process exits with `code`. Returns after the backend saw `exit-process`.
    public func exitProcess(containerID: String, processFriendlyName: String, code: UInt32) async throws {
        guard processFriendlyName != initFriendlyName else { return try await exit(containerID: containerID, code: code) }
        _ = try process(containerID, processFriendlyName)
        try await finishExec(containerID, processFriendlyName, code: code)?.wait()
    }

    /// The kernel's OOM killer acts in the container: `oom` is delivered, and the next exit
    /// carries `oomKilled`. Returns after the backend saw `oom`.
    public func oom(containerID: String) async throws {
        let pid = try state.withLock { world -> Int32 in
            guard world.containers[containerID] != nil else { throw ContainerError.notFound(containerID: containerID) }
            world.containers[containerID]!.oomSeen = true
            return world.containers[containerID]!.initProcess.pid
        }
        try await dispatcher.deliver(containerID, StateInfo(state: .oom, pid: pid))
    }

    /// `oom`, then the init is killed: `exit` with code 137 and `oomKilled`.
    public func oomKill(containerID: String) async throws {
        try await oom(containerID: containerID)
        try await exit(containerID: containerID, code: exitStatus(forSignal: SIGKILL))
    }

    /// Makes the init process survive these signals (as a program that traps `SIGTERM` would),
    /// to test stop timeouts. `SIGKILL` always kills.
    public func ignoreSignals(_ signals: Set<Int32>, containerID: String) throws {
        try state.withLock { world in
            guard world.containers[containerID] != nil else { throw ContainerError.notFound(containerID: containerID) }
            world.containers[containerID]!.handledSignals = signals
        }
    }

    /// Sets what ``stats(containerID:)`` returns for a container.
    public func setStats(_ stats: Stats, for containerID: String) {
        state.withLock { $0.stats[containerID] = stats }
    }

    /// Simulates the daemon going away: containers keep running and their output waits in
    /// the pipes; exits are recorded, not delivered, until ``restore(containerID:attachStdio:options:)``.
    /// Calls other than `restore` treat detached containers as unknown, as a new daemon would.
    public func simulateDaemonRestart() {
        state.withLock { world in
            for id in world.containers.keys { world.containers[id]!.detached = true }
        }
    }

    // MARK: - Inspection

    /// Ids of the containers the client knows.
    public var containerIDs: [String] { state.withLock { $0.containers.keys.sorted() } }

    /// Whether the container is paused.
    public func isPaused(containerID: String) -> Bool { state.withLock { $0.containers[containerID]?.paused ?? false } }

    /// The resources last set with ``updateResources(containerID:resources:)``.
    public func resources(containerID: String) -> Resources? { state.withLock { $0.containers[containerID]?.resources } }

    /// The terminal size last set with ``resize(containerID:processFriendlyName:width:height:)``.
    public func terminalSize(containerID: String, processFriendlyName: String = initFriendlyName) -> (width: Int, height: Int)? {
        state.withLock { world in
            guard let container = world.containers[containerID] else { return nil }
            return processFriendlyName == initFriendlyName ? container.initProcess.terminalSize : container.execs[processFriendlyName]?.terminalSize
        }
    }

    /// Every event, after the backend handled it.
    public var events: AsyncStream<ContainerEvent> { dispatcher.events() }

    // MARK: - Exits

    private func process(_ id: String, _ name: String) throws -> FakeProcess {
        try state.withLock { world in
            guard let container = world.containers[id] else { throw ContainerError.notFound(containerID: id) }
            if name == initFriendlyName { return container.initProcess }
            guard let exec = container.execs[name] else { throw ContainerError.processNotFound(containerID: id, processFriendlyName: name) }
            return exec
        }
    }

    /// Ends the container; returns the completion of its `exit` delivery, or nil if it was not running.
    @discardableResult
    private func finishContainer(_ id: String, code: UInt32) -> Completion? {
        guard let container = state.withLock({ world -> Container? in
            guard let container = world.containers[id] else { return nil }
            if container.detached {
                if world.containers[id]!.exitedWhileDetached == nil { world.containers[id]!.exitedWhileDetached = code }
                return nil
            }
            return world.containers.removeValue(forKey: id)
        }) else { return nil }
        for (name, exec) in container.execs.sorted(by: { $0.value.pid < $1.value.pid }) {
            exec.pipes.closeProcessEnds()
            dispatcher.post(id, StateInfo(state: .exitProcess, pid: exec.pid, exitCode: exitStatus(forSignal: SIGKILL), processID: name))
        }
        container.initProcess.pipes.closeProcessEnds()
        return dispatcher.post(id, StateInfo(state: .exit, pid: container.initProcess.pid, exitCode: code, oomKilled: container.oomSeen))
    }

    @discardableResult
    private func finishExec(_ id: String, _ name: String, code: UInt32) -> Completion? {
        guard let exec = state.withLock({ $0.containers[id]?.execs.removeValue(forKey: name) }) else { return nil }
        exec.pipes.closeProcessEnds()
        return dispatcher.post(id, StateInfo(state: .exitProcess, pid: exec.pid, exitCode: code, processID: name))
    }
}
