import CSeccomp
import Glibc
import OCIRuntimeSpec

extension Spec.Linux.Seccomp {
    /// The built-in profile of `Spec.linuxContainer`, for Docker's default capabilities: see
    /// ``containerDefault(capabilities:)``.
    public static var containerDefault: Spec.Linux.Seccomp { containerDefault(capabilities: Spec.Capabilities.containerDefault) }

    /// An allow list, as Docker's default profile (moby/profiles) is: every system call not
    /// listed fails with EPERM — those of kernels newer than the list too. On top of the
    /// calls every container may make:
    /// - `clone3` answers ENOSYS (libcs then fall back to `clone`, whose flags seccomp can
    ///   see), and `clone` may not create namespaces, unless the container has CAP_SYS_ADMIN;
    /// - `socket` refuses AF_ALG (38) and AF_VSOCK (40); `personality` takes only the safe
    ///   personas (0, 0x8, 0x20000, 0x20008) and the query (0xffffffff);
    /// - the calls gated by a capability (mount, bpf, ptrace-like calls, reboot, modules,
    ///   the clock, …) are allowed when `capabilities` (the bounding set) holds it.
    ///
    /// Never allowed: io_uring, the kernel keyring, userfaultfd, kexec, swap, pivot_root.
    /// Names this host's libseccomp does not know are left out (a newer kernel's calls stay
    /// refused).
    public static func containerDefault(capabilities: [String]) -> Spec.Linux.Seccomp {
        let granted = Set(capabilities.map { $0.uppercased() })
        var rules: [Syscall] = [.init(names: allowedSyscalls, action: .allow)]
        let namespaceFlags: UInt64 = 0x7E02_0000  // CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
        if granted.contains("CAP_SYS_ADMIN") {
            rules.append(.init(names: ["clone", "clone3"], action: .allow))
        } else {
            rules.append(.init(names: ["clone"], action: .allow, args: [.init(index: 0, value: namespaceFlags, valueTwo: 0, op: .maskedEqual)]))
            rules.append(.init(names: ["clone3"], action: .errno, errnoRet: UInt(ENOSYS)))
        }
        // Conditions on one argument are ORed (one rule each).
        rules.append(.init(names: ["socket"], action: .allow, args: [
            .init(index: 0, value: 38, op: .lessThan), .init(index: 0, value: 39, op: .equal), .init(index: 0, value: 40, op: .greaterThan),
        ]))
        rules.append(.init(names: ["personality"], action: .allow, args: [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff].map {
            .init(index: 0, value: $0, op: .equal)
        }))
        var gated: [String] = []  // once each: syslog and bpf have two capabilities
        for (capability, names) in capabilityGatedSyscalls where granted.contains(capability) {
            gated += names.filter { !gated.contains($0) }
        }
        if !gated.isEmpty { rules.append(.init(names: gated, action: .allow)) }
        return Spec.Linux.Seccomp(
            defaultAction: .errno, defaultErrnoRet: UInt(EPERM), architectures: [.x86_64, .x86, .x32], syscalls: rules)
    }

    /// Calls any container may make (Docker's unconditional list, ptrace and
    /// process_vm_readv/writev included, as on kernels ≥ 4.8; arch_prctl and modify_ldt
    /// exist on x86 only).
    static let allowedSyscalls: [String] = known("""
        _llseek _newselect accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir
        chmod chown chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
        clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range
        creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2
        epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2
        fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32
        fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat
        fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64
        futex_wait futex_waitv futex_wake futimesat get_robust_list get_thread_area getcpu getcwd
        getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32
        getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32
        getresuid getresuid32 getrlimit getrusage getsid getsockname getsockopt gettid gettimeofday
        getuid getuid32 getxattr getxattrat inotify_add_watch inotify_init inotify_init1
        inotify_rm_watch io_cancel io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup
        io_submit ioctl ioprio_get ioprio_set ipc kill landlock_add_rule landlock_create_ruleset
        landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listmount listxattr
        listxattrat llistxattr lremovexattr lseek lsetxattr lstat lstat64 madvise map_shadow_stack
        membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall
        mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64
        mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync
        munlock munlockall munmap name_to_handle_at nanosleep newfstatat open openat openat2 pause
        pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll
        ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64
        pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
        recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat rename renameat renameat2
        restart_syscall riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask
        rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64
        rt_tgsigqueueinfo sched_get_priority_max sched_get_priority_min sched_getaffinity sched_getattr
        sched_getparam sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64
        sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select
        semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg
        sendto set_robust_list set_thread_area set_tid_address setfsgid setfsgid32 setfsuid setfsuid32
        setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid setregid32
        setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit setsid setsockopt
        setuid setuid32 setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd
        signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64
        statmount statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
        timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
        timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
        timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat
        uretprobe utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write
        writev
        ptrace process_vm_readv process_vm_writev arch_prctl modify_ldt
        """.split(whereSeparator: \.isWhitespace).map(String.init))

    /// Calls allowed only with a capability, in a fixed order so that the profile is stable.
    static let capabilityGatedSyscalls: [(String, [String])] = ([
        ("CAP_DAC_READ_SEARCH", ["open_by_handle_at"]),
        ("CAP_SYS_ADMIN", ["bpf", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie", "lsm_get_self_attr",
                           "lsm_list_modules", "lsm_set_self_attr", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
                           "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare"]),
        ("CAP_SYS_BOOT", ["reboot"]),
        ("CAP_SYS_CHROOT", ["chroot"]),
        ("CAP_SYS_MODULE", ["delete_module", "finit_module", "init_module"]),
        ("CAP_SYS_PACCT", ["acct"]),
        ("CAP_SYS_PTRACE", ["kcmp", "pidfd_getfd", "process_madvise"]),
        ("CAP_SYS_RAWIO", ["ioperm", "iopl"]),
        ("CAP_SYS_TIME", ["clock_settime", "clock_settime64", "settimeofday", "stime"]),
        ("CAP_SYS_TTY_CONFIG", ["vhangup"]),
        ("CAP_SYS_NICE", ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
        ("CAP_SYSLOG", ["syslog"]),
        ("CAP_BPF", ["bpf"]),
        ("CAP_PERFMON", ["perf_event_open"]),
    ] as [(String, [String])]).map { ($0.0, known($0.1)) }
}

/// The names this host's libseccomp knows (resolved once: each lookup searches its table).
private func known(_ names: [String]) -> [String] { names.filter { seccomp_syscall_resolve_name($0) != __NR_SCMP_ERROR } }

extension Spec.Capabilities {
    /// The capabilities Docker gives a container by default.
    public static let containerDefault: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ]
}
