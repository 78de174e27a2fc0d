/*
 * printers.c - how kumoctl shows objects: kubectl-style tables (one column
 * table per kind below, read from the object's JSON form by path), YAML,
 * JSON and names.
 *
 * A column is data, not code: a header, what to read (a JSON path such as
 * "status.addresses[0].address", or a condition type) and how to show it.
 * Wide columns (-o wide) come after AGE, as kubectl puts them.
 */
#include "cmd/kumoctl/jsonpath.h"
#include "cmd/kumoctl/remote.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum column_type {
    COL_TEXT,             /* path; path2 is the text when absent (NULL: "<none>") */
    COL_NUMBER,           /* path; 0 when absent */
    COL_RATIO,            /* "path/path2"; see number_at for what a path may say */
    COL_MONEY,            /* a price per hour, 3 decimals */
    COL_PERCENT,          /* "N%" */
    COL_COUNT,            /* items of the array at path */
    COL_BOOL,             /* true/false */
    COL_CONDITION,        /* status of condition `path`; Unknown when absent */
    COL_CONDITION_REASON, /* reason of condition `path` */
    COL_AGE,              /* since metadata.creationTimestamp */
    COL_SINCE,            /* since the RFC 3339 time at path */
    COL_REFERENCE,        /* "kind/name" of the object reference at path, kind lower case */
} column_type;

typedef struct column {
    const char *header;
    column_type type;
    const char *path;
    const char *path2;
    int wide;
} column;

#define MAX_COLUMNS 10

typedef struct kind_columns {
    const char *kind;
    column columns[MAX_COLUMNS];
} kind_columns;

#define AGE                                                                                        \
    {                                                                                              \
        "AGE", COL_AGE, NULL, NULL, 0                                                              \
    }

static const kind_columns kind_tables[] = {
    {"Credential", {{"TYPE", COL_TEXT, "spec.type", NULL, 0}, AGE}},
    {"Connection",
     {{"DRIVER", COL_TEXT, "spec.driver", NULL, 0},
      {"REGION", COL_TEXT, "spec.region", NULL, 0},
      {"READY", COL_CONDITION, "Ready", NULL, 0},
      AGE,
      {"PROVIDER", COL_TEXT, "spec.provider", NULL, 1},
      {"ZONE", COL_TEXT, "spec.zone", NULL, 1},
      {"REACHABLE", COL_BOOL, "status.reachable", NULL, 1}}},
    {"Infra",
     {{"READY", COL_RATIO, "status.ready", "status.desired|spec.groups[].size", 0},
      {"COST/H", COL_MONEY, "status.costPerHour", NULL, 0},
      AGE,
      {"GROUPS", COL_COUNT, "spec.groups", NULL, 1},
      {"STATUS", COL_CONDITION_REASON, "Ready", NULL, 1}}},
    {"Machine",
     {{"PHASE", COL_TEXT, "status.phase", "Pending", 0},
      AGE,
      {"CONNECTION", COL_TEXT, "spec.connection", NULL, 1},
      {"TYPE", COL_TEXT, "spec.instanceType", NULL, 1},
      {"IP", COL_TEXT, "status.addresses[0].address", NULL, 1},
      {"COST/H", COL_MONEY, "status.costPerHour", NULL, 1}}},
    {"Network",
     {{"CONNECTION", COL_TEXT, "spec.connection", NULL, 0},
      {"READY", COL_CONDITION, "Ready", NULL, 0},
      AGE,
      {"CIDR", COL_TEXT, "spec.cidr", NULL, 1}}},
    {"SecurityGroup",
     {{"CONNECTION", COL_TEXT, "spec.connection", NULL, 0},
      {"READY", COL_CONDITION, "Ready", NULL, 0},
      AGE,
      {"RULES", COL_COUNT, "spec.rules", NULL, 1}}},
    {"KeyPair",
     {{"CONNECTION", COL_TEXT, "spec.connection", NULL, 0},
      {"READY", COL_CONDITION, "Ready", NULL, 0},
      AGE}},
    {"App",
     {{"READY", COL_RATIO, "status.ready", "status.desired", 0},
      {"UP-TO-DATE", COL_NUMBER, "status.updated", NULL, 0},
      AGE,
      {"INFRA", COL_TEXT, "spec.infraRef.name", NULL, 1},
      {"COMPONENTS", COL_COUNT, "spec.components", NULL, 1}}},
    {"LoadBalancer",
     {{"ADDRESS", COL_TEXT, "status.address", "<pending>", 0},
      {"POLICY", COL_TEXT, "spec.policy", NULL, 0},
      {"HEALTHY", COL_RATIO, "status.healthyEndpoints", "status.totalEndpoints", 0},
      {"READY", COL_CONDITION, "Ready", NULL, 0},
      AGE,
      {"CONNECTION", COL_TEXT, "spec.connection", NULL, 1},
      {"LISTENERS", COL_COUNT, "spec.listeners", NULL, 1},
      {"PORT", COL_TEXT, "spec.listeners[0].port", NULL, 1},
      {"PROTOCOL", COL_TEXT, "spec.listeners[0].protocol", NULL, 1}}},
    {"Migration",
     {{"PHASE", COL_TEXT, "status.phase", "Pending", 0},
      {"STEP", COL_RATIO, "status.cutoverStep", "status.cutoverSteps", 0},
      {"WEIGHT", COL_PERCENT, "status.targetWeight", NULL, 0},
      AGE,
      {"STRATEGY", COL_TEXT, "spec.strategy", NULL, 1},
      {"TARGET", COL_TEXT, "spec.target.connection", NULL, 1},
      {"DURATION", COL_NUMBER, "status.durationSeconds", NULL, 1},
      {"STATUS", COL_CONDITION_REASON, "Ready", NULL, 1}}},
    {"Event",
     {{"LAST SEEN", COL_SINCE, "lastTimestamp", NULL, 0},
      {"TYPE", COL_TEXT, "type", NULL, 0},
      {"REASON", COL_TEXT, "reason", NULL, 0},
      {"OBJECT", COL_REFERENCE, "involvedObject", NULL, 0},
      {"COUNT", COL_NUMBER, "count", NULL, 0},
      {"MESSAGE", COL_TEXT, "message", "", 0},
      {"FIRST SEEN", COL_SINCE, "firstTimestamp", NULL, 1},
      {"SOURCE", COL_TEXT, "source.component", NULL, 1}}},
};

