import CLinuxSupport
import Glibc

/// The helper's main loop: one container process, from plan to recorded exit status.
///
/// Protocol with the daemon, over the two descriptors it was spawned with (framed messages,
/// see Messages.swift):
/// - fd 3 (``DaemonMessage``): the plan, then `start` (EOF instead: give up), then
///   `acknowledge` once the daemon watches the process.
/// - fd 4 (``HelperMessage``): `ready` with the helper's pid once detached with the FIFOs open,
///   then `warning`s, then `started` with the process's pid, or `failed`.
/// Then the daemon watches the helper's pid: when it exits, `<name>-exit` holds the status.
public enum Supervisor {
    static let fromDaemon: Int32 = 3
    static let toDaemon: Int32 = 4

    public static func main() -> Never {
        // Nothing of the daemon's but our two pipes and stdio.
        _ = lcd_close_range(5, UInt32.max, 0)
        guard case .plan(let plan)? = readMessage(DaemonMessage.self, from: fromDaemon) else { _exit(2) }

        // Detach: the daemon reaps this first process at once; the grandchild carries on
        // outside the daemon's process tree, so neither's death or wait logic touches the other.
        let child = lcd_fork()
        if child < 0 { _exit(3) }
        if child > 0 { _exit(0) }
        _ = setsid()
        _ = lcd_set_child_subreaper()
        runDetached(plan)
    }

    static func report(_ message: HelperMessage) { send(message, to: toDaemon) }

