import CLinuxSupport
import ContainerInit
import Foundation
import Glibc
import LibContainerd
import Synchronization

/// One `lcd-shim` on its way to running a container process, seen from the daemon.
/// See `ContainerInit.Supervisor` for the other side of the protocol.
final class Helper {
    private var toHelper: Int32
    private var fromHelper: Int32
    private var frames = FrameReader()
    /// The detached helper's pid, once it said `ready`.
    private(set) var pid: pid_t = 0

    /// Starts the helper with `plan`; returns once it is detached with the FIFOs open.
    init(executable: String, plan: Plan, timeout: Duration = .seconds(10)) throws {
        var toPipe: [Int32] = [0, 0], fromPipe: [Int32] = [0, 0]
        guard lcd_pipe_cloexec(&toPipe) == 0 else { throw ContainerError.systemCallFailed(operation: "pipe", errno: .init(rawValue: errno)) }
        guard lcd_pipe_cloexec(&fromPipe) == 0 else {
            close(toPipe[0]); close(toPipe[1])
            throw ContainerError.systemCallFailed(operation: "pipe", errno: .init(rawValue: errno))
        }
        (toHelper, fromHelper) = (toPipe[1], fromPipe[0])
        var first: pid_t = 0
        let spawnError = Self.spawn(executable, stdin: toPipe[0], stdout: fromPipe[1], pid: &first)
        close(toPipe[0]); close(fromPipe[1])
        guard spawnError == 0 else {
            close(toHelper); close(fromHelper)
            throw ContainerError.systemCallFailed(operation: "spawn \(executable)", errno: .init(rawValue: spawnError))
        }
        var status: Int32 = 0
        defer { _ = waitpid(first, &status, 0) }  // it exits at once, leaving the detached helper
        guard write(DaemonMessage.plan(plan).framed()) else {
            abandon()
            throw ContainerError.systemCallFailed(operation: "send plan to \(executable)", errno: .init(rawValue: errno))
        }
        let message = try readMessage(timeout: timeout)
        guard case .ready(let pid)? = message else {
            abandon()
            throw Self.failure(message, executable: executable)
        }
        self.pid = pid
    }

    deinit { closePipes() }

    /// Lets the container process run; returns its host pid and the helper's warnings (failed
    /// poststart hooks).
    func start(timeout: Duration = .seconds(300)) throws -> (pid: pid_t, warnings: [String]) {
        guard write(DaemonMessage.start.framed()) else { throw ContainerError.systemCallFailed(operation: "start helper", errno: .init(rawValue: errno)) }
        var warnings: [String] = []
        while true {
            let message = try readMessage(timeout: timeout)
            switch message {
            case .warning(let text)?: warnings.append(text)
            case .started(let pid)?: return (pid, warnings)
            default: throw Self.failure(message, executable: "lcd-shim")
            }
        }
    }

    /// Tells the helper the daemon watches the process; it may reap it from now on.
    func acknowledge() {
        _ = write(DaemonMessage.acknowledge.framed())
        closePipes()
    }

    /// Closes the pipes: a helper that has not started the process gives up and exits. Waits
    /// (up to 2 s) until it has, so a failed create returns with nothing of it left running.
    func abandon() {
        closePipes()
        guard pid > 0 else { return }
        let pidfd = lcd_pidfd_open(pid, 0)
        guard pidfd >= 0 else { return }
        var exited = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        while poll(&exited, 1, 2000) < 0 && errno == EINTR {}
        close(pidfd)
    }

    private func closePipes() {
        if toHelper >= 0 { close(toHelper); toHelper = -1 }
        if fromHelper >= 0 { close(fromHelper); fromHelper = -1 }
    }

    private func write(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(toHelper, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// The helper's next message; nil at EOF (it exited) or if it sent something malformed.
    private func readMessage(timeout: Duration) throws -> HelperMessage? {
        let deadline = ContinuousClock.now + timeout
        while true {
            do {
                if let message = try frames.next(HelperMessage.self) { return message }
            } catch {
                return nil
            }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw ContainerError.timeout(operation: "waiting for lcd-shim", seconds: Double(timeout.components.seconds)) }
            var poller = pollfd(fd: fromHelper, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { read(fromHelper, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            frames.append(chunk[..<n])
        }
    }

    /// The error a helper's message (nil: none, it exited) stands for, when it is not the one expected.
    static func failure(_ message: HelperMessage?, executable: String) -> ContainerError {
        guard case .failed(let failure)? = message else {
            let said = message.map { "said \($0)" } ?? "said nothing"
            return .systemCallFailed(operation: "\(executable) exited without starting the container (\(said))", errno: .init(rawValue: EIO))
        }
        if failure.kind == "spec" { return .invalidSpec(path: failure.location, reason: failure.message) }
        return .systemCallFailed(operation: failure.message, errno: .init(rawValue: failure.errno))
    }

    /// posix_spawn with only the two pipes (as fds 3 and 4) and /dev/null for stdio; a clean
    /// signal mask and default dispositions, whatever the daemon set for itself.
    private static func spawn(_ executable: String, stdin toHelper: Int32, stdout fromHelper: Int32, pid: inout pid_t) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, toHelper, 3)
        posix_spawn_file_actions_adddup2(&actions, fromHelper, 4)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        // Named for what it is, not for the sealed copy's /proc/self/fd path.
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("lcd-shim"), strdup("init"), nil]
        let envp: [UnsafeMutablePointer<CChar>?] = [nil]
        defer { for arg in argv { free(arg) } }
        return posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
    }

    /// A sealed in-memory copy of a helper executable, to run instead of the file: a container
    /// that reaches a helper's /proc/<pid>/exe finds a memfd no one can write (CVE-2019-5736).
    /// Made once per executable path and kept for the life of the process.
    static func sealedCopy(of executable: String) throws -> String {
        try sealedCopies.withLock { copies in
            if let fd = copies[executable] { return "/proc/self/fd/\(fd)" }
            let fd = lcd_sealed_copy(executable, "lcd-shim")
            guard fd >= 0 else { throw ContainerError.systemCallFailed(operation: "copy \(executable) into a sealed memfd", errno: .init(rawValue: errno)) }
            copies[executable] = fd
            return "/proc/self/fd/\(fd)"
        }
    }
    private static let sealedCopies = Mutex<[String: Int32]>([:])

    /// The helper executable: the option, else `lcd-shim` next to the running executable, else on PATH.
    static func locate(_ configured: String?) throws -> String {
        if let configured {
            guard access(configured, X_OK) == 0 else {
                throw ContainerError.invalidArgument(name: "helperPath", reason: "\(configured) is not an executable file")
            }
            return configured
        }
        var candidates: [String] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append((exe as NSString).deletingLastPathComponent + "/lcd-shim")
        }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append("\(directory)/lcd-shim")
        }
        guard let found = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw ContainerError.unsupported(feature: "containers", reason: "lcd-shim not found next to the executable or on PATH; pass CreateOption.helperPath")
        }
        return found
    }
}
