/*
 * printers.c - how kumoctl shows objects: kubectl-style tables (the columns
 * of each kind, read from the object's JSON form by path), YAML, JSON and
 * names.
 *
 * The columns of each kind are apis/columns' table, shared with the
 * Kubernetes-compatible API's Table replies.
 */
#include "cmd/kumoctl/jsonpath.h"
#include "cmd/kumoctl/remote.h"

#include "apis/columns/columns.h"

#include <stdlib.h>
#include <string.h>

typedef kumo_column column;

/* The template of -o jsonpath-file=FILE (read once; kumoctl prints one output per run). */
static const char *template_file(const char *command, const char *path)
{
    static char text[64 * 1024];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        kumoctl_usage_error(command, "cannot read the template file \"%s\"", path);
        return NULL;
    }
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0'; /* a file's final newline is not part of the template */
    return text;
}

/*
 * -o custom-columns-file=FILE, kubectl's format: a line of headers and a
 * line of paths, separated by blanks; turned into "H1:P1,H2:P2".
 */
static const char *columns_file(const char *command, const char *path)
{
    static char spec[64 * 1024];
    const char *text = template_file(command, path);
    if (text == NULL)
        return NULL;
    const char *paths = strchr(text, '\n');
    size_t header_len = paths ? (size_t)(paths - text) : strlen(text), len = 0;
    const char *h = text, *p = paths ? paths + 1 : "";
    spec[0] = '\0';
    for (;;) {
        h += strspn(h, " \t\r");
        p += strspn(p, " \t\r\n");
        size_t hn = strcspn(h, " \t\r\n"), pn = strcspn(p, " \t\r\n");
        if ((size_t)(h - text) >= header_len || hn == 0 || pn == 0)
            break;
        len += (size_t)snprintf(spec + len, sizeof(spec) - len, "%s%.*s:%.*s", len ? "," : "",
                                (int)hn, h, (int)pn, p);
        if (len >= sizeof(spec))
            break;
        h += hn;
        p += pn;
    }
    if (spec[0] == '\0')
        kumoctl_usage_error(command,
                            "custom-columns file \"%s\": a line of headers, then a line of "
                            "paths",
                            path);
    return spec[0] ? spec : NULL;
}

static int template_output(const char *command, const char *value, kumoctl_output *out,
                           const char **argument)
{
    static const struct {
        const char *prefix;
        kumoctl_output output;
    } forms[] = {{"jsonpath=", KUMOCTL_OUTPUT_JSONPATH},
                 {"jsonpath-file=", KUMOCTL_OUTPUT_JSONPATH},
                 {"custom-columns=", KUMOCTL_OUTPUT_CUSTOM_COLUMNS},
                 {"custom-columns-file=", KUMOCTL_OUTPUT_CUSTOM_COLUMNS}};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        size_t n = strlen(forms[i].prefix);
        if (strncmp(value, forms[i].prefix, n) != 0)
            continue;
        const char *template = i == 1   ? template_file(command, value + n)
                               : i == 3 ? columns_file(command, value + n)
                                        : value + n;
        if (template == NULL)
            return -1;
        if (forms[i].output == KUMOCTL_OUTPUT_CUSTOM_COLUMNS) {
            if (kumoctl_custom_columns_check(template) != 0)
                return -1;
        } else {
            char err[512];
            kumoctl_jsonpath *jp = kumoctl_jsonpath_parse(template, err, sizeof(err));
            if (jp == NULL) {
                kumoctl_usage_error(command, "%s", err);
                return -1;
            }
            kumoctl_jsonpath_destroy(jp);
        }
        *out = forms[i].output;
        if (argument)
            *argument = template;
        return 0;
    }
    return 1;
}

int kumoctl_output_parse(const char *command, const char *value, kumoctl_output *out,
                         const char **argument)
{
    static const struct {
        const char *name;
        kumoctl_output output;
    } names[] = {{"table", KUMOCTL_OUTPUT_TABLE},
                 {"wide", KUMOCTL_OUTPUT_WIDE},
                 {"yaml", KUMOCTL_OUTPUT_YAML},
                 {"json", KUMOCTL_OUTPUT_JSON},
                 {"name", KUMOCTL_OUTPUT_NAME}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(value, names[i].name) == 0) {
            *out = names[i].output;
            return 0;
        }
    int rc = template_output(command, value, out, argument);
    if (rc <= 0)
        return rc;
    kumoctl_usage_error(command,
                        "unknown output \"%s\"; use -o table, wide, yaml, json, name, "
                        "jsonpath=TEMPLATE, jsonpath-file=FILE, custom-columns=SPEC or "
                        "custom-columns-file=FILE",
                        value);
    return -1;
}

