import CLinuxSupport
import Glibc

/// Runs OCI hooks: the state JSON on stdin, a timeout, and the failure as a `StartFailure`
/// naming the hook. Used by the helper and by the container process; never by the daemon's
/// threads (poststop runs there through Foundation).
enum Hooks {
    static func state(_ plan: Plan, status: String, pid: pid_t) -> String {
        plan.stateJSONPrefix + ",\"status\":\"\(status)\",\"pid\":\(pid)}"
    }

    /// Runs `hooks` in order; returns the first failure.
    static func run(_ hooks: [HookStep], state: String) -> StartFailure? {
        for hook in hooks {
            if let failure = run(hook, state: state) { return failure }
        }
        return nil
    }

    static func run(_ hook: HookStep, state: String) -> StartFailure? {
        func failure(_ message: String, _ code: Int32 = 0) -> StartFailure {
            StartFailure(kind: "spec", location: hook.specPath, errno: code, message: "hook \(hook.path) \(message)")
        }
        var input: [Int32] = [0, 0], errors: [Int32] = [0, 0]
        guard lcd_pipe_cloexec(&input) == 0, lcd_pipe_cloexec(&errors) == 0 else { return failure("could not start: \(errnoText(errno))", errno) }
        let argv = (hook.args.isEmpty ? [hook.path] : hook.args).map { strdup($0) } + [nil]
        let envp = hook.env.map { strdup($0) } + [nil]
        let pid = lcd_fork()
        if pid == 0 {
            let null = open("/dev/null", O_WRONLY)
            _ = dup2(input[0], 0)
            _ = dup2(null, 1)
            _ = dup2(errors[1], 2)
            lcd_reset_signals()
            _ = execve(hook.path, argv, envp)
            let message = "cannot execute: \(errnoText(errno))\n"
            writeAll(2, message)
            _exit(127)
        }
        for pointer in argv + envp { free(pointer) }
        close(input[0]); close(errors[1])
        guard pid > 0 else { close(input[1]); close(errors[0]); return failure("could not start: \(errnoText(errno))", errno) }
        // The state is small (well under a pipe's capacity): written at once, then EOF.
        writeAll(input[1], state)
        close(input[1])
        let deadline = hook.timeout > 0 ? monotonicSeconds() + Double(hook.timeout) : .infinity
        var status: Int32 = 0
        var timedOut = false
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR { break }
            if monotonicSeconds() > deadline {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                timedOut = true
                break
            }
            usleep(1000)
        }
        _ = fcntl(errors[0], F_SETFL, O_NONBLOCK)
        var stderr = [UInt8](repeating: 0, count: 2048)
        let n = stderr.withUnsafeMutableBytes { read(errors[0], $0.baseAddress, $0.count) }
        close(errors[0])
        let said = n > 0 ? ": " + String(decoding: stderr[..<n], as: UTF8.self).split(separator: "\n").joined(separator: " ") : ""
        if timedOut { return failure("timed out after \(hook.timeout)s\(said)", ETIMEDOUT) }
        let low = status & 0x7f
        if low != 0 { return failure("was killed by signal \(low)\(said)") }
        let code = (status >> 8) & 0xff
        return code == 0 ? nil : failure("exited with status \(code)\(said)")
    }

    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
