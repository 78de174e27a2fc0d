/*
 * printers_custom.c - the outputs a user shapes: -o jsonpath=TEMPLATE,
 * -o custom-columns=SPEC, and the --sort-by order, each as kubectl gives it.
 *
 * The JSONPath root is the object when exactly one was named, else a
 * kubectl-style List ({"apiVersion":"v1","items":[...],"kind":"List",...}),
 * so templates written for kubectl (`{.items[*].metadata.name}`) work.
 * Custom columns are laid out as kubectl's tabwriter does (cells padded to
 * the widest plus 3, at least 6; "<none>" for nothing found).
 */
#include "cmd/kumoctl/jsonpath.h"
#include "cmd/kumoctl/remote.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* A kubectl List value holding the objects. */
static kumo_value *list_value(ProtobufCMessage *const *objects, size_t count)
{
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    static const char head[] = "{\"apiVersion\":\"v1\",\"items\":[";
    kumo_error err = kumo_codec_buffer_append(&buf, head, sizeof(head) - 1);
    kumo_diag diag;
    kumo_diag_init(&diag);
    for (size_t i = 0; i < count && err == KUMO_ERROR_OK; i++) {
        if (i > 0)
            err = kumo_codec_buffer_append(&buf, ",", 1);
        if (err == KUMO_ERROR_OK)
            err = kumo_codec_json_encode(objects[i], NULL, &buf, &diag);
    }
    static const char tail[] = "],\"kind\":\"List\",\"metadata\":{\"resourceVersion\":\"\"}}";
    if (err == KUMO_ERROR_OK)
        err = kumo_codec_buffer_append(&buf, tail, sizeof(tail) - 1);
    kumo_value *v = NULL;
    kumo_codec_decode_options options = {0, (size_t)-1 >> 1, 0};
    if (err == KUMO_ERROR_OK)
        kumo_codec_value_parse_json(buf.data, buf.len, &options, &v, &diag);
    kumo_diag_fini(&diag);
    kumo_codec_buffer_fini(&buf);
    return v;
}

int kumoctl_print_jsonpath(ProtobufCMessage *const *objects, size_t count, int list,
                           const char *template, FILE *out)
{
    char err[512];
    kumoctl_jsonpath *jp = kumoctl_jsonpath_parse(template, err, sizeof(err));
    if (jp == NULL)
        return kumoctl_error("%s", err);
    kumo_value *root =
        list || count != 1 ? list_value(objects, count) : kumoctl_object_to_value(objects[0]);
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    int status = KUMOCTL_EXIT_OK;
    if (root == NULL)
        status = kumoctl_error("out of memory");
    else if (kumoctl_jsonpath_execute(jp, root, &buf, err, sizeof(err)) != 0)
        status = kumoctl_error("error executing jsonpath \"%s\": %s", template, err);
    else if (buf.len > 0 && fwrite(buf.data, 1, buf.len, out) != buf.len)
        status = kumoctl_error("cannot write the output");
    kumo_codec_buffer_fini(&buf);
    kumo_codec_value_destroy(root);
    kumoctl_jsonpath_destroy(jp);
    return status;
}

/* ---- custom columns --------------------------------------------------------------------- */

#define MAX_CUSTOM_COLUMNS 32

typedef struct custom_columns {
    char *headers[MAX_CUSTOM_COLUMNS];
    kumoctl_jsonpath *paths[MAX_CUSTOM_COLUMNS];
    size_t count;
} custom_columns;

static void columns_fini(custom_columns *c)
{
    for (size_t i = 0; i < c->count; i++) {
        free(c->headers[i]);
        kumoctl_jsonpath_destroy(c->paths[i]);
    }
}

