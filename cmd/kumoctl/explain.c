/*
 * explain.c - `kumoctl explain KIND[.FIELD...]`: what a kind or a field is,
 * its type and its fields, from the descriptors and the .proto comments
 * (apis/docs: the same source as the Kubernetes API's OpenAPI), laid out
 * as kubectl explain lays it out.
 *
 * It works offline: kumoctl carries the schema of the API version it was
 * built with.
 */
#include "apis/docs/docs.h"
#include "cmd/kumoctl/remote.h"

#include <string.h>

const char kumoctl_explain_help[] =
    "Describe a kind or one of its fields: type, documentation and fields.\n"
    "\n"
    "Usage:\n"
    "  kumoctl explain KIND[.FIELD[.FIELD...]] [--recursive]\n"
    "\n"
    "Fields are named as in manifests (JSON names): infra.spec.groups.instanceType.\n"
    "\n"
    "Flags:\n"
    "      --recursive            print every field below, as a tree, without their\n"
    "                             descriptions\n"
    "  -h, --help                 print this help\n"
    "\n"
    "Examples:\n"
    "  kumoctl explain infra\n"
    "  kumoctl explain infra.spec.groups\n"
    "  kumoctl explain app.spec.components.healthCheck --recursive\n"
    "\n"
    "Exit status: 0 explained; 1 no such kind or field; 2 usage error.\n";

#define EXPLAIN_MAX_DEPTH 12

/* A field that is a map<string, V>: its entry message (with "key" and "value"), else NULL. */
static const ProtobufCMessageDescriptor *map_entry(const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return NULL;
    const ProtobufCMessageDescriptor *d = f->descriptor;
    size_t n = strlen(d->short_name);
    if (n < 5 || strcmp(d->short_name + n - 5, "Entry") != 0 || d->n_fields != 2)
        return NULL;
    return protobuf_c_message_descriptor_get_field_by_name(d, "key") &&
                   protobuf_c_message_descriptor_get_field_by_name(d, "value")
               ? d
               : NULL;
}

static const char *scalar_name(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_BOOL:
        return "boolean";
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return "number";
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_ENUM:
        return "string";
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *d = f->descriptor;
        return strcmp(d->name, "kumo.v1alpha1.Time") == 0 ? "string" : d->short_name;
    }
    default:
        return "integer";
    }
}

/* "<[]NodeGroup>", "<map[string]string>", "<integer>". */
static void type_text(const ProtobufCFieldDescriptor *f, char *buf, size_t size)
{
    const ProtobufCMessageDescriptor *entry = map_entry(f);
    if (entry != NULL)
        snprintf(buf, size, "<map[string]%s>",
                 scalar_name(protobuf_c_message_descriptor_get_field_by_name(entry, "value")));
    else
        snprintf(buf, size, "<%s%s>", f->label == PROTOBUF_C_LABEL_REPEATED ? "[]" : "",
                 scalar_name(f));
}

/* The message a field leads into (a map's value message too), or NULL. */
static const ProtobufCMessageDescriptor *inner(const ProtobufCFieldDescriptor *f)
{
    const ProtobufCMessageDescriptor *entry = map_entry(f);
    if (entry != NULL)
        f = protobuf_c_message_descriptor_get_field_by_name(entry, "value");
    if (f->type != PROTOBUF_C_TYPE_MESSAGE ||
        strcmp(((const ProtobufCMessageDescriptor *)f->descriptor)->name, "kumo.v1alpha1.Time") ==
            0)
        return NULL;
    return f->descriptor;
}

/* Prints text wrapped at 80 columns, each line indented by `indent` spaces. */
static void print_wrapped(const char *text, int indent)
{
    int column = 0;
    for (const char *p = text; *p;) {
        while (*p == ' ')
            p++;
        size_t word = strcspn(p, " ");
        if (word == 0)
            break;
        if (column > 0 && column + 1 + (int)word > 80) {
            fputc('\n', stdout);
            column = 0;
        }
        if (column == 0)
            column = printf("%*s", indent, "");
        else
            column += printf(" ");
        column += printf("%.*s", (int)word, p);
        p += word;
    }
    fputc('\n', stdout);
}

/* A field's documentation: its comment, else its type's (a message or an enum), else for
 * apiVersion and kind the sentences every kind shares. */
static const char *field_doc(const ProtobufCMessageDescriptor *owner,
                             const ProtobufCFieldDescriptor *f)
{
    const char *doc = kumo_docs_member(owner->name, f->name);
    if (doc == NULL && f->type == PROTOBUF_C_TYPE_ENUM)
        doc = kumo_docs_type(((const ProtobufCEnumDescriptor *)f->descriptor)->name);
    if (doc == NULL && f->type == PROTOBUF_C_TYPE_MESSAGE && map_entry(f) == NULL)
        doc = kumo_docs_type(((const ProtobufCMessageDescriptor *)f->descriptor)->name);
    if (doc == NULL && strcmp(f->name, "api_version") == 0)
        doc = "The version of the schema of this object: kumo.dev/v1alpha1.";
    if (doc == NULL && strcmp(f->name, "kind") == 0)
        doc = "The kind of this object, in CamelCase: Infra, App, Connection, ...";
    return doc;
}

