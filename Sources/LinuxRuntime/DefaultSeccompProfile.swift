import Glibc
import OCIRuntimeSpec

extension Spec.Linux.Seccomp {
    /// The built-in profile of `Spec.linuxContainer`: everything is allowed except what a
    /// container has no business doing — loading kernel modules, kexec, the kernel keyring,
    /// bpf, perf events, userfaultfd, mounting, entering or creating namespaces (new user
    /// namespaces in particular), changing the clock, rebooting, swap, accounting, raw I/O
    /// ports, and file handles (the "shocker" escape). Those fail with EPERM.
    ///
    /// It is a deny list, not Docker's allow list: a syscall added by a future kernel is allowed
    /// until listed here. Pass your own `linux.seccomp` for an allow-list policy.
    public static var containerDefault: Spec.Linux.Seccomp {
        let denied = [
            "init_module", "finit_module", "delete_module", "create_module", "query_module", "get_kernel_syms",
            "kexec_load", "kexec_file_load", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
            "mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
            "setns", "unshare", "reboot", "swapon", "swapoff", "acct", "settimeofday", "clock_settime", "clock_adjtime",
            "adjtimex", "stime", "syslog", "iopl", "ioperm", "vhangup", "nfsservctl", "lookup_dcookie", "quotactl",
            "open_by_handle_at", "name_to_handle_at", "uselib", "vm86", "vm86old", "kcmp",
        ]
        let newUserNamespace: UInt64 = 0x1000_0000  // CLONE_NEWUSER
        return Spec.Linux.Seccomp(
            defaultAction: .allow,
            architectures: [.x86_64, .x86, .x32],
            syscalls: [
                .init(names: denied, action: .errno, errnoRet: UInt(EPERM)),
                // clone can be inspected: refuse only a new user namespace.
                .init(names: ["clone"], action: .errno, errnoRet: UInt(EPERM),
                      args: [.init(index: 0, value: newUserNamespace, valueTwo: newUserNamespace, op: .maskedEqual)]),
                // clone3's flags are behind a pointer: say it does not exist, so libc falls back to clone.
                .init(names: ["clone3"], action: .errno, errnoRet: UInt(ENOSYS)),
            ])
    }
}

extension Spec.Capabilities {
    /// The capabilities Docker gives a container by default.
    public static let containerDefault: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ]
}
