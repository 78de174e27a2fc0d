/*
 * docgen.c - a build-time tool: reads the .proto files of apis/ and writes a
 * C table of their comments (docs_table.c), the one source of field
 * documentation for `kumoctl explain` and the Kubernetes API's OpenAPI.
 *
 * Usage: kumo_docgen OUT.c FILE.proto...
 *
 * What it reads (the style of the .proto files in apis/kumo/v1alpha1): `//` lines
 * directly above a message, an enum, a field or an enum value document it,
 * and so does a `//` comment after it on its line. A blank line or any
 * other statement drops the comment lines gathered so far. Messages and
 * enums nest; a `oneof` is transparent (its fields belong to the message).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DEPTH 16
#define MAX_TEXT  4096

typedef struct scope {
    char name[128];
    int named; /* 0 for a oneof (its fields belong to the enclosing message) */
} scope;

typedef struct parser {
    FILE *out;
    char package[128];
    scope scopes[MAX_DEPTH];
    int depth;
    char pending[MAX_TEXT]; /* comment lines gathered for the next declaration */
    char header[MAX_TEXT];  /* the file's first comment, "infra.proto: the Infra kind ..." */
    char base[64];          /* the file's name without .proto and '_': "infra", "recordedevent" */
} parser;

static void append(char *buf, size_t size, const char *text)
{
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, "%s%s", len && text[0] ? " " : "", text);
}

/* The full name of the innermost message or enum, then ".leaf" when leaf is not NULL:
 * "kumo.v1alpha1.InfraSpec.DriftPolicy". */
static void scope_name(const parser *p, const char *leaf, char *buf, size_t size)
{
    size_t len = (size_t)snprintf(buf, size, "%s", p->package);
    for (int i = 0; i < p->depth && len < size; i++)
        if (p->scopes[i].named)
            len += (size_t)snprintf(buf + len, size - len, ".%s", p->scopes[i].name);
    if (leaf != NULL && len < size)
        snprintf(buf + len, size - len, ".%s", leaf);
}

static void emit_string(FILE *out, const char *text)
{
    fputc('"', out);
    for (const char *c = text; *c; c++) {
        if (*c == '"' || *c == '\\')
            fputc('\\', out);
        fputc(*c, out);
    }
    fputc('"', out);
}

/* One table row: the message or enum, the field or value (NULL: the type itself), the text. */
static void emit(parser *p, const char *type, const char *member, const char *trailing)
{
    char text[MAX_TEXT];
    snprintf(text, sizeof(text), "%s", p->pending);
    if (trailing && trailing[0])
        append(text, sizeof(text), trailing);
    p->pending[0] = '\0';
    if (text[0] == '\0')
        return;
    fputs("    {", p->out);
    emit_string(p->out, type);
    fputs(", ", p->out);
    if (member)
        emit_string(p->out, member);
    else
        fputs("NULL", p->out);
    fputs(", ", p->out);
    emit_string(p->out, text);
    fputs("},\n", p->out);
}

/* Splits "code // comment" into the code (trimmed, in place) and the comment. */
static const char *split_comment(char *line)
{
    char *slashes = strstr(line, "//");
    const char *comment = "";
    if (slashes != NULL) {
        *slashes = '\0';
        comment = slashes + 2;
        while (*comment == ' ')
            comment++;
    }
    size_t n = strlen(line);
    while (n > 0 && isspace((unsigned char)line[n - 1]))
        line[--n] = '\0';
    return comment;
}

/* The word before '=' of a field or enum value line ("repeated Foo bar = 3;" -> "bar"). */
static int member_name(const char *code, char *buf, size_t size)
{
    const char *eq = strchr(code, '=');
    if (eq == NULL)
        return 0;
    const char *end = eq;
    while (end > code && isspace((unsigned char)end[-1]))
        end--;
    const char *start = end;
    while (start > code && (isalnum((unsigned char)start[-1]) || start[-1] == '_'))
        start--;
    snprintf(buf, size, "%.*s", (int)(end - start), start);
    return end > start;
}

