import LibContainerd
import OCIRuntimeSpec
import Synchronization

/// A small container daemon written against the LibContainerd API — the shape of Docker's
/// daemon/monitor.go in a page. It keeps a record per container, captures output, applies a
/// restart policy and stops containers with a grace period.
///
/// It is written only against `Client` and `Backend`, so its tests run it on `FakeClient`
/// (see Tests/MiniDaemonTests) and production runs it on `LinuxClient`.
public final class MiniDaemon: Backend {
    public enum RestartPolicy: Sendable, Equatable {
        case no
        case onFailure(maxRetries: Int)
        case always
    }

    public enum Status: Sendable, Equatable {
        case running(pid: Int32)
        case paused(pid: Int32)
        case exited(code: UInt32, oomKilled: Bool)
    }

    public struct Record: Sendable {
        public var spec: Spec
        public var policy: RestartPolicy
        public var status: Status
        public var restarts = 0
        public var output: [UInt8] = []
        public var execExitCodes: [String: UInt32] = [:]
        var manuallyStopped = false
    }

    private var client: (any Client)? { clientBox.withLock { $0 } }
    private let clientBox = Mutex<(any Client)?>(nil)
    private let records = Mutex<[String: Record]>([:])
    private let exitWaiters = Mutex<[String: [AsyncStream<Void>.Continuation]]>([:])

    public init() {}

    /// Connects the daemon to its client (the client needs the daemon as its backend first).
    public func use(_ client: any Client) { clientBox.withLock { $0 = client } }

    /// Starts a container and captures its output.
    public func run(_ id: String, spec: Spec, policy: RestartPolicy = .no) async throws {
        records.withLock { $0[id] = Record(spec: spec, policy: policy, status: .exited(code: 0, oomKilled: false)) }
        do {
            try await start(id, spec)
        } catch {
            _ = records.withLock { $0.removeValue(forKey: id) }
            throw error
        }
    }

    /// Runs a command in a container; its exit code lands in ``Record/execExitCodes``.
    public func exec(_ id: String, name: String, args: [String]) async throws -> Int32 {
        try await requireClient().addProcess(containerID: id, processFriendlyName: name, process: ExecProcess(args: args)) { [weak self] io in
            self?.capture(id, io)
        }
    }

    /// SIGTERM, then SIGKILL if the container has not exited after `grace`. Waits for the exit.
    public func stop(_ id: String, grace: Duration = .seconds(10)) async throws {
        let (exited, waiter) = AsyncStream<Void>.makeStream()
        records.withLock { $0[id]?.manuallyStopped = true }
        exitWaiters.withLock { $0[id, default: []].append(waiter) }
        guard case .running? = record(id)?.status else { return }
        let client = try requireClient()
        try await client.signal(containerID: id, signal: SIGTERM)
        let escalation = Task {
            try await Task.sleep(for: grace)
            try await client.signal(containerID: id, signal: SIGKILL)
        }
        for await _ in exited { break }
        escalation.cancel()
    }

    public func pause(_ id: String) async throws { try await requireClient().pause(containerID: id) }
    public func resume(_ id: String) async throws { try await requireClient().resume(containerID: id) }

    public func record(_ id: String) -> Record? { records.withLock { $0[id] } }

    // MARK: Backend

    public func stateChanged(containerID id: String, state: StateInfo) async throws {
        switch state.state {
        case .start, .restore, .resume:
            update(id) { $0.status = .running(pid: state.pid) }
        case .pause:
            update(id) { $0.status = .paused(pid: state.pid) }
        case .oom:
            break  // the exit that follows carries oomKilled
        case .exitProcess:
            update(id) { $0.execExitCodes[state.processID] = state.exitCode }
        case .exit:
            update(id) { $0.status = .exited(code: state.exitCode, oomKilled: state.oomKilled) }
            for waiter in exitWaiters.withLock({ $0.removeValue(forKey: id) ?? [] }) {
                waiter.yield()
                waiter.finish()
            }
            if let record = record(id), shouldRestart(record, exitCode: state.exitCode) {
                update(id) { $0.restarts += 1 }
                // Restart from a new task: awaiting a call for this container from inside its
                // own stateChanged would wait on the very event being handled.
                Task { try? await self.start(id, record.spec) }
            }
        }
    }

    // MARK: -

    private func shouldRestart(_ record: Record, exitCode: UInt32) -> Bool {
        if record.manuallyStopped { return false }
        switch record.policy {
        case .no: return false
        case .always: return true
        case .onFailure(let max): return exitCode != 0 && record.restarts < max
        }
    }

    private func start(_ id: String, _ spec: Spec) async throws {
        try await requireClient().create(containerID: id, spec: spec) { [weak self] io in
            self?.capture(id, io)
        }
    }

    private func capture(_ id: String, _ io: IOPipe) {
        io.closeStdin()
        for stream in [io.stdoutBytes(), io.stderrBytes()] {
            Task {
                for try await chunk in stream { self.update(id) { $0.output += chunk } }
            }
        }
    }

    private func update(_ id: String, _ change: (inout Record) -> Void) {
        records.withLock { all in
            if all[id] != nil { change(&all[id]!) }
        }
    }

    private func requireClient() throws -> any Client {
        guard let client else { throw ContainerError.invalidState(containerID: "-", state: "without a client", operation: "run") }
        return client
    }
}

#if canImport(Glibc)
import Glibc
#endif
