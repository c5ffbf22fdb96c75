import CLinuxSupport
import Glibc

/// Restoring a checkpoint instead of creating the process: the daemon planned the `criu
/// restore` command line (images, root, external mounts, cgroup, and `--inherit-fd` keys for
/// fds 10-12); the helper gives it the new stdio and adopts the restored process.
enum CheckpointRestore {
    static let pidFileName = "criu-restore.pid"
    static let logFileName = "criu-restore.log"

    /// Runs criu and returns the restored init's pid; reports an error and exits on failure.
    static func run(_ plan: Plan, stdio: (Int32, Int32, Int32)) -> pid_t {
        let pidFile = plan.stateDirectory + "/" + pidFileName
        unlink(pidFile)
        let child = lcd_fork()
        if child == 0 {
            // criu wants the root to be a mount point: bind it onto itself in a private mount
            // namespace of criu's own, so nothing is left mounted on the host.
            guard lcd_unshare(LCD_CLONE_NEWNS) == 0,
                  lcd_mount(nil, "/", nil, UInt(MS_REC | MS_SLAVE), nil) == 0,
                  lcd_mount(plan.rootfs, plan.rootfs, nil, UInt(MS_BIND | MS_REC), nil) == 0 else { _exit(120) }
            let null = open("/dev/null", O_RDWR)
            for (fd, target) in [(stdio.0, Int32(10)), (stdio.1, 11), (stdio.2, 12), (null, 0), (null, 1), (null, 2)] where dup2(fd, target) < 0 { _exit(121) }
            _ = lcd_close_range(13, UInt32.max, 0)
            let argv = plan.criuRestore.map { strdup($0) } + [nil]
            execv(plan.criuRestore[0], argv)
            _exit(127)
        }
        var status: Int32 = 0
        while child > 0 && waitpid(child, &status, 0) < 0 && errno == EINTR {}
        let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let pidText = String(decoding: readFile(pidFile) ?? [], as: UTF8.self).split(separator: "\n").first
        guard child > 0, code == 0, let pid = pidText.flatMap({ pid_t($0) }), pid > 0 else {
            let log = plan.stateDirectory + "/" + logFileName
            let lines = String(decoding: readFile(log) ?? [], as: UTF8.self).split(separator: "\n")
            let reason = lines.last { $0.contains("Error") }.map(String.init) ?? (code == 120 ? "cannot bind the root file system for criu" : code == 127 ? "cannot run \(plan.criuRestore[0])" : "no error in its log")
            Supervisor.report(.failed(StartFailure(kind: "sys", location: "criu restore", errno: 0, message: "criu restore failed with status \(code): \(reason) (log: \(log))")))
            _exit(1)
        }
        return pid
    }

    private static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return readToEnd(fd)
    }
}
