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
