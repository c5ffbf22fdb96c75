import CLinuxSupport
import Glibc

/// Why a container process did not start, as the process and the helper report it (in a
/// ``ProcessMessage`` or ``HelperMessage``): kind `spec` (location = a JSON path of the spec)
/// or `sys` (location = the operation).
public struct StartFailure: Error, Equatable, Sendable {
    public var kind: String
    public var location: String
    public var errno: Int32
    public var message: String

    public init(kind: String, location: String, errno: Int32, message: String) {
        self.kind = kind
        self.location = location
        self.errno = errno
        self.message = message
    }
}

/// The container's first process, between clone and exec. Runs in the cloned child of the
/// single-threaded helper; never returns.
enum ContainerProcess {
    static func run(plan: Plan, stdio: (Int32, Int32, Int32), goPipe: Int32, errorPipe: Int32, container: Int32 = -1, terminalSocket: Int32 = -1) -> Never {
        func fail(_ failure: StartFailure) -> Never {
            send(ProcessMessage.failed(failure), to: errorPipe)
            _exit(127)
        }
        func sys(_ operation: String) -> Never {
            let code = errno
            fail(StartFailure(kind: "sys", location: operation, errno: code, message: "\(operation): \(errnoText(code))"))
        }

        // Wait until the helper has placed us in the container's cgroup; it sends our host pid
        // along (4 bytes, little-endian) for the hooks' state.
        guard let go = readExactly(goPipe, 5) else { _exit(1) }
        let hostPid = pid_t(go[1]) | pid_t(go[2]) << 8 | pid_t(go[3]) << 16 | pid_t(go[4]) << 24
        if setsid() < 0 { sys("setsid") }
        for (target, fd) in [stdio.0, stdio.1, stdio.2].enumerated() {
            if dup2(fd, Int32(target)) < 0 { sys("dup2 stdio") }
        }

        if plan.joinPid > 0 {
            close(goPipe)
            // Exec: every namespace of the container at once, through its init's pidfd. Not
            // dumpable until exec, so the container cannot reach this process's /proc files
            // (its exe is the helper binary) while it is inside.
            if lcd_set_dumpable(0) != 0 { sys("prctl(PR_SET_DUMPABLE)") }
            if lcd_setns(container, plan.joinFlags & ~LCD_CLONE_NEWPID) != 0 { sys("join the container's namespaces") }
            close(container)
            return finish(plan, terminalSocket: terminalSocket, fail: fail, sys: sys)
        }
        // A user namespace first: the others are joined with its privileges.
        for join in plan.joinNamespaces.sorted(by: { ($0.type == LCD_CLONE_NEWUSER ? 0 : 1) < ($1.type == LCD_CLONE_NEWUSER ? 0 : 1) }) {
            let fd = open(join.path, O_RDONLY | O_CLOEXEC)
            if fd < 0 || lcd_setns(fd, join.type) != 0 {
                let code = errno
                fail(StartFailure(kind: "spec", location: join.specPath, errno: code, message: "cannot join namespace \(join.path): \(errnoText(code))"))
            }
            close(fd)
        }
        // In a user namespace, become its root before building anything, so that what we create
        // belongs to a mapped id (container root must be mapped).
        if plan.createNamespaces & LCD_CLONE_NEWUSER != 0 || plan.joinNamespaces.contains(where: { $0.type == LCD_CLONE_NEWUSER }) {
            if lcd_set_all_gids(0) != 0 || lcd_set_all_uids(0) != 0 {
                let code = errno
                fail(StartFailure(kind: "spec", location: "$.linux.uidMappings", errno: code, message: "cannot become root in the user namespace (is container id 0 mapped?): \(errnoText(code))"))
            }
        }
        // Unshared only now, so that the namespace's root is the container's own cgroup.
        if plan.createNamespaces & LCD_CLONE_NEWCGROUP != 0, lcd_unshare(LCD_CLONE_NEWCGROUP) != 0 { sys("unshare cgroup namespace") }

        let rootfs = RootfsBuilder(plan: plan, kernel: LinuxKernel())
        do {
            try rootfs.build(pivot: false)
        } catch {
            fail(StartFailure(kind: "spec", location: error.specPath, errno: error.error.errno, message: error.error.description))
        }
        // prestart and createRuntime run in the helper (the runtime's namespaces) now; then
        // createContainer here, in the container's namespaces, before pivot_root.
        if !plan.createRuntimeHooks.isEmpty {
            send(ProcessMessage.runHooks, to: errorPipe)
            guard readExactly(goPipe, 1) != nil else { _exit(1) }
        }
        close(goPipe)
        if let failure = Hooks.run(plan.createContainerHooks, state: Hooks.state(plan, status: "creating", pid: hostPid)) { fail(failure) }
        do {
            try rootfs.pivotRoot()
        } catch {
            fail(StartFailure(kind: "spec", location: error.specPath, errno: error.error.errno, message: error.error.description))
        }
        for sysctl in plan.sysctls {
            let fd = open("/proc/sys/" + sysctl.key.replacingDots(), O_WRONLY | O_CLOEXEC)
            if fd < 0 || !writeAll(fd, sysctl.value) {
                let code = errno
                fail(StartFailure(kind: "spec", location: "$.linux.sysctl.\(sysctl.key)", errno: code, message: "cannot set \(sysctl.key): \(errnoText(code))"))
            }
            close(fd)
        }
        do {
            try rootfs.protect()
        } catch {
            fail(StartFailure(kind: "spec", location: error.specPath, errno: error.error.errno, message: error.error.description))
        }
        if let hostname = plan.hostname, lcd_sethostname(hostname, hostname.utf8.count) != 0 { sys("sethostname") }
        if let domainname = plan.domainname, lcd_setdomainname(domainname, domainname.utf8.count) != 0 { sys("setdomainname") }
        if let failure = Hooks.run(plan.startContainerHooks, state: Hooks.state(plan, status: "created", pid: hostPid)) { fail(failure) }
        finish(plan, terminalSocket: terminalSocket, fail: fail, sys: sys)
    }

