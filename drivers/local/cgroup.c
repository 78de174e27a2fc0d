/*
 * cgroup.c - instance types as CPU and memory limits.
 *
 * Each machine gets kumo-local/<prefix>-<C>-<machine id> with
 *   cgroup v2 (/sys/fs/cgroup with cpu and memory controllers):
 *       cpu.max "<vcpu*100000> 100000", memory.max <bytes>
 *   cgroup v1 (/sys/fs/cgroup/cpu and /sys/fs/cgroup/memory):
 *       cpu.cfs_quota_us / cpu.cfs_period_us, memory.limit_in_bytes
 * and the machine's process joins it before it executes. Without writable
 * cgroups (or with cgroups=off) machines run unlimited; the reason is logged
 * once per connection and shown by `control inventory`.
 */
#define _GNU_SOURCE
#include "drivers/local/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ROOT   "/sys/fs/cgroup"
#define PARENT "kumo-local"

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int has_word(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = strstr(text, word); p != NULL; p = strstr(p + 1, word))
        if ((p == text || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

int local_cgroup_detect(char *note, size_t size)
{
    char text[512] = "";
    int fd = open(ROOT "/cgroup.controllers", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, text, sizeof(text) - 1);
        close(fd);
        text[n > 0 ? n : 0] = '\0';
        if (has_word(text, "cpu") && has_word(text, "memory") && access(ROOT, W_OK) == 0) {
            snprintf(note, size, "cgroup v2 at " ROOT);
            return LOCAL_CGROUP_V2;
        }
        snprintf(note, size,
                 "cgroup v2 at " ROOT " lacks the cpu or memory controller or is "
                 "read-only: machines run without CPU and memory limits");
        return LOCAL_CGROUP_NONE;
    }
    if (access(ROOT "/cpu/cgroup.procs", F_OK) == 0 &&
        access(ROOT "/memory/cgroup.procs", F_OK) == 0 && access(ROOT "/cpu", W_OK) == 0 &&
        access(ROOT "/memory", W_OK) == 0) {
        snprintf(note, size, "cgroup v1 at " ROOT "/cpu and " ROOT "/memory");
        return LOCAL_CGROUP_V1;
    }
    snprintf(note, size,
             "no writable cgroup v2 or v1 cpu and memory hierarchy under " ROOT
             ": machines run without CPU and memory limits");
    return LOCAL_CGROUP_NONE;
}

static int make_dir(const char *path)
{
    return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

void local_cgroup_path(struct kumo_driver_conn *c, const char *machine_id, char *buf, size_t size)
{
    char name[128];
    local_cgroup_name(c, machine_id, name, sizeof(name));
    if (c->cgroup_mode == LOCAL_CGROUP_V2)
        snprintf(buf, size, ROOT "/" PARENT "/%s", name);
    else if (c->cgroup_mode == LOCAL_CGROUP_V1)
        snprintf(buf, size, ROOT "/memory/" PARENT "/%s", name);
    else
        buf[0] = '\0';
}

int local_cgroup_ensure(struct kumo_driver_conn *c, const char *machine_id, int vcpu,
                        int memory_mib, char procs[2][LOCAL_NAME_MAX], char *err, size_t size)
{
    char name[128], dir[384], file[LOCAL_NAME_MAX + 32], value[64];
    procs[0][0] = procs[1][0] = '\0';
    local_cgroup_name(c, machine_id, name, sizeof(name));
    long long quota = (long long)vcpu * 100000, bytes = (long long)memory_mib * 1024 * 1024;
    const char *failed = NULL;
    if (c->cgroup_mode == LOCAL_CGROUP_V2) {
        write_file(ROOT "/cgroup.subtree_control", "+cpu +memory"); /* often already on */
        snprintf(dir, sizeof(dir), ROOT "/" PARENT "/%s", name);
        if (make_dir(ROOT "/" PARENT) != 0)
            failed = ROOT "/" PARENT;
        else if (write_file(ROOT "/" PARENT "/cgroup.subtree_control", "+cpu +memory") != 0)
            failed = ROOT "/" PARENT "/cgroup.subtree_control";
        else if (make_dir(dir) != 0)
            failed = dir;
        snprintf(value, sizeof(value), "%lld 100000", quota);
        snprintf(file, sizeof(file), "%s/cpu.max", dir);
        if (failed == NULL && write_file(file, value) != 0)
            failed = file;
        snprintf(value, sizeof(value), "%lld", bytes);
        snprintf(file, sizeof(file), "%s/memory.max", dir);
        if (failed == NULL && write_file(file, value) != 0)
            failed = file;
        snprintf(procs[0], LOCAL_NAME_MAX, "%s/cgroup.procs", dir);
    } else if (c->cgroup_mode == LOCAL_CGROUP_V1) {
        static const char *const controllers[2] = {"cpu", "memory"};
        for (int i = 0; i < 2 && failed == NULL; i++) {
            snprintf(dir, sizeof(dir), ROOT "/%s/" PARENT, controllers[i]);
            if (make_dir(dir) != 0) {
                failed = controllers[i];
                break;
            }
            snprintf(dir, sizeof(dir), ROOT "/%s/" PARENT "/%s", controllers[i], name);
            if (make_dir(dir) != 0) {
                failed = controllers[i];
                break;
            }
            if (i == 0) {
                snprintf(file, sizeof(file), "%s/cpu.cfs_period_us", dir);
                if (write_file(file, "100000") != 0)
                    failed = "cpu.cfs_period_us";
                snprintf(value, sizeof(value), "%lld", quota);
                snprintf(file, sizeof(file), "%s/cpu.cfs_quota_us", dir);
                if (failed == NULL && write_file(file, value) != 0)
                    failed = "cpu.cfs_quota_us";
            } else {
                snprintf(value, sizeof(value), "%lld", bytes);
                snprintf(file, sizeof(file), "%s/memory.limit_in_bytes", dir);
                if (write_file(file, value) != 0)
                    failed = "memory.limit_in_bytes";
            }
            snprintf(procs[i], LOCAL_NAME_MAX, "%s/cgroup.procs", dir);
        }
    } else {
        snprintf(err, size, "%s", c->cgroup_note);
        return -1;
    }
    if (failed != NULL) {
        snprintf(err, size, "cgroup %s: %s: %s (the machine runs without limits)", name, failed,
                 strerror(errno));
        procs[0][0] = procs[1][0] = '\0';
        local_cgroup_remove(c, machine_id);
        return -1;
    }
    return 0;
}

/* rmdir, waiting up to a second for processes that are still dying. */
static void remove_dir(const char *dir)
{
    for (int i = 0; i < LOCAL_CGROUP_RETRY_COUNT; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return;
        if (errno != EBUSY)
            break;
        struct timespec ts = {0, LOCAL_CGROUP_RETRY_MS * 1000000};
        nanosleep(&ts, NULL);
    }
    local_log(KUMO_DRIVER_LOG_WARN, "cannot remove cgroup %s: %s", dir, strerror(errno));
}

void local_cgroup_remove(struct kumo_driver_conn *c, const char *machine_id)
{
    char name[128], dir[LOCAL_NAME_MAX];
    local_cgroup_name(c, machine_id, name, sizeof(name));
    if (c->cgroup_mode == LOCAL_CGROUP_V2) {
        snprintf(dir, sizeof(dir), ROOT "/" PARENT "/%s", name);
        remove_dir(dir);
        rmdir(ROOT "/" PARENT); /* when no other machine uses it */
    } else if (c->cgroup_mode == LOCAL_CGROUP_V1) {
        static const char *const controllers[2] = {"cpu", "memory"};
        for (int i = 0; i < 2; i++) {
            snprintf(dir, sizeof(dir), ROOT "/%s/" PARENT "/%s", controllers[i], name);
            remove_dir(dir);
            snprintf(dir, sizeof(dir), ROOT "/%s/" PARENT, controllers[i]);
            rmdir(dir);
        }
    }
}
