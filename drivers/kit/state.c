/*
 * state.c - the state file format every driver of the kit shares: what a
 * driver must remember that its cloud cannot tell it (tokens, names, tags,
 * addresses it chose). One record per line, fields separated by TAB:
 *
 *     <word><TAB>key=value<TAB>key=value...
 *
 * Values escape '%', '=', ',', TAB, newline and other control bytes as %XX;
 * a list field repeats its key once per element (tag=key=value,
 * subnet=id,name,cidr,zone, rule=dir,proto,from,to,cidr,description, or the
 * element itself for a list of strings). A driver describes its object's
 * fields as a table (kumo_driver_kit_field rows); the kit writes and reads
 * them. Unknown keys are ignored when reading (a newer writer's fields).
 *
 * The file is rewritten whole and atomically: a temporary file, fsync,
 * rename, fsync of the folder.
 */
#define _GNU_SOURCE
#include "drivers/kit/kit.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PARTS 8

/* ---- Writing ------------------------------------------------------------------- */

static void put_escaped(struct kumo_driver_kit_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '%' || *p == '=' || *p == ',' || *p < 0x20 || *p == 0x7f) {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            kumo_driver_kit_buf_add(b, esc, 3);
        } else {
            kumo_driver_kit_buf_add(b, (const char *)p, 1);
        }
    }
}

/* `\tkey=` then the parts, escaped, joined by sep. */
static void put_parts(struct kumo_driver_kit_buf *b, const char *key, char sep,
                      const char *const *parts, int n)
{
    kumo_driver_kit_buf_printf(b, "\t%s=", key);
    for (int i = 0; i < n; i++) {
        if (i > 0)
            kumo_driver_kit_buf_add(b, &sep, 1);
        put_escaped(b, parts[i]);
    }
}

/* The text of a number field at `at` into buf (size 24). */
static void number_text(kumo_driver_kit_field_kind kind, const char *at, char *buf)
{
    if (kind == KUMO_DRIVER_KIT_FIELD_INT)
        snprintf(buf, 24, "%d", *(const int *)at);
    else if (kind == KUMO_DRIVER_KIT_FIELD_INT64)
        snprintf(buf, 24, "%lld", (long long)*(const int64_t *)at);
    else if (kind == KUMO_DRIVER_KIT_FIELD_UINT64)
        snprintf(buf, 24, "%lld", (long long)*(const uint64_t *)at);
    else if (kind == KUMO_DRIVER_KIT_FIELD_UINT32)
        snprintf(buf, 24, "%u", (unsigned)*(const uint32_t *)at);
    else
        snprintf(buf, 24, "%.17g", *(const double *)at);
}

static int number_is_zero(kumo_driver_kit_field_kind kind, const char *at)
{
    switch (kind) {
    case KUMO_DRIVER_KIT_FIELD_INT:
        return *(const int *)at == 0;
    case KUMO_DRIVER_KIT_FIELD_INT64:
        return *(const int64_t *)at == 0;
    case KUMO_DRIVER_KIT_FIELD_UINT64:
        return *(const uint64_t *)at == 0;
    case KUMO_DRIVER_KIT_FIELD_UINT32:
        return *(const uint32_t *)at == 0;
    default:
        return *(const double *)at == 0;
    }
}

/* One element of a ROWS list: its columns joined by ','. */
static void put_row(struct kumo_driver_kit_buf *b, const struct kumo_driver_kit_field *f,
                    const char *element)
{
    char num[MAX_PARTS][24];
    const char *parts[MAX_PARTS];
    for (size_t k = 0; k < f->column_count && k < MAX_PARTS; k++) {
        const struct kumo_driver_kit_field *col = &f->columns[k];
        if (col->kind == KUMO_DRIVER_KIT_FIELD_STRING) {
            parts[k] = *(char *const *)(element + col->offset);
        } else {
            number_text(col->kind, element + col->offset, num[k]);
            parts[k] = num[k];
        }
    }
    put_parts(b, f->key, ',', parts, (int)f->column_count);
}