void kumoctl_age(int64_t seconds, char *buf, size_t size)
{
    kumo_columns_age(seconds, buf, size);
}

/* ---- tables ------------------------------------------------------------------------------ */

static int column_shown(const kumoctl_table *t, const column *c)
{
    return c->header != NULL && (!c->wide || t->output == KUMOCTL_OUTPUT_WIDE);
}

void kumoctl_table_init(kumoctl_table *t, const kumo_object_kind *kind, kumoctl_output output,
                        int show_namespace, int show_kind)
{
    memset(t, 0, sizeof(*t));
    t->kind = kind;
    t->output = output;
    t->show_namespace = show_namespace;
    t->show_kind = show_kind;
    const kumo_columns *k = kumo_columns_of(kind);
    t->columns = (size_t)(show_namespace ? 2 : 1);
    for (int i = 0; i < KUMO_COLUMNS_MAX; i++)
        t->columns += column_shown(t, &k->columns[i]);
}

void kumoctl_table_show_labels(kumoctl_table *t)
{
    if (!t->show_labels) {
        t->show_labels = 1;
        t->columns++;
    }
}

/* "a=1,b=2" sorted by key, or "<none>". */
static void labels_text(const ProtobufCMessage *object, char *buf, size_t size)
{
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
    size_t n = m ? m->n_labels : 0, len = 0;
    snprintf(buf, size, "<none>");
    const char *done = "";
    for (size_t k = 0; k < n && len < size; k++) { /* selection by key: labels are few */
        const Kumo__V1alpha1__ObjectMeta__LabelsEntry *next = NULL;
        for (size_t i = 0; i < n; i++)
            if (strcmp(m->labels[i]->key, done) > 0 &&
                (next == NULL || strcmp(m->labels[i]->key, next->key) < 0))
                next = m->labels[i];
        if (next == NULL)
            break;
        len += (size_t)snprintf(buf + len, size - len, "%s%s=%s", k ? "," : "", next->key,
                                next->value);
        done = next->key;
    }
}

