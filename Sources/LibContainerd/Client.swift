import OCIRuntimeSpec

/// Runs and controls OCI containers on behalf of a daemon — the Swift form of libcontainerd's
/// `Client` (Docker 1.13–17.10).
///
/// Every operation names its container by the id given to ``create(containerID:checkpoint:checkpointDir:spec:attachStdio:options:)``.
/// State changes reach the ``Backend`` the client was made with, strictly ordered per container:
///
/// - `start-container` is delivered before `create` returns;
/// - `exit-process` of every exec comes before the `exit` of the init process;
/// - `pause` and `resume` are delivered before ``pause(containerID:)`` and ``resume(containerID:)`` return;
/// - `oom` comes before the `exit` it caused, and that exit has ``StateInfo/oomKilled`` set.
///
/// An unknown id is always ``ContainerError/notFound(containerID:)``.
public protocol Client: Sendable {
    /// The runtime's version and what the host offers.
    func serverVersion() async throws -> ServerVersion

    /// Creates and starts a container.
    ///
    /// `attachStdio` receives the process's stdio before the process runs, so no output is lost.
    /// The backend has seen `start-container` when this returns. With `checkpoint`, the container
    /// is restored from `checkpointDir/checkpoint` instead of started fresh.
    func create(
        containerID: String, checkpoint: String?, checkpointDir: String?, spec: Spec,
        attachStdio: @escaping StdioCallback, options: [CreateOption]
    ) async throws

    /// Sends a signal to the container's init process.
    func signal(containerID: String, signal: Int32) async throws

    /// Sends a signal to one process of the container, by its friendly name (`"init"` or an exec's).
    func signalProcess(containerID: String, processFriendlyName: String, signal: Int32) async throws

    /// Starts another process in a running container and returns its host pid.
    ///
    /// `attachStdio` runs after the process started; its output waits in the pipe meanwhile.
    func addProcess(
        containerID: String, processFriendlyName: String, process: ExecProcess,
        attachStdio: @escaping StdioCallback
    ) async throws -> Int32

    /// Changes the terminal size of a process that has one.
    func resize(containerID: String, processFriendlyName: String, width: Int, height: Int) async throws

    /// Freezes every process of the container. Returns after the backend saw `pause`.
    func pause(containerID: String) async throws

    /// Thaws a paused container. Returns after the backend saw `resume`.
    func resume(containerID: String) async throws

    /// Takes over a container that kept running while the daemon was away (live restore).
    ///
    /// Delivers `restore` (and `pause` if it is paused); a container that exited meanwhile gets
    /// its `exit` with the recorded status instead.
    func restore(containerID: String, attachStdio: @escaping StdioCallback, options: [CreateOption]) async throws

    /// Resource usage of the container.
    func stats(containerID: String) async throws -> Stats

    /// Host pids of every process in the container.
    func pidsForContainer(containerID: String) async throws -> [Int32]

    /// One row per process of the container.
    func summary(containerID: String) async throws -> [Summary]

    /// Changes the resource limits of a running container.
    func updateResources(containerID: String, resources: Resources) async throws

    /// Checkpoints the container into `checkpointDir/checkpointID` (CRIU); with `exit`, stops it.
    func createCheckpoint(containerID: String, checkpointID: String, checkpointDir: String?, exit: Bool) async throws

    /// Removes a checkpoint.
    func deleteCheckpoint(containerID: String, checkpointID: String, checkpointDir: String?) async throws

    /// The checkpoints stored for the container.
    func listCheckpoints(containerID: String, checkpointDir: String?) async throws -> Checkpoints
}

extension Client {
    /// Creates and starts a container without a checkpoint.
    public func create(
        containerID: String, spec: Spec, options: [CreateOption] = [],
        attachStdio: @escaping StdioCallback
    ) async throws {
        try await create(
            containerID: containerID, checkpoint: nil, checkpointDir: nil, spec: spec,
            attachStdio: attachStdio, options: options)
    }

    /// Takes over a running container with the client's own options.
    public func restore(containerID: String, attachStdio: @escaping StdioCallback) async throws {
        try await restore(containerID: containerID, attachStdio: attachStdio, options: [])
    }
}

/// Receives the state changes of containers — libcontainerd's `Backend`.
///
/// Calls for one container come one at a time, in order; calls for different containers may
/// run concurrently. A slow backend for one container never delays another's events.
public protocol Backend: Sendable {
    /// Called for each state change. An error from `start-container` fails the `create` that
    /// caused it; errors from other states are logged.
    func stateChanged(containerID: String, state: StateInfo) async throws
}

/// Receives a new process's stdio. Own the file descriptors you keep; see ``IOPipe``.
public typealias StdioCallback = @Sendable (IOPipe) async throws -> Void

/// The name of every container's main process.
public let initFriendlyName = "init"
