#define _GNU_SOURCE
#include "CLinuxSupport.h"
#include <sched.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <linux/sched.h>
#include <signal.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/resource.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <string.h>
#include <sys/sendfile.h>
#include <errno.h>
#include <sys/sysmacros.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

int lcd_pidfd_open(pid_t pid, unsigned int flags) { return (int)syscall(SYS_pidfd_open, pid, flags); }
int lcd_pidfd_send_signal(int pidfd, int sig, unsigned int flags) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, flags);
}
int lcd_close_range(unsigned int first, unsigned int last, unsigned int flags) {
    return (int)syscall(SYS_close_range, first, last, flags);
}
int lcd_pivot_root(const char *new_root, const char *put_old) {
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}
pid_t lcd_clone_process(int flags) {
    return (pid_t)syscall(SYS_clone, (unsigned long)flags | SIGCHLD, NULL, NULL, NULL, NULL);
}
pid_t lcd_fork(void) { return fork(); }
int lcd_pty_unlock(int master) {
    int unlock = 0, number = -1;
    if (ioctl(master, TIOCSPTLCK, &unlock) != 0) return -1;
    if (ioctl(master, TIOCGPTN, &number) != 0) return -1;
    return number;
}
int lcd_set_controlling_terminal(int fd) { return ioctl(fd, TIOCSCTTY, 0); }
int lcd_set_window_size(int fd, unsigned short rows, unsigned short columns) {
    struct winsize size = { .ws_row = rows, .ws_col = columns };
    return ioctl(fd, TIOCSWINSZ, &size);
}
int lcd_get_window_size(int fd, unsigned short *rows, unsigned short *columns) {
    struct winsize size;
    if (ioctl(fd, TIOCGWINSZ, &size) != 0) return -1;
    *rows = size.ws_row;
    *columns = size.ws_col;
    return 0;
}
int lcd_socketpair_cloexec(int fds[2]) { return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds); }
int lcd_send_fd(int socket, int fd) {
    char byte = 0;
    struct iovec iov = { &byte, 1 };
    char control[CMSG_SPACE(sizeof(int))];
    memset(control, 0, sizeof control);
    struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(header), &fd, sizeof(int));
    return sendmsg(socket, &message, 0) == 1 ? 0 : -1;
}
int lcd_receive_fd(int socket) {
    char byte;
    struct iovec iov = { &byte, 1 };
    char control[CMSG_SPACE(sizeof(int))];
    struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    if (recvmsg(socket, &message, MSG_CMSG_CLOEXEC) != 1) return -1;
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    if (!header || header->cmsg_type != SCM_RIGHTS) return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(header), sizeof(int));
    return fd;
}
int lcd_sealed_copy(const char *path, const char *name) {
    int source = open(path, O_RDONLY | O_CLOEXEC);
    if (source < 0) return -1;
    struct stat info;
    int copy = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (copy < 0 || fstat(source, &info) != 0) goto fail;
    off_t offset = 0;
    while (offset < info.st_size) {
        ssize_t n = sendfile(copy, source, &offset, (size_t)(info.st_size - offset));
        if (n <= 0) goto fail;
    }
    if (fchmod(copy, 0555) != 0) goto fail;
    if (fcntl(copy, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0) goto fail;
    close(source);
    return copy;
fail:;
    int saved = errno;
    close(source);
    if (copy >= 0) close(copy);
    errno = saved;
    return -1;
}
int lcd_openat2_path(int dirfd, const char *path, unsigned long long resolve) {
    struct open_how how = { .flags = O_PATH | O_CLOEXEC, .mode = 0, .resolve = resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}
const unsigned long long LCD_RESOLVE_IN_ROOT = RESOLVE_IN_ROOT;
const unsigned long long LCD_RESOLVE_NO_MAGICLINKS = RESOLVE_NO_MAGICLINKS;
const unsigned long long LCD_RESOLVE_NO_SYMLINKS = RESOLVE_NO_SYMLINKS;
long lcd_filesystem_type(const char *path) {
    struct statfs info;
    return statfs(path, &info) == 0 ? (long)info.f_type : -1;
}
int lcd_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
int lcd_mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data) {
    return mount(source, target, fstype, flags, data);
}
int lcd_umount2(const char *target, int flags) { return umount2(target, flags); }
int lcd_sethostname(const char *name, size_t length) { return sethostname(name, length); }
int lcd_setdomainname(const char *name, size_t length) { return setdomainname(name, length); }
int lcd_sigchld_fd(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_CLOEXEC);
}
void lcd_reset_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigprocmask(SIG_SETMASK, &set, NULL);
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
}
unsigned long long lcd_makedev(unsigned int major, unsigned int minor) { return makedev(major, minor); }
int lcd_mknod(const char *path, unsigned int mode, unsigned long long dev) { return mknod(path, mode, (dev_t)dev); }
int lcd_set_all_uids(unsigned int id) { return setresuid(id, id, id); }
int lcd_set_all_gids(unsigned int id) { return setresgid(id, id, id); }
int lcd_setgroups(size_t count, const unsigned int *groups) { return setgroups(count, (const gid_t *)groups); }
int lcd_capset(unsigned long long effective, unsigned long long permitted, unsigned long long inheritable) {
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2] = {
        { (unsigned int)effective, (unsigned int)permitted, (unsigned int)inheritable },
        { (unsigned int)(effective >> 32), (unsigned int)(permitted >> 32), (unsigned int)(inheritable >> 32) },
    };
    return (int)syscall(SYS_capset, &header, data);
}
int lcd_set_keep_capabilities(int on) { return prctl(PR_SET_KEEPCAPS, on, 0, 0, 0); }
int lcd_drop_bounding_capability(int cap) { return prctl(PR_CAPBSET_DROP, cap, 0, 0, 0); }
int lcd_raise_ambient_capability(int cap) { return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0); }
int lcd_set_dumpable(int on) { return prctl(PR_SET_DUMPABLE, on, 0, 0, 0); }
int lcd_set_no_new_privileges(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }
int lcd_setrlimit(int resource, unsigned long long soft, unsigned long long hard) {
    struct rlimit limit = { (rlim_t)soft, (rlim_t)hard };
    return setrlimit(resource, &limit);
}
int lcd_getrlimit(int resource, unsigned long long *soft, unsigned long long *hard) {
    struct rlimit limit;
    int rc = getrlimit(resource, &limit);
    if (rc == 0) { *soft = limit.rlim_cur; *hard = limit.rlim_max; }
    return rc;
}
int lcd_seccomp_load(const void *instructions, unsigned short count, unsigned int flags) {
    struct sock_fprog program = { count, (struct sock_filter *)instructions };
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &program);
}
int lcd_unshare(int flags) { return unshare(flags); }
int lcd_setns(int fd, int nstype) { return setns(fd, nstype); }
int lcd_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
int lcd_set_parent_death_signal(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }

const int LCD_CLONE_NEWNS = CLONE_NEWNS;
const int LCD_CLONE_NEWUTS = CLONE_NEWUTS;
const int LCD_CLONE_NEWIPC = CLONE_NEWIPC;
const int LCD_CLONE_NEWUSER = CLONE_NEWUSER;
const int LCD_CLONE_NEWPID = CLONE_NEWPID;
const int LCD_CLONE_NEWNET = CLONE_NEWNET;
const int LCD_CLONE_NEWCGROUP = CLONE_NEWCGROUP;
const int LCD_CLONE_NEWTIME = CLONE_NEWTIME;
const unsigned int LCD_CLOSE_RANGE_CLOEXEC = CLOSE_RANGE_CLOEXEC;

// MARK: - bpf(2): cgroup device programs

#include <linux/bpf.h>

static int lcd_bpf(int command, union bpf_attr *attr) {
    return (int)syscall(SYS_bpf, command, attr, sizeof(*attr));
}

int lcd_bpf_load_device_program(const void *instructions, unsigned int count, char *log, unsigned int log_size) {
    static const char license[] = "Apache-2.0";
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)instructions;
    attr.insn_cnt = count;
    attr.license = (uint64_t)(uintptr_t)license;
    attr.expected_attach_type = BPF_CGROUP_DEVICE;
    if (log != NULL && log_size > 0) {
        log[0] = 0;
        attr.log_buf = (uint64_t)(uintptr_t)log;
        attr.log_size = log_size;
        attr.log_level = 1;
    }
    int fd = lcd_bpf(BPF_PROG_LOAD, &attr);
    if (fd >= 0) (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

int lcd_bpf_attach_device_program(int cgroup_fd, int program_fd) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)cgroup_fd;
    attr.attach_bpf_fd = (uint32_t)program_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    return lcd_bpf(BPF_PROG_ATTACH, &attr);
}

int lcd_bpf_detach_device_program(int cgroup_fd, int program_fd) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)cgroup_fd;
    attr.attach_bpf_fd = (uint32_t)program_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    return lcd_bpf(BPF_PROG_DETACH, &attr);
}

int lcd_bpf_query_device_programs(int cgroup_fd, unsigned int *ids, unsigned int capacity) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = (uint32_t)cgroup_fd;
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
    attr.query.prog_cnt = capacity;
    if (lcd_bpf(BPF_PROG_QUERY, &attr) != 0) return -1;
    return (int)attr.query.prog_cnt;
}

int lcd_bpf_program_fd(unsigned int id) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_id = id;
    int fd = lcd_bpf(BPF_PROG_GET_FD_BY_ID, &attr);
    if (fd >= 0) (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

// MARK: - mount_setattr(2)

// struct mount_attr comes from <sys/mount.h> (glibc ≥ 2.36); <linux/mount.h> would clash with it.

int lcd_mount_setattr(int dirfd, const char *path, unsigned int flags, unsigned long long set, unsigned long long clear) {
    struct mount_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.attr_set = set;
    attr.attr_clr = clear;
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof(attr));
}