static void print_fields(const ProtobufCMessageDescriptor *d, int recursive, int depth)
{
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char type[160];
        type_text(f, type, sizeof(type));
        printf("%*s%s\t%s\n", 2 + 2 * depth, "", kumo_codec_field_json_name(d, f), type);
        if (recursive) {
            const ProtobufCMessageDescriptor *below = inner(f);
            if (below != NULL && depth < EXPLAIN_MAX_DEPTH)
                print_fields(below, 1, depth + 1);
            continue;
        }
        const char *doc = field_doc(d, f);
        if (doc != NULL)
            print_wrapped(doc, 4);
        printf("\n");
    }
}

/* Enum values with their comments ("ENUM:" as kubectl prints them). */
static void print_enum(const ProtobufCEnumDescriptor *e)
{
    printf("ENUM:\n");
    for (unsigned i = 0; i < e->n_values; i++) {
        const char *doc = kumo_docs_member(e->name, e->values[i].name);
        printf("    %s%s%s\n", e->values[i].name, doc ? " - " : "", doc ? doc : "");
    }
    printf("\n");
}

static int explain(const kumo_object_kind *kind, const char *path, int recursive)
{
    const ProtobufCMessageDescriptor *d = kind->descriptor;
    const ProtobufCFieldDescriptor *field = NULL, *last = NULL;
    const ProtobufCMessageDescriptor *owner = NULL;
    for (const char *p = path; p && *p;) {
        size_t len = strcspn(p, ".");
        field = d ? kumo_codec_field_find(d, p, len) : NULL;
        if (field == NULL)
            return kumoctl_error("field \"%.*s\" does not exist in %s.%.*s", (int)len, p,
                                 kind->singular, (int)(p - path > 0 ? p - path - 1 : 0), path);
        owner = d;
        last = field;
        d = inner(field);
        p += len + (p[len] == '.');
    }
    printf("GROUP:      %s\nKIND:       %s\nVERSION:    v1alpha1\n\n", KUMO_API_GROUP, kind->kind);
    const char *doc = kind->descriptor ? kumo_docs_type(kind->descriptor->name) : NULL;
    if (last != NULL) {
        char type[160];
        type_text(last, type, sizeof(type));
        printf("FIELD: %s %s\n\n", kumo_codec_field_json_name(owner, last), type);
        doc = field_doc(owner, last);
    }
    printf("DESCRIPTION:\n");
    print_wrapped(doc ? doc : "<empty>", 4);
    printf("\n");
    if (last != NULL && last->type == PROTOBUF_C_TYPE_ENUM)
        print_enum(last->descriptor);
    if (d != NULL && d->n_fields > 0) {
        printf("FIELDS:\n");
        print_fields(d, recursive, 0);
    }
    return KUMOCTL_EXIT_OK;
}

int kumoctl_explain_run(int argc, char **argv)
{
    enum { FLAG_RECURSIVE = 400 };
    static const kumoctl_flag flags[] = {
        {"recursive", 0, 0, FLAG_RECURSIVE, NULL},
        {"help", 'h', 0, KUMOCTL_FLAG_HELP, NULL},
    };
    kumoctl_parser parser;
    kumoctl_parser_init(&parser, "kumoctl explain", flags, sizeof(flags) / sizeof(flags[0]), argc,
                        argv);
    const char *what = NULL;
    int recursive = 0, id;
    while ((id = kumoctl_parser_next(&parser)) != KUMOCTL_PARSE_END) {
        if (id == KUMOCTL_FLAG_HELP) {
            fputs(kumoctl_explain_help, stdout);
            return KUMOCTL_EXIT_OK;
        }
        if (id == KUMOCTL_PARSE_ERROR)
            return KUMOCTL_EXIT_USAGE;
        if (id == FLAG_RECURSIVE)
            recursive = 1;
        else if (what != NULL)
            return kumoctl_usage_error(parser.command, "explain one KIND[.FIELD...] at a time");
        else
            what = parser.value;
    }
    if (what == NULL)
        return kumoctl_usage_error(parser.command,
                                   "name a kind or a field, e.g. kumoctl explain infra.spec");
    char kind_name[64];
    snprintf(kind_name, sizeof(kind_name), "%.*s", (int)strcspn(what, "."), what);
    const kumo_object_kind *kind;
    if (kumoctl_kinds_parse(kind_name, &kind, 1) != 1)
        return KUMOCTL_EXIT_FAILED;
    const char *path = what + strlen(kind_name);
    return explain(kind, *path == '.' ? path + 1 : NULL, recursive);
}