static void put_list(struct kumo_driver_kit_buf *b, const struct kumo_driver_kit_field *f,
                     const char *at, size_t count)
{
    char num[4][16];
    for (size_t i = 0; i < count; i++) {
        if (f->kind == KUMO_DRIVER_KIT_FIELD_ROWS) {
            put_row(b, f, *(char *const *)at + i * f->element_size);
        } else if (f->kind == KUMO_DRIVER_KIT_FIELD_STRINGS) {
            const char *s = (*(char *const *const *)at)[i];
            put_parts(b, f->key, ',', &s, 1);
        } else if (f->kind == KUMO_DRIVER_KIT_FIELD_TAGS) {
            const struct kumo_driver_kit_tag *t = &(*(struct kumo_driver_kit_tag *const *)at)[i];
            const char *parts[2] = {t->key, t->value};
            put_parts(b, f->key, '=', parts, 2);
        } else if (f->kind == KUMO_DRIVER_KIT_FIELD_SUBNETS) {
            const struct kumo_driver_kit_subnet *s =
                &(*(struct kumo_driver_kit_subnet *const *)at)[i];
            const char *parts[4] = {s->id, s->name, s->cidr, s->zone};
            put_parts(b, f->key, ',', parts, 4);
        } else {
            const struct kumo_driver_kit_rule *r = &(*(struct kumo_driver_kit_rule *const *)at)[i];
            int ints[4] = {r->direction, r->protocol, r->from_port, r->to_port};
            for (int k = 0; k < 4; k++)
                snprintf(num[k], sizeof(num[k]), "%d", ints[k]);
            const char *parts[6] = {num[0], num[1], num[2], num[3], r->cidr, r->description};
            put_parts(b, f->key, ',', parts, 6);
        }
    }
}

void kumo_driver_kit_state_put(struct kumo_driver_kit_buf *b,
                               const struct kumo_driver_kit_field *fields, size_t count,
                               const void *object)
{
    for (size_t i = 0; i < count; i++) {
        const struct kumo_driver_kit_field *f = &fields[i];
        const char *at = (const char *)object + f->offset;
        switch (f->kind) {
        case KUMO_DRIVER_KIT_FIELD_STRING:
            if (*(char *const *)at != NULL)
                put_parts(b, f->key, ',', (const char *const *)at, 1);
            break;
        case KUMO_DRIVER_KIT_FIELD_INT:
        case KUMO_DRIVER_KIT_FIELD_INT64:
        case KUMO_DRIVER_KIT_FIELD_UINT64:
        case KUMO_DRIVER_KIT_FIELD_UINT32:
        case KUMO_DRIVER_KIT_FIELD_DOUBLE:
            if (!number_is_zero(f->kind, at)) {
                char num[24];
                number_text(f->kind, at, num);
                kumo_driver_kit_buf_printf(b, "\t%s=%s", f->key, num);
            }
            break;
        default:
            put_list(b, f, at, *(const size_t *)((const char *)object + f->count_offset));
        }
    }
}

kumo_driver_code kumo_driver_kit_state_write(const char *path, const struct kumo_driver_kit_buf *b,
                                             struct kumo_driver_diag *diag)
{
    char tmp[4096 + 8], dir[4096];
    if (b->failed)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "StateUnwritable",
                                    "out of memory writing %s", path);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok = fd >= 0;
    size_t done = 0;
    while (ok && done < b->len) {
        ssize_t n = write(fd, b->data + done, b->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        done += ok ? (size_t)n : 0;
    }
    ok = ok && fsync(fd) == 0;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    ok = ok && rename(tmp, path) == 0;
    if (!ok) {
        saved = errno ? errno : saved;
        unlink(tmp);
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "StateUnwritable",
                                    "writing the state file %s: %s", path, strerror(saved));
    }
    snprintf(dir, sizeof(dir), "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return KUMO_DRIVER_OK;
}

/* ---- Reading ------------------------------------------------------------------- */