    static func runDetached(_ plan: Plan) -> Never {
        // Held open for the container's whole life (O_RDWR never blocks on a FIFO), so that
        // the container never meets a pipe without a reader or writer while no daemon is attached.
        let stdinHold = open(plan.stdinPath, O_RDWR | O_CLOEXEC)
        let stdoutHold = open(plan.stdoutPath, O_RDWR | O_CLOEXEC)
        let stderrHold = open(plan.stderrPath, O_RDWR | O_CLOEXEC)
        let control = open(plan.controlPath, O_RDWR | O_CLOEXEC | O_NONBLOCK)
        guard stdinHold >= 0, stdoutHold >= 0, stderrHold >= 0, control >= 0 else {
            report(.failed(StartFailure(kind: "sys", location: "open FIFOs", errno: errno, message: "cannot open the stdio FIFOs in \(plan.stateDirectory): \(errnoText(errno))")))
            _exit(1)
        }
        report(.ready(pid: getpid()))
        guard readMessage(DaemonMessage.self, from: fromDaemon) == .start else { _exit(0) }

        let childEvents = lcd_sigchld_fd()
        var goPipe: [Int32] = [0, 0], errorPipe: [Int32] = [0, 0]
        guard childEvents >= 0, lcd_pipe_cloexec(&goPipe) == 0, lcd_pipe_cloexec(&errorPipe) == 0 else {
            report(.failed(StartFailure(kind: "sys", location: "pipe", errno: errno, message: "cannot create pipes: \(errnoText(errno))")))
            _exit(1)
        }
        // The process's own ends: its stdin reads EOF once the daemon and we both closed ours.
        let stdinFD = open(plan.stdinPath, O_RDONLY | O_CLOEXEC)
        // With a log file, stdout and stderr are one pipe that we copy into the file: the
        // container never holds the file (it could truncate or rewrite it), and the cap holds.
        var log = LogRelay(plan)
        let stdoutFD = log.map { $0.writeEnd } ?? open(plan.stdoutPath, O_WRONLY | O_CLOEXEC)
        let stderrFD = log.map { fcntl($0.writeEnd, F_DUPFD_CLOEXEC, 0) } ?? open(plan.stderrPath, O_WRONLY | O_CLOEXEC)
        guard stdinFD >= 0, stdoutFD >= 0, stderrFD >= 0, plan.logPath.isEmpty || log != nil else {
            let path = plan.logPath.isEmpty ? "the stdio FIFOs in \(plan.stateDirectory)" : plan.logPath
            report(.failed(StartFailure(kind: "sys", location: "open stdio", errno: errno, message: "cannot open \(path): \(errnoText(errno))")))
            _exit(1)
        }

        // Exec mode: join the container's pid namespace for our children (we stay outside);
        // the child joins the other namespaces itself.
        var containerPidFD: Int32 = -1
        if plan.joinPid > 0 {
            containerPidFD = lcd_pidfd_open(plan.joinPid, 0)
            if containerPidFD < 0 || lcd_setns(containerPidFD, LCD_CLONE_NEWPID) != 0 {
                report(.failed(StartFailure(kind: "sys", location: "join container", errno: errno, message: "cannot join the container's pid namespace: \(errnoText(errno))")))
                _exit(1)
            }
        }
        if !plan.criuRestore.isEmpty {
            let pid = CheckpointRestore.run(plan, stdio: (stdinFD, stdoutFD, stderrFD))
            close(stdinFD); close(stdoutFD); close(stderrFD)
            supervise(plan, pid: pid, holds: (stdinHold, stdoutHold, stderrHold), childEvents: childEvents, control: control, terminal: -1, log: &log)
        }
        var terminalSocket: [Int32] = [-1, -1]
        if plan.terminal && lcd_socketpair_cloexec(&terminalSocket) != 0 {
            report(.failed(StartFailure(kind: "sys", location: "socketpair", errno: errno, message: "cannot create the terminal socket: \(errnoText(errno))")))
            _exit(1)
        }
        let pid = lcd_clone_process(plan.createNamespaces & ~LCD_CLONE_NEWCGROUP)
        if pid == 0 {
            close(goPipe[1]); close(errorPipe[0])
            if terminalSocket[0] >= 0 { close(terminalSocket[0]) }
            ContainerProcess.run(plan: plan, stdio: (stdinFD, stdoutFD, stderrFD), goPipe: goPipe[0], errorPipe: errorPipe[1],
                                 container: containerPidFD, terminalSocket: terminalSocket[1])
        }
        if terminalSocket[1] >= 0 { close(terminalSocket[1]) }
        if containerPidFD >= 0 { close(containerPidFD) }
        close(goPipe[0]); close(errorPipe[1]); close(stdinFD); close(stdoutFD); close(stderrFD)
        if pid < 0 {
            report(.failed(StartFailure(kind: "sys", location: "clone", errno: errno, message: "cannot create the container process: \(errnoText(errno))")))
            _exit(1)
        }
        // A new user namespace gets its id maps from us, outside, before the process runs.
        for (file, ranges) in [("uid_map", plan.uidMappings), ("gid_map", plan.gidMappings)] where !ranges.isEmpty {
            let text = ranges.map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joined()
            let fd = open("/proc/\(pid)/\(file)", O_WRONLY | O_CLOEXEC)
            if fd < 0 || !writeAll(fd, text) {
                let code = errno
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
                report(.failed(StartFailure(kind: "spec", location: file == "uid_map" ? "$.linux.uidMappings" : "$.linux.gidMappings", errno: code, message: "cannot write \(file): \(errnoText(code))")))
                _exit(1)
            }
            close(fd)
        }
        if !plan.cgroupPath.isEmpty {
            let procs = open(plan.cgroupPath + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
            if procs < 0 || !writeAll(procs, "\(pid)") {
                let code = errno
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
                report(.failed(StartFailure(kind: "sys", location: "join cgroup", errno: code, message: "cannot move the process into \(plan.cgroupPath): \(errnoText(code))")))
                _exit(1)
            }
            close(procs)
        }
        writeAll(goPipe[1], [1] + (0..<4).map { UInt8(truncatingIfNeeded: pid >> ($0 * 8)) })
        // The error pipe closes on exec (close-on-exec): EOF means the program is running.
        // Before that the process may ask for the runtime-namespace hooks, or report a failure.
        var frames = FrameReader()
        var failure: StartFailure?
        while failure == nil {
            let chunk = readSome(errorPipe[0])
            if chunk.isEmpty { break }
            frames.append(chunk)
            while failure == nil {
                let message: ProcessMessage?
                do { message = try frames.next(ProcessMessage.self) } catch {
                    failure = StartFailure(kind: "sys", location: "start", errno: EIO, message: "the container process sent a malformed message: \(error)")
                    break
                }
                guard let message else { break }
                switch message {
                case .runHooks:
                    failure = Hooks.run(plan.createRuntimeHooks, state: Hooks.state(plan, status: "creating", pid: pid))
                    if failure == nil { writeAll(goPipe[1], [1]) }
                case .failed(let reported):
                    failure = reported
                }
            }
        }
        close(goPipe[1])
        close(errorPipe[0])
        if failure == nil && frames.pending > 0 {
            failure = StartFailure(kind: "sys", location: "start", errno: EIO, message: "the container process sent a truncated message")
        }
        if let failure {
            kill(pid, SIGKILL)  // it is exiting anyway; a hook failure or a bad message leaves it waiting
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            report(.failed(failure))
            _exit(1)
        }
        // The child sent the pty master before it exec'd.
        var master: Int32 = -1
        if plan.terminal {
            master = lcd_receive_fd(terminalSocket[0])
            close(terminalSocket[0])
            if master < 0 {
                report(.failed(StartFailure(kind: "sys", location: "terminal", errno: errno, message: "did not receive the terminal from the container process")))
                kill(pid, SIGKILL)
                _exit(1)
            }
            _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
        }
        // poststart: after the program runs, before the start is reported; failures only warn.
        for hook in plan.poststartHooks {
            if let failure = Hooks.run(hook, state: Hooks.state(plan, status: "running", pid: pid)) { report(.warning("\(failure.location): \(failure.message)")) }
        }
        supervise(plan, pid: pid, holds: (stdinHold, stdoutHold, stderrHold), childEvents: childEvents, control: control, terminal: master, log: &log)
    }

    /// Reports the start, then stays until the process exits and records its status.
    static func supervise(_ plan: Plan, pid: pid_t, holds: (Int32, Int32, Int32), childEvents: Int32, control: Int32, terminal master: Int32, log: inout LogRelay?) -> Never {
        report(.started(pid: pid))
        // Not reaped before the daemon watches it, so its pid cannot be reused meanwhile.
        _ = readMessage(DaemonMessage.self, from: fromDaemon)
        close(fromDaemon)
        close(toDaemon)

        var holds = (stdin: holds.0, stdout: holds.1, stderr: holds.2)
        let status = waitForExit(of: pid, childEvents: childEvents, control: control, holds: &holds, terminal: master, log: &log)
        // Output ends now: readers drain the pipe and see EOF.
        for fd in [holds.stdin, holds.stdout, holds.stderr] where fd >= 0 { close(fd) }
        _ = writeFileAtomically(plan.exitPath, "\(status)\n")
        _exit(0)
    }

    /// Reaps children (we are a subreaper) until `pid` exits; serves ``ControlRequest``s from
    /// the control FIFO, copies the log pipe into the log, and, with a terminal, relays it to
    /// and from the FIFOs.
    /// Returns the exit status in the shell's convention: the code, or 128 + the signal.
    static func waitForExit(of pid: pid_t, childEvents: Int32, control: Int32, holds: inout (stdin: Int32, stdout: Int32, stderr: Int32), terminal: Int32, log: inout LogRelay?) -> Int32 {
        var master = terminal
        var relayStdin = terminal >= 0
        var requests = FrameReader()
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            // A child may have exited before the signalfd existed: reap before every wait.
            var status: Int32 = 0
            while true {
                let reaped = waitpid(-1, &status, WNOHANG)
                if reaped <= 0 { break }
                if reaped == pid {
                    if master >= 0 { relay(from: master, to: holds.stdout, &buffer); close(master) }
                    // What the process wrote last is in the pipe: keep it (a background child
                    // that still holds the pipe is not waited for).
                    _ = log?.drain(&buffer)
                    log?.close()
                    let low = status & 0x7f
                    return low == 0 ? (status >> 8) & 0xff : 128 + low
                }
            }
            var fds = [pollfd(fd: childEvents, events: Int16(POLLIN), revents: 0), pollfd(fd: control, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: master, events: Int16(POLLIN), revents: 0), pollfd(fd: relayStdin ? holds.stdin : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: log?.readEnd ?? -1, events: Int16(POLLIN), revents: 0)]
            if poll(&fds, nfds_t(fds.count), -1) < 0 && errno != EINTR { return 255 }
            if fds[4].revents != 0, log?.drain(&buffer) == false {
                log?.stopReading()  // every writer has gone: EOF
            }
            if fds[0].revents != 0 {
                _ = buffer.withUnsafeMutableBytes { read(childEvents, $0.baseAddress, 128) }
            }
            if fds[2].revents != 0 {
                // EIO once no process holds the pty's other end: stop watching it.
                if !relay(from: master, to: holds.stdout, &buffer) { close(master); master = -1 }
            }
            if fds[3].revents & Int16(POLLIN) != 0 {
                let n = buffer.withUnsafeMutableBytes { read(holds.stdin, $0.baseAddress, $0.count) }
                if n > 0 && master >= 0 { writeAll(master, Array(buffer[..<n])) }
            }
            if fds[1].revents & Int16(POLLIN) != 0 {
                let n = buffer.withUnsafeMutableBytes { read(control, $0.baseAddress, $0.count) }
                if n > 0 { requests.append(buffer[..<n]) }
                // A malformed request is dropped with the rest of what is buffered: the
                // control FIFO is the daemon's alone (mode 0600).
                while true {
                    let request: ControlRequest?
                    do { request = try requests.next(ControlRequest.self) } catch { requests = FrameReader(); break }
                    guard let request else { break }
                    switch request {
                    case .closeStdin:
                        if master >= 0 && relayStdin {
                            // A terminal has no end of input but the EOF character (^D).
                            writeAll(master, [4])
                            relayStdin = false
                        } else if master < 0 && holds.stdin >= 0 {
                            close(holds.stdin)
                            holds.stdin = -1
                        }
                    case .resize(let columns, let rows):
                        if master >= 0 { _ = lcd_set_window_size(master, rows, columns) }
                    }
                }
            }
        }
    }

