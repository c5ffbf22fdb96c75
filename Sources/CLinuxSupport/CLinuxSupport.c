#define _GNU_SOURCE
#include "CLinuxSupport.h"
#include <sched.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <linux/sched.h>

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