/* "NAME:.metadata.name,READY:.status.ready" (split on ',' then the first ':', as kubectl). */
static int columns_parse(const char *spec, custom_columns *c)
{
    memset(c, 0, sizeof(*c));
    const char *p = spec;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *colon = memchr(p, ':', len);
        if (colon == NULL || c->count == MAX_CUSTOM_COLUMNS) {
            columns_fini(c);
            if (colon == NULL)
                kumoctl_usage_error("kumoctl get",
                                    "custom-columns \"%s\": each column is HEADER:PATH, e.g. "
                                    "NAME:.metadata.name",
                                    spec);
            else
                kumoctl_usage_error("kumoctl get", "at most %d custom columns", MAX_CUSTOM_COLUMNS);
            return -1;
        }
        char path[1024], relaxed[1100], err[512];
        snprintf(path, sizeof(path), "%.*s", (int)(len - (size_t)(colon + 1 - p)), colon + 1);
        kumoctl_jsonpath_relaxed(path, relaxed, sizeof(relaxed));
        c->headers[c->count] = strndup(p, (size_t)(colon - p));
        c->paths[c->count] = kumoctl_jsonpath_parse(relaxed, err, sizeof(err));
        c->count++;
        if (c->paths[c->count - 1] == NULL) {
            columns_fini(c);
            kumoctl_usage_error("kumoctl get", "custom-columns: %s", err);
            return -1;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    if (c->count == 0) {
        kumoctl_usage_error("kumoctl get", "custom-columns needs at least one HEADER:PATH");
        return -1;
    }
    return 0;
}

/* One cell: every value found, printed as Go's %v, joined by ","; "<none>" for none. */
static char *column_cell(const kumoctl_jsonpath *path, const kumo_value *root)
{
    const kumo_value **found = NULL;
    char err[256];
    long n = kumoctl_jsonpath_find(path, root, &found, err, sizeof(err));
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    if (n <= 0)
        kumo_codec_buffer_append(&buf, "<none>", 6);
    for (long i = 0; i < n; i++) {
        if (i > 0)
            kumo_codec_buffer_append(&buf, ",", 1);
        kumoctl_value_print_go(found[i], &buf);
    }
    free(found);
    return kumo_codec_buffer_take(&buf, NULL);
}

/* Lays out rows as Go's tabwriter(minwidth 6, padding 3) does for kubectl's "%s\t" cells. */
static void columns_print(const custom_columns *c, char **cells, size_t rows, int no_headers,
                          FILE *out)
{
    size_t widths[MAX_CUSTOM_COLUMNS];
    for (size_t col = 0; col < c->count; col++) {
        size_t w = 0;
        /* the header's last cell has no tab after it, so it does not size its column */
        if (!no_headers && col + 1 < c->count)
            w = strlen(c->headers[col]);
        for (size_t r = 0; r < rows; r++) {
            size_t len = strlen(cells[r * c->count + col]);
            w = len > w ? len : w;
        }
        widths[col] = w + 3 < 6 ? 6 : w + 3;
    }
    for (size_t col = 0; !no_headers && col < c->count; col++) {
        if (col + 1 < c->count)
            fprintf(out, "%-*s", (int)widths[col], c->headers[col]);
        else
            fprintf(out, "%s\n", c->headers[col]);
    }
    for (size_t r = 0; r < rows; r++) {
        for (size_t col = 0; col < c->count; col++)
            fprintf(out, "%-*s", (int)widths[col], cells[r * c->count + col]);
        fputc('\n', out);
    }
}

int kumoctl_print_custom_columns(ProtobufCMessage *const *objects, size_t count, const char *spec,
                                 int no_headers, FILE *out)
{
    custom_columns c;
    if (columns_parse(spec, &c) != 0)
        return KUMOCTL_EXIT_USAGE;
    char **cells = calloc(count * c.count + 1, sizeof(*cells));
    if (cells == NULL) {
        columns_fini(&c);
        return kumoctl_error("out of memory");
    }
    for (size_t r = 0; r < count; r++) {
        kumo_value *root = kumoctl_object_to_value(objects[r]);
        for (size_t col = 0; col < c.count; col++)
            cells[r * c.count + col] = column_cell(c.paths[col], root);
        kumo_codec_value_destroy(root);
    }
    columns_print(&c, cells, count, no_headers, out);
    for (size_t i = 0; i < count * c.count; i++)
        free(cells[i]);
    free(cells);
    columns_fini(&c);
    return KUMOCTL_EXIT_OK;
}

/* Checks a custom-columns spec without printing (for flag parsing). */
int kumoctl_custom_columns_check(const char *spec)
{
    custom_columns c;
    if (columns_parse(spec, &c) != 0)
        return -1;
    columns_fini(&c);
    return 0;
}

/* ---- --sort-by ------------------------------------------------------------------------- */

/* Natural order: runs of digits compare as numbers ("web-2" < "web-10"). */
static int natural_less(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            const char *x = a, *y = b;
            while (*x == '0')
                x++;
            while (*y == '0')
                y++;
            size_t nx = strspn(x, "0123456789"), ny = strspn(y, "0123456789");
            if (nx != ny)
                return nx < ny;
            int cmp = strncmp(x, y, nx);
            if (cmp != 0)
                return cmp < 0;
            size_t za = (size_t)(x - a), zb = (size_t)(y - b);
            if (za != zb)
                return za < zb;
            a = x + nx;
            b = y + ny;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b;
        a++;
        b++;
    }
    return *a == '\0' && *b != '\0';
}

