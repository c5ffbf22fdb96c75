import Logging

/// A setting for a client, or for one `create`/`restore` call overriding the client's.
///
/// Go's libcontainerd split these between `RemoteOption` (for containerd) and `CreateOption`;
/// with no containerd in between, one set serves both.
public enum CreateOption: Sendable {
    /// Where per-container state (FIFOs, records, logs) lives. Default `/run/libcontainerd`.
    case stateDirectory(String)
    /// The cgroup under which containers without `linux.cgroupsPath` get `<parent>/<id>`.
    /// Default `libcontainerd`.
    case cgroupParent(String)
    /// Whether `restore` takes over a running container (`true`, the default) or stops it.
    case liveRestore(Bool)
    /// The `lcd-shim` executable to run. Default: next to the running executable, then `$PATH`.
    case helperPath(String)
    /// Where the client logs.
    case logger(Logger)
    /// How long `pause`/`resume` wait for the kernel and the backend. Default 10 s.
    case stateChangeTimeout(Duration)
    /// The container's stdout and stderr go to this file (created if needed, appended to): the
    /// container writes into a pipe and its helper copies the pipe into the file, capped and
    /// rotated (see ``logRotation(maxSize:maxFiles:)``). Output never waits for a daemon, and
    /// survives one; the container cannot reach the file itself. The `attachStdio` callback
    /// then gets stdin only. Meant for one `create`; not with a terminal.
    case logFile(String)
    /// The cap of a ``logFile(_:)``: no file grows past `maxSize` bytes; when the current one
    /// would, it becomes `<log>.1` (`.1` becomes `.2`, …) and the oldest beyond `maxFiles`
    /// files is removed. Default 20 MiB × 5 files (100 MiB in all), as Docker's `local` driver.
    case logRotation(maxSize: UInt64, maxFiles: Int)
}

/// The resolved settings: defaults, overridden by options in order.
public struct CreateOptions: Sendable {
    public var stateDirectory = "/run/libcontainerd"
    public var cgroupParent = "libcontainerd"
    public var liveRestore = true
    public var helperPath: String?
    public var logger = Logger(label: "libcontainerd")
    public var stateChangeTimeout: Duration = .seconds(10)
    public var logFile: String?
    public var logMaxSize: UInt64 = 20 << 20
    public var logMaxFiles = 5

    public init(_ options: [CreateOption] = []) {
        apply(options)
    }

    /// Settings with `options` applied on top of these.
    public func applying(_ options: [CreateOption]) -> CreateOptions {
        var copy = self
        copy.apply(options)
        return copy
    }

    public mutating func apply(_ options: [CreateOption]) {
        for option in options {
            switch option {
            case .stateDirectory(let path): stateDirectory = path
            case .cgroupParent(let path): cgroupParent = path
            case .liveRestore(let on): liveRestore = on
            case .helperPath(let path): helperPath = path
            case .logger(let logger): self.logger = logger
            case .stateChangeTimeout(let timeout): stateChangeTimeout = timeout
            case .logFile(let path): logFile = path
            case .logRotation(let maxSize, let maxFiles):
                logMaxSize = maxSize
                logMaxFiles = maxFiles
            }
        }
    }
}