static void statement(parser *p, char *code, const char *comment)
{
    char word[128], name[128], full[512];
    if (sscanf(code, "package %127[^;]", name) == 1) {
        snprintf(p->package, sizeof(p->package), "%s", name);
        p->pending[0] = '\0';
    } else if (code[0] == '}') {
        if (p->depth > 0)
            p->depth--;
        p->pending[0] = '\0';
    } else if (sscanf(code, "%127s %127[A-Za-z0-9_] {", word, name) == 2 &&
               (!strcmp(word, "message") || !strcmp(word, "enum") || !strcmp(word, "oneof")) &&
               p->depth < MAX_DEPTH) {
        int named = strcmp(word, "oneof") != 0;
        /* the kind a file is named after ("Infra" in infra.proto, "RecordedEvent" in
         * event.proto) takes the file's comment when it has none */
        size_t name_len = strlen(name), base_len = strlen(p->base);
        if (p->depth == 0 && p->pending[0] == '\0' && comment[0] == '\0' && named &&
            name_len >= base_len && strcasecmp(name + name_len - base_len, p->base) == 0) {
            const char *h = p->header, *colon = strstr(h, ".proto: ");
            snprintf(p->pending, sizeof(p->pending), "%s", colon ? colon + 8 : h);
        }
        if (named) {
            scope_name(p, name, full, sizeof(full));
            emit(p, full, NULL, comment);
        }
        snprintf(p->scopes[p->depth].name, sizeof(p->scopes[0].name), "%s", name);
        p->scopes[p->depth++].named = named;
        p->pending[0] = '\0';
    } else if (p->depth > 0 && strncmp(code, "option", 6) != 0 &&
               strncmp(code, "reserved", 8) != 0 && member_name(code, name, sizeof(name))) {
        scope_name(p, NULL, full, sizeof(full));
        emit(p, full, name, comment);
    } else {
        p->pending[0] = '\0';
    }
}

static int read_proto(parser *p, const char *path)
{
    FILE *in = fopen(path, "r");
    if (in == NULL) {
        fprintf(stderr, "kumo_docgen: cannot read %s\n", path);
        return -1;
    }
    char line[2048];
    const char *slash = strrchr(path, '/');
    snprintf(p->base, sizeof(p->base), "%.*s", (int)strcspn(slash ? slash + 1 : path, "."),
             slash ? slash + 1 : path);
    for (char *r = p->base, *w = p->base;; r++) /* recorded_event -> recordedevent */
        if (*r != '_' && (*w++ = *r) == '\0')
            break;
    p->depth = 0;
    p->pending[0] = p->header[0] = '\0';
    int header_done = 0;
    while (fgets(line, sizeof(line), in) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        char *code = line;
        while (isspace((unsigned char)*code))
            code++;
        int commented = strstr(code, "//") != NULL;
        const char *comment = split_comment(code);
        if (code[0] == '\0' && !commented)
            p->pending[0] = '\0'; /* a blank line */
        else if (code[0] == '\0')
            append(p->pending, sizeof(p->pending), comment);
        else {
            if (!header_done++)
                snprintf(p->header, sizeof(p->header), "%s", p->pending);
            statement(p, code, comment);
        }
    }
    fclose(in);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: kumo_docgen OUT.c FILE.proto...\n");
        return 2;
    }
    parser p;
    memset(&p, 0, sizeof(p));
    p.out = fopen(argv[1], "w");
    if (p.out == NULL) {
        fprintf(stderr, "kumo_docgen: cannot write %s\n", argv[1]);
        return 1;
    }
    fputs("/* Generated by kumo_docgen from the .proto files' comments. Do not edit. */\n"
          "#include <stddef.h>\n\n"
          "#include \"apis/docs/docs.h\"\n\n"
          "const kumo_docs_entry kumo_docs_table[] = {\n",
          p.out);
    int status = 0;
    for (int i = 2; i < argc; i++)
        if (read_proto(&p, argv[i]) != 0)
            status = 1;
    fputs("};\n\nconst unsigned long kumo_docs_table_count =\n"
          "    sizeof(kumo_docs_table) / sizeof(kumo_docs_table[0]);\n",
          p.out);
    if (fclose(p.out) != 0)
        status = 1;
    return status;
}
