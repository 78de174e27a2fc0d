/*
 * sources.c - where manifests come from (-f FILE, -f DIR, -f -), how they are
 * read within a size limit, and how their errors are printed.
 *
 * Reading is bounded: a regular file larger than the limit is refused from
 * its size before any byte is read; a pipe is read until one byte past the
 * limit and then refused. So 100 MiB of input costs at most limit + 1 bytes.
 */
#include "cmd/kumoctl/kumoctl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- collecting ----------------------------------------------------------------- */

static int sources_push(kumoctl_sources *sources, const char *path, int is_stdin)
{
    if (sources->count == sources->cap) {
        size_t cap = sources->cap ? sources->cap * 2 : 8;
        kumoctl_source *grown = realloc(sources->items, cap * sizeof(*grown));
        if (grown == NULL) {
            kumoctl_error("out of memory");
            return -1;
        }
        sources->items = grown;
        sources->cap = cap;
    }
    char *copy = strdup(path);
    if (copy == NULL) {
        kumoctl_error("out of memory");
        return -1;
    }
    sources->items[sources->count++] = (kumoctl_source){copy, is_stdin};
    return 0;
}

static int has_manifest_extension(const char *name)
{
    static const char *const extensions[] = {".yaml", ".yml", ".json"};
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof(extensions) / sizeof(extensions[0]); i++) {
        size_t n = strlen(extensions[i]);
        if (len > n && strcmp(name + len - n, extensions[i]) == 0)
            return 1;
    }
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the entry names of a directory, sorted, into *names_out. -1 (error printed) on failure. */
static int directory_names(const char *dir, char ***names_out, size_t *count_out)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        kumoctl_error("cannot read directory %s: %s", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(names, cap * sizeof(*grown));
            if (grown == NULL)
                break;
            names = grown;
        }
        names[count] = strdup(entry->d_name);
        if (names[count] == NULL)
            break;
        count++;
    }
    closedir(d);
    if (entry != NULL) {
        for (size_t i = 0; i < count; i++)
            free(names[i]);
        free(names);
        kumoctl_error("out of memory listing %s", dir);
        return -1;
    }
    if (count > 0)
        qsort(names, count, sizeof(*names), compare_names);
    *names_out = names;
    *count_out = count;
    return 0;
}