kumo_driver_code kumo_driver_kit_state_read(const char *path, char **text,
                                            struct kumo_driver_diag *diag)
{
    *text = NULL;
    FILE *f = fopen(path, "re");
    if (f == NULL && errno == ENOENT)
        return KUMO_DRIVER_NOT_FOUND;
    struct kumo_driver_kit_buf b;
    kumo_driver_kit_buf_init(&b);
    char chunk[8192];
    size_t n;
    while (f != NULL && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        kumo_driver_kit_buf_add(&b, chunk, n);
    int failed = f == NULL || ferror(f);
    int saved = errno;
    if (f != NULL)
        fclose(f);
    if (!failed && !b.failed && (*text = b.data != NULL ? b.data : strdup("")) != NULL)
        return KUMO_DRIVER_OK;
    kumo_driver_kit_buf_fini(&b);
    if (!failed)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "StateUnreadable",
                                    "out of memory reading %s", path);
    return kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "StateUnreadable",
                                "reading the state file %s: %s", path, strerror(saved));
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* Unescapes [s, s+n) into a new string; NULL on a bad escape or no memory. */
static char *unescape(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; out != NULL && i < n; i++) {
        if (s[i] != '%') {
            out[k++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
        int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[k++] = (char)(hi * 16 + lo);
        i += 2;
    }
    if (out != NULL)
        out[k] = '\0';
    return out;
}

/* Splits value at sep into exactly `want` unescaped parts; 0, or -1 (nothing kept). */
static int split(const char *value, char sep, char **parts, int want)
{
    int n = 0;
    const char *p = value;
    for (;;) {
        const char *end = want > 1 ? strchr(p, sep) : NULL;
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (n == want || (parts[n] = unescape(p, len)) == NULL)
            break;
        n++;
        if (end == NULL)
            break;
        p = end + 1;
    }
    if (n == want)
        return 0;
    for (int i = 0; i < n; i++)
        free(parts[i]);
    return -1;
}

static int parse_ll(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* Grows the list at `at` (count at count) by one zeroed element of size; its address or NULL. */
static void *list_grow(char *at, size_t *count, size_t size)
{
    void **array = (void **)at;
    void *grown = realloc(*array, (*count + 1) * size);
    if (grown == NULL)
        return NULL;
    *array = grown;
    void *slot = (char *)grown + *count * size;
    memset(slot, 0, size);
    (*count)++;
    return slot;
}

/* Sets the number field of kind at `at` from text; 0 or -1. */
static int set_number(kumo_driver_kit_field_kind kind, char *at, const char *text)
{
    long long n;
    if (kind == KUMO_DRIVER_KIT_FIELD_DOUBLE) {
        char *end;
        double d = strtod(text, &end);
        if (end == text || *end != '\0')
            return -1;
        memcpy(at, &d, sizeof(d));
        return 0;
    }
    if (parse_ll(text, &n) != 0)
        return -1;
    if (kind == KUMO_DRIVER_KIT_FIELD_INT)
        *(int *)at = (int)n;
    else if (kind == KUMO_DRIVER_KIT_FIELD_INT64)
        *(int64_t *)at = n;
    else if (kind == KUMO_DRIVER_KIT_FIELD_UINT32)
        *(uint32_t *)at = (uint32_t)n;
    else
        *(uint64_t *)at = (uint64_t)n;
    return 0;
}

/* Fills a ROWS element from its parts (taking the strings); 0 or -1. */
static int get_row(const struct kumo_driver_kit_field *f, char *element, char **parts)
{
    int ok = 1;
    for (size_t k = 0; k < f->column_count; k++) {
        const struct kumo_driver_kit_field *col = &f->columns[k];
        if (col->kind == KUMO_DRIVER_KIT_FIELD_STRING) {
            *(char **)(element + col->offset) = parts[k];
            parts[k] = NULL;
        } else {
            ok = ok && set_number(col->kind, element + col->offset, parts[k]) == 0;
        }
    }
    for (size_t k = 0; k < f->column_count; k++)
        free(parts[k]);
    return ok ? 0 : -1;
}

static int get_rule(struct kumo_driver_kit_rule *r, char **parts)
{
    long long v[4];
    for (int i = 0; i < 4; i++)
        if (parse_ll(parts[i], &v[i]) != 0)
            return -1;
    r->direction = (int)v[0];
    r->protocol = (int)v[1];
    r->from_port = (int)v[2];
    r->to_port = (int)v[3];
    r->cidr = parts[4];
    r->description = parts[5];
    for (int i = 0; i < 4; i++)
        free(parts[i]);
    return 0;
}

/* One element of a list field from raw; -1 when malformed or out of memory. */
/* One element of a list field from raw; -1 when malformed or out of memory. */
static int get_element(const struct kumo_driver_kit_field *f, char *at, size_t *count,
                       const char *raw)
{
    static const int parts_of[] = {[KUMO_DRIVER_KIT_FIELD_STRINGS] = 1,
                                   [KUMO_DRIVER_KIT_FIELD_TAGS] = 2,
                                   [KUMO_DRIVER_KIT_FIELD_SUBNETS] = 4,
                                   [KUMO_DRIVER_KIT_FIELD_RULES] = 6};
    static const size_t size_of[] = {
        [KUMO_DRIVER_KIT_FIELD_STRINGS] = sizeof(char *),
        [KUMO_DRIVER_KIT_FIELD_TAGS] = sizeof(struct kumo_driver_kit_tag),
        [KUMO_DRIVER_KIT_FIELD_SUBNETS] = sizeof(struct kumo_driver_kit_subnet),
        [KUMO_DRIVER_KIT_FIELD_RULES] = sizeof(struct kumo_driver_kit_rule)};
    int rows = f->kind == KUMO_DRIVER_KIT_FIELD_ROWS;
    int want = rows ? (int)f->column_count : parts_of[f->kind];
    char *parts[MAX_PARTS];
    if (want > MAX_PARTS ||
        split(raw, f->kind == KUMO_DRIVER_KIT_FIELD_TAGS ? '=' : ',', parts, want) != 0)
        return -1;
    char *slot = list_grow(at, count, rows ? f->element_size : size_of[f->kind]);
    if (slot != NULL && rows)
        return get_row(f, slot, parts); /* takes or frees every part */
    if (slot != NULL && f->kind == KUMO_DRIVER_KIT_FIELD_RULES &&
        get_rule((void *)slot, parts) == 0)
        return 0;
    if (slot != NULL && f->kind != KUMO_DRIVER_KIT_FIELD_RULES) {
        memcpy(slot, parts, (size_t)want * sizeof(char *)); /* the strings, in order */
        return 0;
    }
    for (int i = 0; i < want; i++)
        free(parts[i]);
    return -1; /* a grown element stays zeroed: freed with the object */
}

int kumo_driver_kit_state_get(const struct kumo_driver_kit_field *fields, size_t count,
                              void *object, const char *key, const char *raw)
{
    const struct kumo_driver_kit_field *f = NULL;
    for (size_t i = 0; i < count && f == NULL; i++)
        if (strcmp(fields[i].key, key) == 0)
            f = &fields[i];
    if (f == NULL)
        return 0; /* a newer writer's field */
    char *at = (char *)object + f->offset;
    if (f->kind == KUMO_DRIVER_KIT_FIELD_STRING) {
        char *v = unescape(raw, strlen(raw));
        if (v == NULL)
            return -1;
        free(*(char **)at);
        *(char **)at = v;
        return 0;
    }
    if (f->kind >= KUMO_DRIVER_KIT_FIELD_STRINGS)
        return get_element(f, at, (size_t *)((char *)object + f->count_offset), raw);
    return set_number(f->kind, at, raw);
}

int kumo_driver_kit_state_line(char *line, char **word,
                               int (*apply)(void *ctx, const char *key, const char *raw), void *ctx)
{
    char *save = NULL;
    *word = strtok_r(line, "\t", &save);
    if (*word == NULL)
        return -1;
    for (char *field = strtok_r(NULL, "\t", &save); field != NULL;
         field = strtok_r(NULL, "\t", &save)) {
        char *eq = strchr(field, '=');
        if (eq == NULL)
            return -1;
        *eq = '\0';
        if (apply(ctx, field, eq + 1) != 0)
            return -1;
    }
    return 0;
}

void kumo_driver_kit_state_free(const struct kumo_driver_kit_field *fields, size_t count,
                                void *object)
{
    for (size_t i = 0; i < count; i++) {
        const struct kumo_driver_kit_field *f = &fields[i];
        char *at = (char *)object + f->offset;
        size_t *n = (size_t *)((char *)object + f->count_offset);
        if (f->kind == KUMO_DRIVER_KIT_FIELD_STRING) {
            free(*(char **)at);
            *(char **)at = NULL;
            continue;
        }
        if (f->kind < KUMO_DRIVER_KIT_FIELD_STRINGS)
            continue;
        if (f->kind == KUMO_DRIVER_KIT_FIELD_STRINGS) {
            for (size_t k = 0; k < *n; k++)
                free((*(char ***)at)[k]);
            free(*(char ***)at);
        } else if (f->kind == KUMO_DRIVER_KIT_FIELD_TAGS) {
            kumo_driver_kit_tags_free(*(struct kumo_driver_kit_tag **)at, *n);
        } else if (f->kind == KUMO_DRIVER_KIT_FIELD_SUBNETS) {
            kumo_driver_kit_subnets_free(*(struct kumo_driver_kit_subnet **)at, *n);
        } else if (f->kind == KUMO_DRIVER_KIT_FIELD_ROWS) {
            for (size_t k = 0; k < *n; k++)
                for (size_t c = 0; c < f->column_count; c++)
                    if (f->columns[c].kind == KUMO_DRIVER_KIT_FIELD_STRING)
                        free(*(char **)(*(char **)at + k * f->element_size + f->columns[c].offset));
            free(*(void **)at);
        } else {
            kumo_driver_kit_rules_free(*(struct kumo_driver_kit_rule **)at, *n);
        }
        *(void **)at = NULL;
        *n = 0;
    }
}