static const kind_columns *columns_of(const kumo_object_kind *kind)
{
    static const kind_columns fallback = {"", {AGE}};
    for (size_t i = 0; i < sizeof(kind_tables) / sizeof(kind_tables[0]); i++)
        if (strcmp(kind_tables[i].kind, kind->kind) == 0)
            return &kind_tables[i];
    return &fallback;
}

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
    if (seconds <= 0) {
        snprintf(buf, size, "<unknown>");
        return;
    }
    int64_t d = (int64_t)time(NULL) - seconds;
    if (d < 0)
        d = 0;
    if (d < 120)
        snprintf(buf, size, "%llds", (long long)d);
    else if (d < 2 * 3600)
        snprintf(buf, size, "%lldm", (long long)(d / 60));
    else if (d < 48 * 3600)
        snprintf(buf, size, "%lldh", (long long)(d / 3600));
    else if (d < 2 * 365 * 86400)
        snprintf(buf, size, "%lldd", (long long)(d / 86400));
    else
        snprintf(buf, size, "%lldy", (long long)(d / (365 * 86400)));
}

/* ---- reading a value by path --------------------------------------------------------- */

/* Follows "a.b[0].c" through objects and arrays; NULL when any step is missing. */
static const kumo_value *value_at(const kumo_value *root, const char *path)
{
    const kumo_value *v = root;
    const char *p = path;
    while (v != NULL && *p) {
        size_t len = strcspn(p, ".[");
        char key[64];
        snprintf(key, sizeof(key), "%.*s", (int)(len < sizeof(key) ? len : sizeof(key) - 1), p);
        if (len > 0)
            v = kumo_codec_value_get(v, key);
        p += len;
        while (v != NULL && *p == '[') {
            char *end;
            unsigned long index = strtoul(p + 1, &end, 10);
            if (*end != ']' || v->type != KUMO_VALUE_ARRAY || index >= v->count)
                return NULL;
            v = v->items[index];
            p = end + 1;
        }
        if (*p == '.')
            p++;
    }
    return v;
}

/*
 * A number read by `expression`: alternatives separated by '|' (the first
 * present wins), and "a[].b" sums b over the items of array a. Writes the
 * number's text into buf; 0 when nothing is present.
 */
static int number_at(const kumo_value *root, const char *expression, char *buf, size_t size)
{
    const char *p = expression;
    while (*p) {
        size_t len = strcspn(p, "|");
        char path[128];
        snprintf(path, sizeof(path), "%.*s", (int)(len < sizeof(path) ? len : sizeof(path) - 1), p);
        char *each = strstr(path, "[]");
        if (each != NULL) {
            *each = '\0';
            const char *member = each[2] == '.' ? each + 3 : each + 2;
            const kumo_value *array = value_at(root, path);
            if (array != NULL && array->type == KUMO_VALUE_ARRAY) {
                long long sum = 0;
                for (size_t i = 0; i < array->count; i++) {
                    const kumo_value *v = value_at(array->items[i], member);
                    if (v && (v->type == KUMO_VALUE_NUMBER || v->type == KUMO_VALUE_STRING))
                        sum += strtoll(v->text, NULL, 10);
                }
                snprintf(buf, size, "%lld", sum);
                return 1;
            }
        } else {
            const kumo_value *v = value_at(root, path);
            if (v && (v->type == KUMO_VALUE_NUMBER || v->type == KUMO_VALUE_STRING)) {
                snprintf(buf, size, "%s", v->text);
                return 1;
            }
        }
        p += len;
        if (*p == '|')
            p++;
    }
    snprintf(buf, size, "0");
    return 0;
}