static int add_directory(kumoctl_sources *sources, const char *dir, int recursive)
{
    size_t count = 0;
    char **names = NULL;
    if (directory_names(dir, &names, &count) != 0)
        return -1;
    int status = 0;
    for (size_t i = 0; i < count; i++) {
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(len);
        struct stat st;
        if (path == NULL) {
            kumoctl_error("out of memory");
            status = -1;
            break;
        }
        snprintf(path, len, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", names[i]);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (recursive && add_directory(sources, path, recursive) != 0)
                status = -1;
        } else if (has_manifest_extension(names[i]) && sources_push(sources, path, 0) != 0) {
            status = -1;
        }
        free(path);
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return status;
}

int kumoctl_sources_add(kumoctl_sources *sources, const char *arg, int recursive)
{
    struct stat st;
    if (strcmp(arg, "-") == 0)
        return sources_push(sources, KUMOCTL_STDIN_NAME, 1);
    if (stat(arg, &st) != 0) {
        kumoctl_error("cannot read %s: %s; give an existing file, a directory or - for stdin", arg,
                      strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return sources_push(sources, arg, 0);
    size_t before = sources->count;
    if (add_directory(sources, arg, recursive) != 0)
        return -1;
    if (sources->count == before) {
        kumoctl_error("directory %s holds no *.yaml, *.yml or *.json files%s", arg,
                      recursive ? "" : " (use -R to include its subdirectories)");
        return -1;
    }
    return 0;
}

void kumoctl_sources_free(kumoctl_sources *sources)
{
    for (size_t i = 0; i < sources->count; i++)
        free(sources->items[i].path);
    free(sources->items);
    memset(sources, 0, sizeof(*sources));
}

/* ---- reading ------------------------------------------------------------------ */

static void too_large(const kumoctl_source *source, size_t max_bytes)
{
    kumoctl_error("%s is larger than the limit of %zu bytes; split it, or raise the limit with "
                  "--max-bytes if it is meant to be this big",
                  source->is_stdin ? "input from stdin" : source->path, max_bytes);
}

/* Reads fd to the end or to max_bytes + 1 bytes. */
static char *read_bounded(int fd, const kumoctl_source *source, size_t max_bytes, size_t hint,
                          size_t *len_out)
{
    size_t cap = hint > 0 && hint <= max_bytes ? hint + 1 : 65536, len = 0;
    char *buf = malloc(cap + 1);
    while (buf != NULL) {
        if (len == cap) {
            size_t next = cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2;
            char *grown = next > cap ? realloc(buf, next + 1) : NULL;
            if (grown == NULL)
                break;
            buf = grown;
            cap = next;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            kumoctl_error("cannot read %s: %s", source->path, strerror(errno));
            free(buf);
            return NULL;
        }
        if (n == 0) {
            buf[len] = '\0';
            *len_out = len;
            return buf;
        }
        len += (size_t)n;
        if (len > max_bytes)
            break;
    }
    if (buf != NULL && len > max_bytes)
        too_large(source, max_bytes);
    else
        kumoctl_error("out of memory reading %s", source->path);
    free(buf);
    return NULL;
}

char *kumoctl_source_read(const kumoctl_source *source, size_t max_bytes, size_t *len_out)
{
    int fd = source->is_stdin ? STDIN_FILENO : open(source->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        kumoctl_error("cannot open %s: %s", source->path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        kumoctl_error("%s is a directory; give it to -f on its own to read its manifests",
                      source->path);
    } else if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size > max_bytes) {
        too_large(source, max_bytes);
    } else {
        size_t hint = S_ISREG(st.st_mode) ? (size_t)st.st_size : 0;
        text = read_bounded(fd, source, max_bytes, hint, len_out);
    }
    if (!source->is_stdin)
        close(fd);
    return text;
}

kumo_codec_format kumoctl_source_format(const kumoctl_source *source, const char *text, size_t len)
{
    size_t n = strlen(source->path);
    if (n > 5 && strcmp(source->path + n - 5, ".json") == 0)
        return KUMO_CODEC_FORMAT_JSON;
    if ((n > 5 && strcmp(source->path + n - 5, ".yaml") == 0) ||
        (n > 4 && strcmp(source->path + n - 4, ".yml") == 0))
        return KUMO_CODEC_FORMAT_YAML;
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
        i++;
    return i < len && (text[i] == '{' || text[i] == '[') ? KUMO_CODEC_FORMAT_JSON
                                                         : KUMO_CODEC_FORMAT_YAML;
}

/* ---- reporting ------------------------------------------------------------------ */

const char *kumoctl_location(const kumoctl_source *source, int line, char *buf, size_t size)
{
    if (line > 0)
        snprintf(buf, size, "%s:%d", source->path, line);
    else
        snprintf(buf, size, "%s", source->path);
    return buf;
}

void kumoctl_print_document_errors(const char *location, const kumo_object_document *doc,
                                   const kumo_diag *diag)
{
    const char *name = doc->object ? kumo_object_name(doc->object) : "";
    char cause[4096];
    if (diag->code == KUMO_ERROR_INVALID && doc->object != NULL && diag->cause_count > 0) {
        for (size_t i = 0; i < diag->cause_count; i++) {
            kumo_diag_format_cause(&diag->causes[i], cause, sizeof(cause));
            fprintf(stderr, "%s: %s \"%s\" is invalid: %s\n", location, doc->kind->kind, name,
                    cause);
        }
        return;
    }
    /* A decode failure: the decoder's sentence, then any cause it does not already name. */
    fprintf(stderr, "%s: %s\n", location,
            diag->message[0] ? diag->message : kumo_error_text(diag->code));
    for (size_t i = 0; i < diag->cause_count; i++) {
        kumo_diag_format_cause(&diag->causes[i], cause, sizeof(cause));
        if (strstr(diag->message, cause) == NULL)
            fprintf(stderr, "%s: %s\n", location, cause);
    }
}