    /// From resource limits to exec: shared by a container's init and by exec'd processes.
    static func finish(_ plan: Plan, terminalSocket: Int32, fail: (StartFailure) -> Never, sys: (String) -> Never) -> Never {
        if plan.terminal { attachTerminal(plan, socket: terminalSocket, fail: fail, sys: sys) }
        for (index, limit) in plan.rlimits.enumerated() where lcd_setrlimit(limit.resource, limit.soft, limit.hard) != 0 {
            let code = errno
            fail(StartFailure(kind: "spec", location: "$.process.rlimits[\(index)]", errno: code, message: "setrlimit: \(errnoText(code))"))
        }
        if let score = plan.oomScoreAdj {
            let fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC)
            if fd < 0 || !writeAll(fd, "\(score)") {
                let code = errno
                fail(StartFailure(kind: "spec", location: "$.process.oomScoreAdj", errno: code, message: "cannot set oom_score_adj to \(score): \(errnoText(code))"))
            }
            close(fd)
        }
        // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while we have it.
        if let seccomp = plan.seccomp, !plan.noNewPrivileges { loadSeccomp(seccomp, fail) }

        if let caps = plan.capabilities {
            // Keep the permitted set across setuid, and shrink the bounding set while we may.
            if lcd_set_keep_capabilities(1) != 0 { sys("prctl(PR_SET_KEEPCAPS)") }
            for cap in 0...caps.lastCapability where caps.bounding & (1 << UInt64(cap)) == 0 {
                if lcd_drop_bounding_capability(cap) != 0 { sys("drop capability \(cap) from the bounding set") }
            }
        }
        // Groups before gid before uid: each step needs the privilege the next one drops.
        let groups = plan.additionalGids
        if groups.withUnsafeBufferPointer({ lcd_setgroups($0.count, $0.baseAddress) }) != 0 { sys("setgroups") }
        if setgid(plan.gid) != 0 { sys("setgid \(plan.gid)") }
        if setuid(plan.uid) != 0 { sys("setuid \(plan.uid)") }
        if let caps = plan.capabilities {
            if lcd_set_keep_capabilities(0) != 0 { sys("prctl(PR_SET_KEEPCAPS)") }
            if lcd_capset(caps.effective, caps.permitted, caps.inheritable) != 0 { sys("capset") }
            for cap in 0...caps.lastCapability where caps.ambient & (1 << UInt64(cap)) != 0 {
                if lcd_raise_ambient_capability(cap) != 0 {
                    let code = errno
                    fail(StartFailure(kind: "spec", location: "$.process.capabilities.ambient", errno: code,
                                      message: "cannot raise ambient capability \(cap) (it must be permitted and inheritable): \(errnoText(code))"))
                }
            }
        }
        if chdir(plan.cwd) != 0 {
            let code = errno
            fail(StartFailure(kind: "spec", location: "$.process.cwd", errno: code, message: "cannot enter \(plan.cwd): \(errnoText(code))"))
        }
        // The cwd must be reachable from the container's root (CVE-2024-21626: a cwd through a
        // leaked descriptor shows up as "(unreachable)…").
        var buffer = [CChar](repeating: 0, count: 4096)
        if getcwd(&buffer, buffer.count) == nil || buffer[0] != 0x2F {
            fail(StartFailure(kind: "spec", location: "$.process.cwd", errno: ENOENT, message: "\(plan.cwd) is outside the container"))
        }

