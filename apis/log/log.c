/*
 * log.c - formats one key=value line per event and writes it in one call.
 */
#include "apis/log/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = KUMO_LOG_LEVEL_INFO;
static FILE *_Atomic log_stream;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};

void kumo_log_set_level(kumo_log_level level)
{
    atomic_store(&log_level, (int)level);
}

kumo_log_level kumo_log_get_level(void)
{
    return (kumo_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

void kumo_log_set_stream(FILE *stream)
{
    atomic_store(&log_stream, stream);
}

const char *kumo_log_level_name(kumo_log_level level)
{
    if ((unsigned)level > KUMO_LOG_LEVEL_OFF)
        return "UNKNOWN";
    return level_names[level];
}

int kumo_log_level_parse(const char *text, kumo_log_level *out)
{
    for (int i = 0; i <= KUMO_LOG_LEVEL_OFF; i++) {
        if (strcasecmp(text, level_names[i]) == 0) {
            *out = (kumo_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(text, "warning") == 0) {
        *out = KUMO_LOG_LEVEL_WARN;
        return 0;
    }
    return -1;
}

/* Appends `text` quoted, escaping quotes, backslashes and control bytes. */
static size_t append_quoted(char *buf, size_t len, size_t size, const char *text)
{
    if (len < size)
        buf[len++] = '"';
    for (const char *p = text; *p && len + 4 < size; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)c;
        } else if (c == '\n') {
            buf[len++] = '\\';
            buf[len++] = 'n';
        } else if (c < 0x20) {
            buf[len++] = ' ';
        } else {
            buf[len++] = (char)c;
        }
    }
    if (len < size)
        buf[len++] = '"';
    return len;
}

void kumo_log_write(kumo_log_level level, const char *component, const char *message,
                    const char *kv_fmt, ...)
{
    char line[4096];
    size_t size = sizeof(line) - 1; /* room for the newline */
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    int n =
        snprintf(line, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000,
                 kumo_log_level_name(level), component ? component : "kumo");
    size_t len = n < 0 ? 0 : ((size_t)n < size ? (size_t)n : size - 1);
    if (kv_fmt != NULL && kv_fmt[0] != '\0' && len + 1 < size) {
        line[len++] = ' ';
        va_list ap;
        va_start(ap, kv_fmt);
        n = vsnprintf(line + len, size - len, kv_fmt, ap);
        va_end(ap);
        if (n > 0)
            len += (size_t)n < size - len ? (size_t)n : size - len - 1;
    }
    if (message != NULL && len + 6 < size) {
        memcpy(line + len, " msg=", 5);
        len = append_quoted(line, len + 5, size, message);
    }
    line[len++] = '\n';
    FILE *stream = atomic_load(&log_stream);
    if (stream == NULL)
        stream = stderr;
    fflush(stream);
    ssize_t ignored = write(fileno(stream), line, len);
    (void)ignored;
}