    /// Copies what `from` has now (it is non-blocking) to `to`. False at EOF or error.
    @discardableResult
    static func relay(from: Int32, to: Int32, _ buffer: inout [UInt8]) -> Bool {
        while true {
            let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
            if n > 0 { writeAll(to, Array(buffer[..<n])); continue }
            return n < 0 && (errno == EAGAIN || errno == EINTR)
        }
    }
}

/// The log pipe of a container started with a log file: the process writes `writeEnd` (its
/// stdout and stderr), the helper reads `readEnd` (non-blocking) into the ``LogWriter``.
struct LogRelay {
    private(set) var readEnd: Int32
    let writeEnd: Int32
    var writer: LogWriter

    init?(_ plan: Plan) {
        guard !plan.logPath.isEmpty else { return nil }
        var fds: [Int32] = [-1, -1]
        guard lcd_pipe_cloexec(&fds) == 0 else { return nil }
        guard let writer = LogWriter(path: plan.logPath, maxSize: plan.logMaxSize, maxFiles: plan.logMaxFiles) else {
            let code = errno
            Glibc.close(fds[0]); Glibc.close(fds[1])
            errno = code
            return nil
        }
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        (readEnd, writeEnd, self.writer) = (fds[0], fds[1], writer)
    }

    /// Copies what the pipe holds now into the log. False at EOF (or a read error).
    mutating func drain(_ buffer: inout [UInt8]) -> Bool {
        guard readEnd >= 0 else { return false }
        while true {
            let n = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
            if n > 0 { writer.write(buffer[..<n]); continue }
            return n < 0 && (errno == EAGAIN || errno == EINTR)
        }
    }

    mutating func stopReading() {
        if readEnd >= 0 { Glibc.close(readEnd) }
        readEnd = -1
    }

    mutating func close() {
        stopReading()
        writer.close()
    }
}
