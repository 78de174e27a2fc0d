/*
 * log.h - the leveled key=value logger every kumo process uses.
 *
 * One line per event:
 *   2026-11-24T10:02:03.123Z INFO store path=/var/lib/kumo revision=42 msg="store opened"
 * The KUMO_LOG_* macros test the level before any formatting happens, so a
 * disabled debug line costs one comparison. Never log a secret.
 *
 * Thread safety: lines from concurrent threads never interleave (one write(2)
 * per line). Level and sink are process-wide settings made at start-up.
 */
#ifndef KUMO_LOG_H
#define KUMO_LOG_H

#include <stdio.h>

typedef enum kumo_log_level {
    KUMO_LOG_LEVEL_DEBUG = 0,
    KUMO_LOG_LEVEL_INFO,
    KUMO_LOG_LEVEL_WARN,
    KUMO_LOG_LEVEL_ERROR,
    KUMO_LOG_LEVEL_OFF,
} kumo_log_level;

/* Sets the lowest level written. Default: INFO. */
void kumo_log_set_level(kumo_log_level level);
kumo_log_level kumo_log_get_level(void);
/* Where lines go; default stderr. The stream is borrowed until replaced. */
void kumo_log_set_stream(FILE *stream);
/* Parses "debug", "info", "warn", "error", "off". Returns 0 on success, -1 otherwise. */
int kumo_log_level_parse(const char *text, kumo_log_level *out);
const char *kumo_log_level_name(kumo_log_level level);

/*
 * Writes one line: `component` (a word), then the key=value pairs formatted
 * from `kv_fmt` (may be NULL or ""), then msg="..." with quotes escaped.
 */
void kumo_log_write(kumo_log_level level, const char *component, const char *message,
                    const char *kv_fmt, ...) __attribute__((format(printf, 4, 5)));

#define KUMO_LOG_ENABLED(level) ((level) >= kumo_log_get_level())

#define KUMO_LOG_(level, component, message, ...)                                                  \
    do {                                                                                           \
        if (KUMO_LOG_ENABLED(level))                                                               \
            kumo_log_write(level, component, message, __VA_ARGS__);                                \
    } while (0)

/* KUMO_LOG_INFO("store", "store opened", "path=%s revision=%lld", path, rev); */
#define KUMO_LOG_DEBUG(component, message, ...)                                                    \
    KUMO_LOG_(KUMO_LOG_LEVEL_DEBUG, component, message, __VA_ARGS__)
#define KUMO_LOG_INFO(component, message, ...)                                                     \
    KUMO_LOG_(KUMO_LOG_LEVEL_INFO, component, message, __VA_ARGS__)
#define KUMO_LOG_WARN(component, message, ...)                                                     \
    KUMO_LOG_(KUMO_LOG_LEVEL_WARN, component, message, __VA_ARGS__)
#define KUMO_LOG_ERROR(component, message, ...)                                                    \
    KUMO_LOG_(KUMO_LOG_LEVEL_ERROR, component, message, __VA_ARGS__)

#endif
