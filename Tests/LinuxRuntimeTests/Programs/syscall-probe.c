// Makes the system calls a hostile container would try and prints, for each,
// "<name> ok" or "<name> <errno name>". Used by SeccompProfileTests.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/io_uring.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static const char *name(int e) {
    switch (e) {
    case EPERM: return "EPERM";
    case ENOSYS: return "ENOSYS";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EINVAL: return "EINVAL";
    case EACCES: return "EACCES";
    default: return strerror(e);
    }
}

static void report(const char *what, long rc) {
    if (rc < 0) printf("%s %s\n", what, name(errno));
    else printf("%s ok\n", what);
}

int main(void) {
    report("vsock", socket(AF_VSOCK, SOCK_STREAM, 0));
    report("alg", socket(38, SOCK_SEQPACKET, 0));
    report("unix", socket(AF_UNIX, SOCK_STREAM, 0));
    struct io_uring_params params;
    memset(&params, 0, sizeof(params));
    report("io_uring_setup", syscall(__NR_io_uring_setup, 4, &params));
    report("userfaultfd", syscall(__NR_userfaultfd, 0));
    report("keyctl", syscall(__NR_keyctl, 0, 0, 0, 0, 0));
    report("future_syscall", syscall(1000, 0, 0, 0));
    report("clone3", syscall(__NR_clone3, NULL, 0));
    report("unshare_uts", unshare(CLONE_NEWUTS));
    report("personality_query", personality(0xffffffff));
    report("personality_read_implies_exec", personality(READ_IMPLIES_EXEC));
    pid_t child = fork();
    if (child == 0) _exit(0);
    if (child > 0) waitpid(child, NULL, 0);
    report("fork", child);
    fflush(stdout);
    return 0;
}
