/*
 * orphan.c - see orphan.h. A process whose parent died is re-parented to
 * PID 1, which in a container may never reap it: kill(pid, 0) then keeps
 * succeeding on the zombie, so the state letter in /proc/<pid>/stat decides.
 */
#include "cmd/kumod/orphan.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

long kumod_proc_read(pid_t pid, const char *file, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    int fd = size > 1 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return (long)n;
}

int kumod_pid_running(pid_t pid)
{
    char stat[512];
    if (pid <= 0 || kill(pid, 0) != 0 || kumod_proc_read(pid, "stat", stat, sizeof(stat)) < 0)
        return 0;
    const char *close_paren = strrchr(stat, ')'); /* the name may hold anything */
    return close_paren == NULL || close_paren[1] != ' ' ||
           (close_paren[2] != 'Z' && close_paren[2] != 'X');
}

void kumod_orphan_stop(pid_t pid, int graceful)
{
    kill(pid, graceful ? SIGTERM : SIGKILL);
    for (int i = 0; i < 1000 && kumod_pid_running(pid); i++) {
        struct timespec pause = {0, 5 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (kumod_pid_running(pid))
        kill(pid, SIGKILL);
}