static const kumo_value *condition_of(const kumo_value *root, const char *type)
{
    const kumo_value *list = value_at(root, "status.conditions");
    for (size_t i = 0; list && list->type == KUMO_VALUE_ARRAY && i < list->count; i++) {
        const kumo_value *t = kumo_codec_value_get(list->items[i], "type");
        if (t && t->type == KUMO_VALUE_STRING && strcmp(t->text, type) == 0)
            return list->items[i];
    }
    return NULL;
}

static const char *text_of(const kumo_value *v)
{
    if (v == NULL)
        return NULL;
    if (v->type == KUMO_VALUE_STRING || v->type == KUMO_VALUE_NUMBER)
        return v->text;
    if (v->type == KUMO_VALUE_BOOL)
        return v->boolean ? "true" : "false";
    return NULL;
}

/* Seconds since the epoch of an RFC 3339 UTC time ("2026-11-24T10:00:00Z"); 0 when not one. */
static int64_t rfc3339_seconds(const char *t)
{
    int y, mo, d, h, mi, sec;
    if (t == NULL || sscanf(t, "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &sec) != 6)
        return 0;
    /* Days from the civil date (proleptic Gregorian). */
    y -= mo <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    return days * 86400 + h * 3600 + mi * 60 + sec;
}

static void cell_text(const column *c, const kumo_value *root, const ProtobufCMessage *object,
                      char *buf, size_t size)
{
    const char *t;
    const kumo_value *v;
    switch (c->type) {
    case COL_TEXT:
        t = text_of(value_at(root, c->path));
        snprintf(buf, size, "%s", t && t[0] ? t : c->path2 ? c->path2 : "<none>");
        break;
    case COL_NUMBER:
        t = text_of(value_at(root, c->path));
        snprintf(buf, size, "%s", t ? t : "0");
        break;
    case COL_PERCENT:
        t = text_of(value_at(root, c->path));
        snprintf(buf, size, "%s%%", t ? t : "0");
        break;
    case COL_RATIO: {
        char a[64], b[64];
        number_at(root, c->path, a, sizeof(a));
        number_at(root, c->path2, b, sizeof(b));
        snprintf(buf, size, "%s/%s", a, b);
        break;
    }
    case COL_MONEY:
        t = text_of(value_at(root, c->path));
        snprintf(buf, size, "%.3f", t ? strtod(t, NULL) : 0.0);
        break;
    case COL_COUNT:
        v = value_at(root, c->path);
        snprintf(buf, size, "%zu", v && v->type == KUMO_VALUE_ARRAY ? v->count : (size_t)0);
        break;
    case COL_BOOL:
        v = value_at(root, c->path);
        snprintf(buf, size, "%s", v && v->type == KUMO_VALUE_BOOL && v->boolean ? "true" : "false");
        break;
    case COL_CONDITION:
    case COL_CONDITION_REASON:
        t = text_of(kumo_codec_value_get(condition_of(root, c->path),
                                         c->type == COL_CONDITION ? "status" : "reason"));
        snprintf(buf, size, "%s", t && t[0] ? t : c->type == COL_CONDITION ? "Unknown" : "<none>");
        break;
    case COL_SINCE:
        kumoctl_age(rfc3339_seconds(text_of(value_at(root, c->path))), buf, size);
        break;
    case COL_REFERENCE: {
        v = value_at(root, c->path);
        const char *kind = text_of(kumo_codec_value_get(v, "kind"));
        const char *name = text_of(kumo_codec_value_get(v, "name"));
        snprintf(buf, size, "%s/%s", kind ? kind : "", name ? name : "");
        for (char *p = buf; *p && *p != '/'; p++)
            *p = (char)tolower((unsigned char)*p);
        break;
    }
    case COL_AGE: {
        const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
        kumoctl_age(m && m->creation_timestamp ? m->creation_timestamp->seconds : 0, buf, size);
        break;
    }
    }
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
    const kind_columns *k = columns_of(kind);
    t->columns = (size_t)(show_namespace ? 2 : 1);
    for (int i = 0; i < MAX_COLUMNS; i++)
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
    const kind_columns *k = columns_of(t->kind);
    for (int i = 0; i < MAX_COLUMNS; i++) {
        if (!column_shown(t, &k->columns[i]))
            continue;
        cell_text(&k->columns[i], root, object, buf, sizeof(buf));
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
    const kind_columns *k = columns_of(t->kind);
    for (int i = 0; i < MAX_COLUMNS; i++) {
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