typedef struct sort_entry {
    ProtobufCMessage *object;
    kumo_value *root;
    const kumo_value *key; /* NULL: missing */
    size_t position;
} sort_entry;

static int key_less(const kumo_value *a, const kumo_value *b)
{
    if (a->type == KUMO_VALUE_NUMBER && b->type == KUMO_VALUE_NUMBER)
        return strtod(a->text, NULL) < strtod(b->text, NULL);
    if (a->type == KUMO_VALUE_STRING && b->type == KUMO_VALUE_STRING)
        return natural_less(a->text, b->text);
    if (a->type == KUMO_VALUE_BOOL && b->type == KUMO_VALUE_BOOL)
        return !a->boolean && b->boolean;
    return 0;
}

static int entry_compare(const void *x, const void *y)
{
    const sort_entry *a = x, *b = y;
    if (a->key == NULL || b->key == NULL) {
        if (a->key != b->key)
            return a->key == NULL ? -1 : 1;
    } else if (key_less(a->key, b->key)) {
        return -1;
    } else if (key_less(b->key, a->key)) {
        return 1;
    }
    return a->position < b->position ? -1 : a->position > b->position;
}

int kumoctl_sort_objects(ProtobufCMessage **objects, size_t count, const char *expression)
{
    char relaxed[1100], err[512];
    kumoctl_jsonpath_relaxed(expression, relaxed, sizeof(relaxed));
    kumoctl_jsonpath *jp = kumoctl_jsonpath_parse(relaxed, err, sizeof(err));
    if (jp == NULL)
        return kumoctl_usage_error("kumoctl get", "--sort-by: %s", err);
    sort_entry *entries = calloc(count + 1, sizeof(*entries));
    int status = entries ? KUMOCTL_EXIT_OK : kumoctl_error("out of memory");
    size_t found_once = 0;
    for (size_t i = 0; entries && i < count; i++) {
        entries[i].object = objects[i];
        entries[i].position = i;
        entries[i].root = kumoctl_object_to_value(objects[i]);
        const kumo_value **found = NULL;
        if (entries[i].root &&
            kumoctl_jsonpath_find(jp, entries[i].root, &found, err, sizeof(err)) > 0)
            entries[i].key = found[0];
        found_once += entries[i].key != NULL;
        free(found);
    }
    if (status == KUMOCTL_EXIT_OK && count > 0 && found_once == 0)
        status = kumoctl_error("couldn't find any field with path \"%s\" in the list of objects",
                               relaxed);
    if (status == KUMOCTL_EXIT_OK) {
        qsort(entries, count, sizeof(*entries), entry_compare);
        for (size_t i = 0; i < count; i++)
            objects[i] = entries[i].object;
    }
    for (size_t i = 0; entries && i < count; i++)
        kumo_codec_value_destroy(entries[i].root);
    free(entries);
    kumoctl_jsonpath_destroy(jp);
    return status;
}
