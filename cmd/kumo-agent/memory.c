/*
 * memory.c - keeps kumo-agent's resident set small (docs/agent.md, Memory).
 *
 * Most of a small daemon's RSS is not its own data but pages of the shared
 * libraries it maps: libcrypto (which nats.c loads) alone shows ~3.4 MiB,
 * because each page fault on a file mapping maps up to 16 neighbouring pages
 * ("fault-around") and start-up (relocation, OpenSSL's initialisation)
 * touches code that never runs again. Once the agent has joined the bus it
 * drops those pages from its page tables: for every read-only file mapping
 * that holds no private (copy-on-write) page, MADV_RANDOM (no fault-around
 * from now on) and MADV_DONTNEED (unmap the resident pages; they stay in the
 * page cache and come back, one by one, when used). Mappings that are
 * writable or hold a private page (RELRO after relocation) are left alone:
 * dropping those would lose data.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "apis/log/log.h"
#include "cmd/kumo-agent/internal.h"

typedef struct mapping {
    uintptr_t start, end;
    int candidate; /* read-only, backed by a file */
    long private_kb;
} mapping;

static void trim(const mapping *m, long *dropped_kb, long *rss_kb)
{
    if (!m->candidate || m->private_kb != 0 || m->end <= m->start)
        return;
    size_t len = m->end - m->start;
    madvise((void *)m->start, len, MADV_RANDOM);
    if (madvise((void *)m->start, len, MADV_DONTNEED) == 0)
        *dropped_kb += *rss_kb;
    *rss_kb = 0;
}

void agent_memory_trim(void)
{
    FILE *f = fopen("/proc/self/smaps", "re");
    if (f == NULL)
        return;
    char line[512];
    mapping m = {0};
    long rss_kb = 0, dropped_kb = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long start, end;
        char perms[8], path[256] = "";
        long kb;
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s", &start, &end, perms, path) >= 3 &&
            strchr(line, '-') < strchr(line, ' ')) {
            trim(&m, &dropped_kb, &rss_kb);
            m = (mapping){.start = start, .end = end};
            m.candidate = path[0] == '/' && perms[0] == 'r' && perms[1] == '-' && perms[3] == 'p';
            continue;
        }
        if (sscanf(line, "Rss: %ld kB", &kb) == 1)
            rss_kb = kb;
        else if (sscanf(line, "Anonymous: %ld kB", &kb) == 1 ||
                 sscanf(line, "Private_Dirty: %ld kB", &kb) == 1)
            m.private_kb += kb;
    }
    fclose(f);
    trim(&m, &dropped_kb, &rss_kb);
    KUMO_LOG_DEBUG(AGENT_LOG, "dropped start-up pages of shared libraries", "kb=%ld", dropped_kb);
}
