// Thin wrappers over Linux system calls and constants that Swift's Glibc module does not
// export. No logic lives here: each function is one system call.
#ifndef CLINUXSUPPORT_H
#define CLINUXSUPPORT_H

#include <stdint.h>
#include <sys/types.h>
#include <signal.h>

/// pidfd_open(2): a file descriptor referring to process `pid` (also for non-children).
int lcd_pidfd_open(pid_t pid, unsigned int flags);
/// pidfd_send_signal(2): signal the process a pidfd refers to (no pid-reuse race).
int lcd_pidfd_send_signal(int pidfd, int sig, unsigned int flags);
/// close_range(2).
int lcd_close_range(unsigned int first, unsigned int last, unsigned int flags);
/// pivot_root(2).
int lcd_pivot_root(const char *new_root, const char *put_old);
/// unshare(2) and setns(2), which glibc declares only under _GNU_SOURCE.
int lcd_unshare(int flags);
int lcd_setns(int fd, int nstype);
/// prctl(PR_SET_CHILD_SUBREAPER, 1).
int lcd_set_child_subreaper(void);
/// prctl(PR_SET_PDEATHSIG, sig).
int lcd_set_parent_death_signal(int sig);

/// clone(2) with `flags | SIGCHLD` and no new stack: fork(2) that can also create namespaces.
/// Returns 0 in the child. Safe only in a single-threaded process (the helper is one).
pid_t lcd_clone_process(int flags);
/// fork(2), which Swift marks unavailable; for the single-threaded helper only.
pid_t lcd_fork(void);
/// statfs(2)'s f_type for `path`, or -1.
long lcd_filesystem_type(const char *path);
/// openat2(2) with O_PATH | O_CLOEXEC and the given RESOLVE_* flags.
int lcd_openat2_path(int dirfd, const char *path, unsigned long long resolve);
extern const unsigned long long LCD_RESOLVE_IN_ROOT;
extern const unsigned long long LCD_RESOLVE_NO_MAGICLINKS;
extern const unsigned long long LCD_RESOLVE_NO_SYMLINKS;
/// A copy of the file at `path` in a memfd sealed against every change (CVE-2019-5736: a
/// process running from it cannot be overwritten through /proc/<pid>/exe). Returns the fd.
int lcd_sealed_copy(const char *path, const char *name);
/// Terminals: unlock a pty master and return its slave number (-1 on error).
int lcd_pty_unlock(int master);
/// ioctl(TIOCSCTTY): make `fd` the controlling terminal of the calling session leader.
int lcd_set_controlling_terminal(int fd);
/// ioctl(TIOCSWINSZ).
int lcd_set_window_size(int fd, unsigned short rows, unsigned short columns);
/// ioctl(TIOCGWINSZ): 0 and the size, or -1.
int lcd_get_window_size(int fd, unsigned short *rows, unsigned short *columns);
/// socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC).
int lcd_socketpair_cloexec(int fds[2]);
/// Sends / receives one descriptor over a unix socket (SCM_RIGHTS). Receive returns it, or -1.
int lcd_send_fd(int socket, int fd);
int lcd_receive_fd(int socket);
/// pipe2(2) with O_CLOEXEC.
int lcd_pipe_cloexec(int fds[2]);
/// mount(2) and umount2(2).
int lcd_mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data);
int lcd_umount2(const char *target, int flags);
/// sethostname(2), setdomainname(2).
int lcd_sethostname(const char *name, size_t length);
int lcd_setdomainname(const char *name, size_t length);
/// signalfd(2) for SIGCHLD, after blocking it; returns the descriptor.
int lcd_sigchld_fd(void);
/// Unblocks every signal and restores default dispositions (before exec in the child).
void lcd_reset_signals(void);
/// makedev(3).
unsigned long long lcd_makedev(unsigned int major, unsigned int minor);
/// mknod(2).
int lcd_mknod(const char *path, unsigned int mode, unsigned long long dev);
/// setresuid(2)/setresgid(2) to `id` for all three ids.
int lcd_set_all_uids(unsigned int id);
int lcd_set_all_gids(unsigned int id);
/// setgroups(2).
int lcd_setgroups(size_t count, const unsigned int *groups);

/// capset(2), version 3: the three sets as 64-bit masks.
int lcd_capset(unsigned long long effective, unsigned long long permitted, unsigned long long inheritable);
/// prctl(PR_SET_KEEPCAPS, on).
int lcd_set_keep_capabilities(int on);
/// prctl(PR_CAPBSET_DROP, cap).
int lcd_drop_bounding_capability(int cap);
/// prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap).
int lcd_raise_ambient_capability(int cap);
/// prctl(PR_SET_DUMPABLE, on).
int lcd_set_dumpable(int on);
/// prctl(PR_SET_NO_NEW_PRIVS, 1).
int lcd_set_no_new_privileges(void);
/// setrlimit(2).
int lcd_setrlimit(int resource, unsigned long long soft, unsigned long long hard);
/// getrlimit(2); returns the hard limit through `hard`.
int lcd_getrlimit(int resource, unsigned long long *soft, unsigned long long *hard);
/// seccomp(SECCOMP_SET_MODE_FILTER, flags, program of `count` 8-byte instructions).
int lcd_seccomp_load(const void *instructions, unsigned short count, unsigned int flags);

/// bpf(2) for cgroup device programs. Loads `count` 8-byte instructions as a
/// BPF_PROG_TYPE_CGROUP_DEVICE program; returns its fd, or -1 (the verifier's log in `log`).
int lcd_bpf_load_device_program(const void *instructions, unsigned int count, char *log, unsigned int log_size);
/// Attaches a device program to a cgroup directory fd with BPF_F_ALLOW_MULTI.
int lcd_bpf_attach_device_program(int cgroup_fd, int program_fd);
/// Detaches one device program (by fd) from a cgroup directory fd.
int lcd_bpf_detach_device_program(int cgroup_fd, int program_fd);
/// Ids of the device programs attached to the cgroup itself (not inherited); returns how many
/// (at most `capacity` are stored), or -1.
int lcd_bpf_query_device_programs(int cgroup_fd, unsigned int *ids, unsigned int capacity);
/// An fd for a loaded program by id, or -1.
int lcd_bpf_program_fd(unsigned int id);

/// mount_setattr(2) on `path` (relative to `dirfd`), recursively with AT_RECURSIVE in `flags`.
int lcd_mount_setattr(int dirfd, const char *path, unsigned int flags, unsigned long long set, unsigned long long clear);

extern const int LCD_CLONE_NEWNS;
extern const int LCD_CLONE_NEWUTS;
extern const int LCD_CLONE_NEWIPC;
extern const int LCD_CLONE_NEWUSER;
extern const int LCD_CLONE_NEWPID;
extern const int LCD_CLONE_NEWNET;
extern const int LCD_CLONE_NEWCGROUP;
extern const int LCD_CLONE_NEWTIME;
extern const unsigned int LCD_CLOSE_RANGE_CLOEXEC;

#endif
