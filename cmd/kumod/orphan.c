/*
 * orphan.c - see orphan.h. A process whose parent died is re-parented to
 * PID 1, which in a container may never reap it: kill(pid, 0) then keeps
 * succeeding on the zombie, so the state letter in /proc/<pid>/stat decides.
 */
#include "cmd/kumod/orphan.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "apis/log/log.h"
#include "bus/agentbus/agentbus.h"

#define ORPHAN_POLL_MS 5

/* Reads /proc/<pid>/<file> into buf (NUL-terminated); its length, or -1. */
static long proc_read(pid_t pid, const char *file, char *buf, size_t size)
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
    if (pid <= 0 || kill(pid, 0) != 0 || proc_read(pid, "stat", stat, sizeof(stat)) < 0)
        return 0;
    const char *close_paren = strrchr(stat, ')'); /* the name may hold anything */
    return close_paren == NULL || close_paren[1] != ' ' ||
           (close_paren[2] != 'Z' && close_paren[2] != 'X');
}

/* SIGTERM (graceful) or SIGKILL, then waits for it to end; SIGKILL when it does not. */
static void orphan_stop(pid_t pid, int graceful)
{
    kill(pid, graceful ? SIGTERM : SIGKILL);
    for (int i = 0; i < KUMOD_ORPHAN_STOP_WAIT_MS / ORPHAN_POLL_MS && kumod_pid_running(pid); i++) {
        struct timespec pause = {0, ORPHAN_POLL_MS * 1000 * 1000L};
        nanosleep(&pause, NULL);
    }
    if (kumod_pid_running(pid))
        kill(pid, SIGKILL);
}

/* 1 when /proc/<pid>/cmdline is a nats-server whose JetStream directory is js_dir. */
static int is_our_nats_server(pid_t pid, const char *js_dir)
{
    char args[4096];
    long n = proc_read(pid, "cmdline", args, sizeof(args));
    if (n <= 0 || strstr(args, "nats-server") == NULL)
        return 0;
    for (const char *a = args; a < args + n; a += strlen(a) + 1)
        if (strcmp(a, "-sd") == 0 && a + strlen(a) + 1 < args + n &&
            strcmp(a + strlen(a) + 1, js_dir) == 0)
            return 1;
    return 0;
}

/* The embedded API bus: a nats-server on our JetStream directory. */
static void api_bus_orphans_stop(const char *js_dir)
{
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return;
    struct dirent *entry;
    while ((entry = readdir(proc)) != NULL) {
        if (entry->d_name[0] < '1' || entry->d_name[0] > '9')
            continue;
        pid_t pid = (pid_t)strtol(entry->d_name, NULL, 10);
        if (!is_our_nats_server(pid, js_dir) || !kumod_pid_running(pid))
            continue;
        KUMO_LOG_WARN("kumod", "stopping the nats-server left behind by a previous kumod",
                      "pid=%d store_dir=%s", (int)pid, js_dir);
        orphan_stop(pid, 1);
    }
    closedir(proc);
}

/* The agent bus named by its pid file, if that pid is still a nats-server. */
static void agent_bus_orphan_stop(const char *pid_file)
{
    int pid = 0;
    FILE *f = fopen(pid_file, "r");
    if (f == NULL)
        return;
    if (fscanf(f, "%d", &pid) != 1)
        pid = 0;
    fclose(f);
    char args[256];
    if (pid <= 1 || !kumod_pid_running((pid_t)pid) ||
        proc_read((pid_t)pid, "cmdline", args, sizeof(args)) <= 0 ||
        strstr(args, "nats-server") == NULL)
        return;
    KUMO_LOG_WARN("kumod", "stopping the agent bus left behind by a previous kumod", "pid=%d", pid);
    orphan_stop((pid_t)pid, 0); /* it keeps no state: no graceful stop needed */
}

void kumod_orphans_stop(const char *data_dir)
{
    char path[1100];
    snprintf(path, sizeof(path), "%s/nats", data_dir);
    api_bus_orphans_stop(path);
    snprintf(path, sizeof(path), "%s/%s", data_dir, KUMO_AGENTBUS_PID_FILE);
    agent_bus_orphan_stop(path);
}