        guard let executable = resolve(plan.args[0], in: plan.searchPath) else {
            fail(StartFailure(kind: "spec", location: "$.process.args[0]", errno: ENOENT,
                              message: "executable file not found: \(plan.args[0]) (searched \(plan.searchPath.joined(separator: ":")))"))
        }
        _ = lcd_close_range(3, UInt32.max, LCD_CLOSE_RANGE_CLOEXEC)
        lcd_reset_signals()
        if plan.noNewPrivileges, lcd_set_no_new_privileges() != 0 { sys("prctl(PR_SET_NO_NEW_PRIVS)") }
        if let seccomp = plan.seccomp, plan.noNewPrivileges { loadSeccomp(seccomp, fail) }
        execute(executable, plan.args, plan.env)
        let code = errno
        fail(StartFailure(kind: "spec", location: "$.process.args[0]", errno: code, message: "cannot execute \(executable): \(errnoText(code))"))
        }

    /// A pty from the container's own devpts: the slave becomes stdio and the controlling
    /// terminal (and /dev/console for an init); the master goes to the helper, which relays it.
    static func attachTerminal(_ plan: Plan, socket: Int32, fail: (StartFailure) -> Never, sys: (String) -> Never) {
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        if master < 0 {
            let code = errno
            fail(StartFailure(kind: "spec", location: "$.process.terminal", errno: code, message: "cannot open /dev/ptmx (mount devpts on /dev/pts): \(errnoText(code))"))
        }
        let number = lcd_pty_unlock(master)
        if number < 0 { sys("unlock the pty") }
        let slavePath = "/dev/pts/\(number)"
        let slave = open(slavePath, O_RDWR | O_NOCTTY)
        if slave < 0 { sys("open \(slavePath)") }
        if fchown(slave, plan.uid, plan.gid) != 0 { sys("chown \(slavePath)") }
        if plan.joinPid == 0 {
            let console = open("/dev/console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if console >= 0 { close(console) }
            if lcd_mount(slavePath, "/dev/console", nil, MountFlags.bind, nil) != 0 {
                let code = errno
                fail(StartFailure(kind: "spec", location: "$.process.terminal", errno: code, message: "cannot bind the terminal to /dev/console: \(errnoText(code))"))
            }
        }
        if plan.terminalRows > 0, plan.terminalColumns > 0 { _ = lcd_set_window_size(master, plan.terminalRows, plan.terminalColumns) }
        for target: Int32 in 0...2 where dup2(slave, target) < 0 { sys("dup2 terminal") }
        if slave > 2 { close(slave) }
        if lcd_set_controlling_terminal(0) != 0 { sys("set the controlling terminal") }
        if lcd_send_fd(socket, master) != 0 { sys("hand the terminal to the helper") }
        close(master)
        close(socket)
    }

    static func loadSeccomp(_ program: SeccompProgram, _ fail: (StartFailure) -> Never) {
        let count = program.instructions.count / 8
        let rc = program.instructions.withUnsafeBytes { lcd_seccomp_load($0.baseAddress, UInt16(count), program.flags) }
        if rc != 0 {
            let code = errno
            fail(StartFailure(kind: "spec", location: "$.linux.seccomp", errno: code, message: "cannot load the seccomp filter: \(errnoText(code))"))
        }
    }

    /// `name` itself if it has a slash, else the first executable regular file named so on the path.
    static func resolve(_ name: String, in searchPath: [String]) -> String? {
        if name.contains("/") { return name }
        for directory in searchPath where !directory.isEmpty {
            let candidate = directory + "/" + name
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    static func execute(_ path: String, _ args: [String], _ env: [String]) {
        let argv = args.map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        _ = execve(path, argv, envp)
    }
}

extension String {
    /// `net.ipv4.ip_forward` → `net/ipv4/ip_forward`.
    func replacingDots() -> String { String(map { $0 == "." ? "/" : $0 }) }
}