void kumoctl_table_fini(kumoctl_table *t)
{
    for (size_t i = 0; i < t->rows * t->columns; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

static void add_cell(kumoctl_table *t, size_t index, const char *text)
{
    t->cells[index] = strdup(text);
}

void kumoctl_table_add(kumoctl_table *t, const ProtobufCMessage *object)
{
    if (t->rows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **grown = realloc(t->cells, cap * t->columns * sizeof(*grown));
        if (grown == NULL)
            return;
        t->cells = grown;
        t->cap = cap;
    }
    size_t base = t->rows * t->columns, col = 0;
    kumo_value *root = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_codec_message_to_value(object, NULL, &root, &diag);
    kumo_diag_fini(&diag);
    char buf[512];
    if (t->show_namespace)
        add_cell(t, base + col++, kumo_object_namespace(object));
    if (t->show_kind)
        kumoctl_object_ref(t->kind, kumo_object_name(object), buf, sizeof(buf));
    else
        snprintf(buf, sizeof(buf), "%s", kumo_object_name(object));
    add_cell(t, base + col++, buf);
    const kumo_columns *k = kumo_columns_of(t->kind);
    for (int i = 0; i < KUMO_COLUMNS_MAX; i++) {
        if (!column_shown(t, &k->columns[i]))
            continue;
        kumo_columns_cell(&k->columns[i], root, object, buf, sizeof(buf));
        add_cell(t, base + col++, buf);
    }
    if (t->show_labels) {
        labels_text(object, buf, sizeof(buf));
        add_cell(t, base + col++, buf);
    }
    kumo_codec_value_destroy(root);
    t->rows++;
}

static const char *header_of(const kumoctl_table *t, size_t column_index)
{
    if (t->show_namespace && column_index == 0)
        return "NAMESPACE";
    if (column_index == (size_t)(t->show_namespace ? 1 : 0))
        return "NAME";
    if (t->show_labels && column_index + 1 == t->columns)
        return "LABELS";
    size_t wanted = column_index - (size_t)(t->show_namespace ? 2 : 1), seen = 0;
    const kumo_columns *k = kumo_columns_of(t->kind);
    for (int i = 0; i < KUMO_COLUMNS_MAX; i++) {
        if (!column_shown(t, &k->columns[i]))
            continue;
        if (seen++ == wanted)
            return k->columns[i].header;
    }
    return "";
}

static void print_row(const kumoctl_table *t, const char *const *cells, FILE *out)
{
    for (size_t c = 0; c < t->columns; c++) {
        const char *text = cells[c] ? cells[c] : "";
        if (c + 1 == t->columns)
            fprintf(out, "%s\n", text);
        else
            fprintf(out, "%-*s   ", (int)t->widths[c], text);
    }
}

static void measure(kumoctl_table *t, size_t from_row)
{
    for (size_t c = 0; c < t->columns && c < 16; c++) {
        size_t w = strlen(header_of(t, c));
        if (w > t->widths[c])
            t->widths[c] = w;
        for (size_t r = from_row; r < t->rows; r++) {
            const char *cell = t->cells[r * t->columns + c];
            size_t len = cell ? strlen(cell) : 0;
            if (len > t->widths[c])
                t->widths[c] = len;
        }
    }
}

void kumoctl_table_print(kumoctl_table *t, FILE *out)
{
    measure(t, 0);
    const char *headers[16];
    for (size_t c = 0; c < t->columns && c < 16; c++)
        headers[c] = header_of(t, c);
    if (!t->no_headers)
        print_row(t, headers, out);
    for (size_t r = 0; r < t->rows; r++)
        print_row(t, (const char *const *)&t->cells[r * t->columns], out);
    t->printed = t->rows;
}

void kumoctl_table_print_more(kumoctl_table *t, FILE *out)
{
    for (size_t r = t->printed; r < t->rows; r++)
        print_row(t, (const char *const *)&t->cells[r * t->columns], out);
    t->printed = t->rows;
}

/* ---- yaml, json, name ------------------------------------------------------------------- */

/* See kumoctl.h. */
kumo_error kumoctl_append_indented(kumo_codec_buffer *out, const char *text, size_t len, int indent)
{
    static const char spaces[] = "                ";
    kumo_error err = KUMO_ERROR_OK;
    size_t start = 0;
    for (size_t i = 0; i <= len && err == KUMO_ERROR_OK; i++) {
        if (i < len && text[i] != '\n')
            continue;
        if (start > 0)
            err = kumo_codec_buffer_append(out, spaces, (size_t)indent);
        if (err == KUMO_ERROR_OK)
            err = kumo_codec_buffer_append(out, text + start, i - start + (i < len));
        start = i + 1;
    }
    return err;
}

int kumoctl_print_objects(ProtobufCMessage *const *objects, size_t count, kumoctl_output output,
                          int list, FILE *out)
{
    kumo_codec_buffer buf, item;
    kumo_codec_buffer_init(&buf);
    kumo_codec_buffer_init(&item);
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error err = KUMO_ERROR_OK;
    kumo_codec_encode_options pretty = {4, 0};
    if (output == KUMOCTL_OUTPUT_NAME) {
        for (size_t i = 0; i < count; i++) {
            const kumo_object_kind *kind = kumo_object_kind_of(objects[i]->descriptor);
            char ref[512];
            kumoctl_object_ref(kind, kumo_object_name(objects[i]), ref, sizeof(ref));
            fprintf(out, "%s\n", ref);
        }
    } else if (output == KUMOCTL_OUTPUT_YAML) {
        for (size_t i = 0; i < count && err == KUMO_ERROR_OK; i++) {
            if (i > 0)
                err = kumo_codec_buffer_append(&buf, "---\n", 4);
            if (err == KUMO_ERROR_OK)
                err = kumo_codec_yaml_encode(objects[i], &buf, &diag);
        }
    } else if (count == 1 && !list) {
        err = kumo_codec_json_encode(objects[0], &pretty, &buf, &diag);
        if (err == KUMO_ERROR_OK)
            err = kumo_codec_buffer_append(&buf, "\n", 1);
    } else {
        static const char head[] = "{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"List\",\n"
                                   "    \"items\": [";
        err = kumo_codec_buffer_append(&buf, head, sizeof(head) - 1);
        for (size_t i = 0; i < count && err == KUMO_ERROR_OK; i++) {
            kumo_codec_buffer_reset(&item);
            err = kumo_codec_buffer_append(&buf, i ? ",\n        " : "\n        ", i ? 10 : 9);
            if (err == KUMO_ERROR_OK)
                err = kumo_codec_json_encode(objects[i], &pretty, &item, &diag);
            if (err == KUMO_ERROR_OK)
                err = kumoctl_append_indented(&buf, item.data, item.len, 8);
        }
        if (err == KUMO_ERROR_OK)
            err = count ? kumo_codec_buffer_append(&buf, "\n    ]\n}\n", 8)
                        : kumo_codec_buffer_append(&buf, "]\n}\n", 4);
    }
    int status = KUMOCTL_EXIT_OK;
    if (err != KUMO_ERROR_OK)
        status = kumoctl_error("cannot print the objects: %s",
                               diag.message[0] ? diag.message : kumo_error_text(err));
    else if (buf.len > 0 && fwrite(buf.data, 1, buf.len, out) != buf.len)
        status = kumoctl_error("cannot write the output");
    kumo_codec_buffer_fini(&buf);
    kumo_codec_buffer_fini(&item);
    kumo_diag_fini(&diag);
    return status;
}
