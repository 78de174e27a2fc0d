/*
 * yaml.c - YAML streams -> value trees (libyaml's event parser), and
 * message -> one YAML document (a small block-style emitter of our own).
 *
 * Parsing builds the tree with an explicit stack, so nesting costs no C
 * recursion and is refused past max_depth. Anchors (&a) and aliases (*a)
 * work: an alias is a copy of its anchor's node, and YAML 1.1 merge keys
 * (`<<: *base`, or a list of them) add the members the mapping lacks. What
 * aliases add to a stream is weighed (64 bytes per node plus its text)
 * before it is copied and may not exceed max_bytes, so a "billion laughs"
 * document is refused after a bounded amount of work and memory. Plain scalars follow the
 * YAML 1.2 core schema restricted to what JSON can say: null / ~ / empty,
 * true/false (any of the three capitalisations), and numbers written in JSON
 * syntax. Everything else plain (0x1F, .inf, +1, 1.10.2) stays a string; a
 * plain scalar is marked so that string fields accept "version: 1.10".
 *
 * The emitter quotes every string a YAML reader would take for something
 * else ("true", "123", "", "a: b", "- x", YAML 1.1 "yes"/"no"), writes
 * multi-line text as literal blocks and other strings double-quoted with
 * escapes.
 */
#include "apis/codec/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <yaml.h>

/* ---- parsing ------------------------------------------------------------ */

typedef struct yaml_frame {
    kumo_value *node;
    size_t cap;
    char *key; /* mappings: the key waiting for its value */
    size_t key_len;
    codec_keyset keys;
    char *anchor;        /* &name of this collection, registered when it ends */
    kumo_value **merges; /* values of "<<" keys, applied when the mapping ends */
    size_t merge_count;
} yaml_frame;

/* A node an alias may copy; anchors live until the end of their document. */
typedef struct yaml_anchor {
    char *name;
    kumo_value *node;
    int owned; /* the anchor holds its own copy (a key's, or a merge source's) */
    size_t weight;
    int depth;
} yaml_anchor;

typedef struct yaml_builder {
    const codec_decoder *dec;
    yaml_frame *stack;
    size_t depth, stack_cap;
    kumo_value *root;
    kumo_value **docs;
    size_t doc_count, doc_cap;
    yaml_anchor *anchors;
    size_t anchor_count, anchor_cap;
    size_t alias_weight; /* what aliases added to the stream so far */
} yaml_builder;

static kumo_error yaml_fail(const yaml_builder *b, kumo_error code, const yaml_mark_t *mark,
                            const char *what)
{
    return kumo_diag_set(b->dec->diag, code, "invalid YAML: %s at line %zu column %zu", what,
                         mark->line + 1, mark->column + 1);
}

static int tag_is(const yaml_char_t *tag, const char *name)
{
    return tag != NULL && strcmp((const char *)tag, name) == 0;
}

/* Builds the node of a scalar event. */
static kumo_error scalar_node(yaml_builder *b, const yaml_event_t *ev, kumo_value **out)
{
    const char *text = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const yaml_char_t *tag = ev->data.scalar.tag;
    int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    kumo_value_type type = KUMO_VALUE_STRING;
    int boolean = 0;
    if (!codec_utf8_valid(text, len))
        return yaml_fail(b, KUMO_ERROR_PARSE, &ev->start_mark, "scalar is not valid UTF-8");
    if (tag != NULL && !tag_is(tag, "!")) {
        if (tag_is(tag, YAML_STR_TAG)) {
            plain = 0;
        } else if (tag_is(tag, YAML_NULL_TAG)) {
            type = KUMO_VALUE_NULL;
        } else if (tag_is(tag, YAML_BOOL_TAG)) {
            type = KUMO_VALUE_BOOL;
            if (len == 4 && strncasecmp(text, "true", 4) == 0)
                boolean = 1;
            else if (!(len == 5 && strncasecmp(text, "false", 5) == 0))
                return yaml_fail(b, KUMO_ERROR_PARSE, &ev->start_mark,
                                 "!!bool must be true or false");
        } else if (tag_is(tag, YAML_INT_TAG) || tag_is(tag, YAML_FLOAT_TAG)) {
            type = KUMO_VALUE_NUMBER;
            if (!codec_number_syntax_valid(text, len))
                return yaml_fail(b, KUMO_ERROR_PARSE, &ev->start_mark,
                                 "!!int and !!float need a number in JSON syntax");
        } else {
            char what[160];
            snprintf(what, sizeof(what), "unsupported YAML tag \"%.100s\"", (const char *)tag);
            return yaml_fail(b, KUMO_ERROR_PARSE, &ev->start_mark, what);
        }
        plain = 0;
    } else if (plain && tag == NULL) {
        if (len == 0 || (len == 1 && text[0] == '~') ||
            (len == 4 && (!strcmp(text, "null") || !strcmp(text, "Null") || !strcmp(text, "NULL"))))
            type = KUMO_VALUE_NULL;
        else if (len == 4 &&
                 (!strcmp(text, "true") || !strcmp(text, "True") || !strcmp(text, "TRUE")))
            type = KUMO_VALUE_BOOL, boolean = 1;
        else if (len == 5 &&
                 (!strcmp(text, "false") || !strcmp(text, "False") || !strcmp(text, "FALSE")))
            type = KUMO_VALUE_BOOL;
        else if (codec_number_syntax_valid(text, len))
            type = KUMO_VALUE_NUMBER;
    } else {
        plain = 0; /* quoted, literal, folded; or "! text" */
    }
    kumo_value *node = type == KUMO_VALUE_NULL && !plain ? codec_value_new(type)
                                                         : codec_value_new_text(type, text, len);
    if (node == NULL)
        return codec_fail_nomem(b->dec);
    node->plain_scalar = plain;
    node->boolean = boolean;
    node->line = (int)ev->start_mark.line + 1;
    *out = node;
    return KUMO_ERROR_OK;
}

/* ---- anchors, aliases and merge keys ---------------------------------------- */

/* What copying v costs (64 bytes a node plus its text and keys) and how deep it nests. */
static void value_weigh(const kumo_value *v, size_t *weight, int *depth, int level)
{
    *weight += 64 + (v->text ? v->length : 0);
    if (level > *depth)
        *depth = level;
    for (size_t i = 0; v->type == KUMO_VALUE_ARRAY && i < v->count; i++)
        value_weigh(v->items[i], weight, depth, level + 1);
    for (size_t i = 0; v->type == KUMO_VALUE_OBJECT && i < v->count; i++) {
        *weight += strlen(v->members[i].key) + 16;
        if (v->members[i].value != NULL)
            value_weigh(v->members[i].value, weight, depth, level + 1);
    }
}

/* Registers `node` under `name` (NULL: only kept alive until the document ends). */
static kumo_error anchor_add(yaml_builder *b, const char *name, kumo_value *node, int owned)
{
    if (b->anchor_count == b->anchor_cap) {
        size_t cap = b->anchor_cap ? b->anchor_cap * 2 : 8;
        yaml_anchor *grown = realloc(b->anchors, cap * sizeof(*grown));
        if (grown == NULL) {
            if (owned)
                kumo_codec_value_destroy(node);
            return codec_fail_nomem(b->dec);
        }
        b->anchors = grown;
        b->anchor_cap = cap;
    }
    yaml_anchor *a = &b->anchors[b->anchor_count];
    memset(a, 0, sizeof(*a));
    a->node = node;
    a->owned = owned;
    if (name != NULL) {
        value_weigh(node, &a->weight, &a->depth, 1);
        if ((a->name = strdup(name)) == NULL) {
            if (owned)
                kumo_codec_value_destroy(node);
            return codec_fail_nomem(b->dec);
        }
    }
    b->anchor_count++;
    return KUMO_ERROR_OK;
}

static void anchors_clear(yaml_builder *b)
{
    for (size_t i = 0; i < b->anchor_count; i++) {
        free(b->anchors[i].name);
        if (b->anchors[i].owned)
            kumo_codec_value_destroy(b->anchors[i].node);
    }
    b->anchor_count = 0;
}

/* 1 when the next node attached to the top frame is a mapping key. */
static int next_is_key(const yaml_builder *b)
{
    return b->depth > 0 && b->stack[b->depth - 1].node->type == KUMO_VALUE_OBJECT &&
           b->stack[b->depth - 1].key == NULL;
}

/* A scalar's anchor: a key is copied (attach frees keys), a value is pointed at. */
static kumo_error anchor_scalar(yaml_builder *b, const yaml_event_t *ev, kumo_value *node)
{
    const char *name = (const char *)ev->data.scalar.anchor;
    if (name == NULL)
        return KUMO_ERROR_OK;
    if (!next_is_key(b))
        return anchor_add(b, name, node, 0);
    kumo_value *copy = kumo_codec_value_clone(node);
    return copy ? anchor_add(b, name, copy, 1) : codec_fail_nomem(b->dec);
}

static kumo_error attach(yaml_builder *b, kumo_value *node, const yaml_mark_t *mark);

/* *name: a copy of the anchored node, if the stream's alias budget allows it. */
static kumo_error alias_node(yaml_builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    const yaml_anchor *a = NULL;
    for (size_t i = b->anchor_count; i > 0 && a == NULL; i--)
        if (b->anchors[i - 1].name && strcmp(b->anchors[i - 1].name, name) == 0)
            a = &b->anchors[i - 1];
    char what[200];
    if (a == NULL) {
        snprintf(what, sizeof(what), "alias *%.100s names no anchor before it in this document",
                 name);
        return yaml_fail(b, KUMO_ERROR_PARSE, &ev->start_mark, what);
    }
    if ((int)b->depth + a->depth > b->dec->max_depth) {
        snprintf(what, sizeof(what), "alias *%.100s nests deeper than %d levels", name,
                 b->dec->max_depth);
        return yaml_fail(b, KUMO_ERROR_TOO_DEEP, &ev->start_mark, what);
    }
    if (a->weight > b->dec->max_bytes - b->alias_weight) {
        snprintf(what, sizeof(what),
                 "aliases expand to more than %zu bytes (each alias copies its anchor; is this "
                 "a \"billion laughs\" document?)",
                 b->dec->max_bytes);
        return yaml_fail(b, KUMO_ERROR_TOO_LARGE, &ev->start_mark, what);
    }
    b->alias_weight += a->weight;
    kumo_value *copy = kumo_codec_value_clone(a->node);
    return copy ? attach(b, copy, &ev->start_mark) : codec_fail_nomem(b->dec);
}

/* The value of a "<<" key: a mapping or a list of mappings, merged when the mapping ends. */
static kumo_error merge_add(yaml_builder *b, yaml_frame *top, kumo_value *node,
                            const yaml_mark_t *mark)
{
    int ok = node->type == KUMO_VALUE_OBJECT || node->type == KUMO_VALUE_ARRAY;
    for (size_t i = 0; ok && node->type == KUMO_VALUE_ARRAY && i < node->count; i++)
        ok = node->items[i]->type == KUMO_VALUE_OBJECT;
    kumo_value **grown = ok ? realloc(top->merges, (top->merge_count + 1) * sizeof(*grown)) : NULL;
    if (grown == NULL) {
        kumo_codec_value_destroy(node);
        return ok ? codec_fail_nomem(b->dec)
                  : yaml_fail(b, KUMO_ERROR_PARSE, mark,
                              "a merge key (<<) needs a mapping or a list of mappings");
    }
    top->merges = grown;
    top->merges[top->merge_count++] = node;
    return KUMO_ERROR_OK;
}

/* Adds what the merge sources have and the mapping lacks (earlier sources win). */
static kumo_error merges_apply(yaml_builder *b, yaml_frame *frame)
{
    kumo_error err = KUMO_ERROR_OK;
    for (size_t m = 0; m < frame->merge_count; m++) {
        kumo_value *source = frame->merges[m];
        size_t n = source->type == KUMO_VALUE_ARRAY ? source->count : 1;
        for (size_t s = 0; s < n && err == KUMO_ERROR_OK; s++) {
            const kumo_value *from = source->type == KUMO_VALUE_ARRAY ? source->items[s] : source;
            for (size_t i = 0; i < from->count && err == KUMO_ERROR_OK; i++) {
                const kumo_value_member *member = &from->members[i];
                if (kumo_codec_value_get(frame->node, member->key) != NULL)
                    continue;
                kumo_value *copy = kumo_codec_value_clone(member->value);
                err = copy == NULL
                          ? KUMO_ERROR_NOMEM
                          : codec_value_object_push(frame->node, member->key, strlen(member->key),
                                                    copy, &frame->cap);
            }
        }
        /* an anchor may point into the source: keep it until the document ends */
        if (anchor_add(b, NULL, source, 1) != KUMO_ERROR_OK)
            err = KUMO_ERROR_NOMEM;
    }
    free(frame->merges);
    frame->merges = NULL;
    frame->merge_count = 0;
    return err == KUMO_ERROR_OK ? KUMO_ERROR_OK : codec_fail_nomem(b->dec);
}

/* Hands a finished node to its parent (or makes it the document root). */
static kumo_error attach(yaml_builder *b, kumo_value *node, const yaml_mark_t *mark)
{
    if (b->depth == 0) {
        b->root = node;
        return KUMO_ERROR_OK;
    }
    yaml_frame *top = &b->stack[b->depth - 1];
    if (top->node->type == KUMO_VALUE_ARRAY) {
        if (codec_value_array_push(top->node, node, &top->cap) != KUMO_ERROR_OK)
            return codec_fail_nomem(b->dec);
        return KUMO_ERROR_OK;
    }
    if (top->key == NULL) { /* this node is a key */
        if (node->type == KUMO_VALUE_ARRAY || node->type == KUMO_VALUE_OBJECT) {
            kumo_codec_value_destroy(node);
            return yaml_fail(b, KUMO_ERROR_PARSE, mark, "mapping keys must be scalars");
        }
        const char *text = node->text ? node->text : "";
        size_t len = node->text ? node->length : 0;
        if (memchr(text, '\0', len) != NULL) {
            kumo_codec_value_destroy(node);
            return yaml_fail(b, KUMO_ERROR_PARSE, mark, "NUL character in a mapping key");
        }
        top->key = malloc(len + 1);
        if (top->key == NULL) {
            kumo_codec_value_destroy(node);
            return codec_fail_nomem(b->dec);
        }
        memcpy(top->key, text, len);
        top->key[len] = '\0';
        top->key_len = len;
        kumo_codec_value_destroy(node);
        return KUMO_ERROR_OK;
    }
    char *key = top->key;
    top->key = NULL;
    if (top->key_len == 2 && memcmp(key, "<<", 2) == 0) {
        free(key);
        return merge_add(b, top, node, mark);
    }
    kumo_error err = codec_value_object_push(top->node, key, top->key_len, node, &top->cap);
    free(key);
    if (err != KUMO_ERROR_OK)
        return codec_fail_nomem(b->dec);
    kumo_value_member *member = &top->node->members[top->node->count - 1];
    int added = codec_keyset_add(&top->keys, member->key, top->key_len);
    if (added < 0)
        return codec_fail_nomem(b->dec);
    if (added == 0) {
        char what[160];
        snprintf(what, sizeof(what), "duplicate key \"%.100s\"", member->key);
        return yaml_fail(b, KUMO_ERROR_PARSE, mark, what);
    }
    return KUMO_ERROR_OK;
}

static kumo_error push_frame(yaml_builder *b, kumo_value_type type, const yaml_event_t *ev)
{
    if ((int)b->depth + 1 > b->dec->max_depth) {
        char what[64];
        snprintf(what, sizeof(what), "nesting deeper than %d levels", b->dec->max_depth);
        return yaml_fail(b, KUMO_ERROR_TOO_DEEP, &ev->start_mark, what);
    }
    if (b->depth > 0) {
        yaml_frame *top = &b->stack[b->depth - 1];
        if (top->node->type == KUMO_VALUE_OBJECT && top->key == NULL)
            return yaml_fail(b, KUMO_ERROR_PARSE, &ev->start_mark, "mapping keys must be scalars");
    }
    if (b->depth == b->stack_cap) {
        size_t cap = b->stack_cap ? b->stack_cap * 2 : 16;
        yaml_frame *grown = realloc(b->stack, cap * sizeof(*grown));
        if (grown == NULL)
            return codec_fail_nomem(b->dec);
        b->stack = grown;
        b->stack_cap = cap;
    }
    kumo_value *node = codec_value_new(type);
    if (node == NULL)
        return codec_fail_nomem(b->dec);
    node->line = (int)ev->start_mark.line + 1;
    yaml_frame *frame = &b->stack[b->depth++];
    frame->node = node;
    frame->cap = 0;
    frame->key = NULL;
    frame->key_len = 0;
    frame->merges = NULL;
    frame->merge_count = 0;
    codec_keyset_init(&frame->keys);
    const yaml_char_t *anchor =
        type == KUMO_VALUE_ARRAY ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
    frame->anchor = anchor ? strdup((const char *)anchor) : NULL;
    if (anchor != NULL && frame->anchor == NULL)
        return codec_fail_nomem(b->dec);
    return KUMO_ERROR_OK;
}

static kumo_error pop_frame(yaml_builder *b, const yaml_mark_t *mark)
{
    yaml_frame *frame = &b->stack[--b->depth];
    kumo_value *node = frame->node;
    char *anchor = frame->anchor;
    kumo_error err = frame->merge_count > 0 ? merges_apply(b, frame) : KUMO_ERROR_OK;
    free(frame->key);
    codec_keyset_fini(&frame->keys);
    if (err != KUMO_ERROR_OK) {
        kumo_codec_value_destroy(node);
        free(anchor);
        return err;
    }
    int key = next_is_key(b);
    err = attach(b, node, mark);
    if (err == KUMO_ERROR_OK && anchor != NULL && !key)
        err = anchor_add(b, anchor, node, 0);
    free(anchor);
    return err;
}

static kumo_error end_document(yaml_builder *b)
{
    kumo_value *root = b->root;
    b->root = NULL;
    anchors_clear(b);                                    /* anchors are per document */
    if (root == NULL || root->type == KUMO_VALUE_NULL) { /* empty document */
        kumo_codec_value_destroy(root);
        return KUMO_ERROR_OK;
    }
    if (b->doc_count == b->doc_cap) {
        size_t cap = b->doc_cap ? b->doc_cap * 2 : 4;
        kumo_value **grown = realloc(b->docs, cap * sizeof(*grown));
        if (grown == NULL) {
            kumo_codec_value_destroy(root);
            return codec_fail_nomem(b->dec);
        }
        b->docs = grown;
        b->doc_cap = cap;
    }
    b->docs[b->doc_count++] = root;
    return KUMO_ERROR_OK;
}

static kumo_error on_event(yaml_builder *b, const yaml_event_t *ev)
{
    kumo_value *node = NULL;
    kumo_error err;
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return alias_node(b, ev);
    case YAML_SCALAR_EVENT:
        err = scalar_node(b, ev, &node);
        if (err == KUMO_ERROR_OK && (err = anchor_scalar(b, ev, node)) != KUMO_ERROR_OK)
            kumo_codec_value_destroy(node);
        return err == KUMO_ERROR_OK ? attach(b, node, &ev->start_mark) : err;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int sequence = ev->type == YAML_SEQUENCE_START_EVENT;
        const yaml_char_t *tag =
            sequence ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
        if (tag != NULL && !tag_is(tag, "!") &&
            !tag_is(tag, sequence ? YAML_SEQ_TAG : YAML_MAP_TAG)) {
            char what[160];
            snprintf(what, sizeof(what), "unsupported YAML tag \"%.100s\"", (const char *)tag);
            return yaml_fail(b, KUMO_ERROR_PARSE, &ev->start_mark, what);
        }
        return push_frame(b, sequence ? KUMO_VALUE_ARRAY : KUMO_VALUE_OBJECT, ev);
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return b->depth > 0 ? pop_frame(b, &ev->start_mark) : KUMO_ERROR_OK;
    case YAML_DOCUMENT_END_EVENT:
        return end_document(b);
    default:
        return KUMO_ERROR_OK;
    }
}

static void builder_fini(yaml_builder *b)
{
    while (b->depth > 0) {
        yaml_frame *frame = &b->stack[--b->depth];
        kumo_codec_value_destroy(frame->node);
        free(frame->key);
        free(frame->anchor);
        for (size_t i = 0; i < frame->merge_count; i++)
            kumo_codec_value_destroy(frame->merges[i]);
        free(frame->merges);
        codec_keyset_fini(&frame->keys);
    }
    free(b->stack);
    anchors_clear(b);
    free(b->anchors);
    kumo_codec_value_destroy(b->root);
}

kumo_error kumo_codec_value_parse_yaml(const char *text, size_t len,
                                       const kumo_codec_decode_options *options,
                                       kumo_value ***docs_out, size_t *count_out, kumo_diag *diag)
{
    codec_decoder dec;
    codec_decoder_init(&dec, options, diag);
    *docs_out = NULL;
    *count_out = 0;
    if (len > dec.max_bytes)
        return kumo_diag_set(diag, KUMO_ERROR_TOO_LARGE,
                             "YAML input of %zu bytes is larger than the limit of %zu bytes", len,
                             dec.max_bytes);
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory starting the YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), len);
    yaml_builder b;
    memset(&b, 0, sizeof(b));
    b.dec = &dec;
    kumo_error err = KUMO_ERROR_OK;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            char what[300];
            if (parser.error == YAML_MEMORY_ERROR) {
                err = codec_fail_nomem(&dec);
                break;
            }
            if (parser.context != NULL)
                snprintf(what, sizeof(what), "%s %s", parser.problem ? parser.problem : "error",
                         parser.context);
            else
                snprintf(what, sizeof(what), "%s", parser.problem ? parser.problem : "error");
            err = yaml_fail(&b, KUMO_ERROR_PARSE, &parser.problem_mark, what);
            break;
        }
        int done = ev.type == YAML_STREAM_END_EVENT;
        err = on_event(&b, &ev);
        yaml_event_delete(&ev);
        if (err != KUMO_ERROR_OK || done)
            break;
    }
    yaml_parser_delete(&parser);
    builder_fini(&b);
    if (err != KUMO_ERROR_OK) {
        kumo_codec_value_array_destroy(b.docs, b.doc_count);
        return err;
    }
    *docs_out = b.docs;
    *count_out = b.doc_count;
    return KUMO_ERROR_OK;
}

/* ---- emitting ------------------------------------------------------------ */

/* Code point at p (valid UTF-8), advancing *n bytes. */
static unsigned code_point(const unsigned char *p, size_t *n)
{
    if (p[0] < 0x80) {
        *n = 1;
        return p[0];
    }
    if (p[0] < 0xE0) {
        *n = 2;
        return (unsigned)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
    }
    if (p[0] < 0xF0) {
        *n = 3;
        return (unsigned)(p[0] & 0x0F) << 12 | (unsigned)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
    }
    *n = 4;
    return (unsigned)(p[0] & 0x07) << 18 | (unsigned)(p[1] & 0x3F) << 12 |
           (unsigned)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
}

/* YAML's printable set, without tab, line breaks (NEL, LS, PS) and the BOM. */
static int printable(unsigned c)
{
    return (c >= 0x20 && c <= 0x7E) || (c >= 0xA0 && c <= 0xD7FF && c != 0x2028 && c != 0x2029) ||
           (c >= 0xE000 && c <= 0xFFFD && c != 0xFEFF) || (c >= 0x10000 && c <= 0x10FFFF);
}

static int equals_any(const char *text, size_t len, const char *const *words)
{
    for (size_t i = 0; words[i] != NULL; i++)
        if (strlen(words[i]) == len && strncasecmp(text, words[i], len) == 0)
            return 1;
    return 0;
}

/* Can `text` be written as a plain scalar and read back as the same string? */
static int plain_ok(const char *text, size_t len)
{
    static const char *const special_words[] = {"null", "true", "false", "yes", "no", "on", "off",
                                                "y",    "n",    "~",     "<<",  "=",  NULL};
    if (len == 0 || equals_any(text, len, special_words))
        return 0;
    unsigned char first = (unsigned char)text[0];
    if (strchr("-?:,[]{}#&*!|>'\"%@`. +", first) != NULL || (first >= '0' && first <= '9'))
        return 0;
    if (text[len - 1] == ' ' || text[len - 1] == ':')
        return 0;
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    while (p < end) {
        size_t n;
        unsigned c = code_point(p, &n);
        if (!printable(c))
            return 0;
        if ((c == ':' || c == ' ') && p + 1 < end && p[1] == (c == ':' ? ' ' : '#'))
            return 0;
        p += n;
    }
    return 1;
}

/* Literal block (|) for multi-line printable text without leading spaces. */
static int literal_ok(const char *text, size_t len)
{
    if (memchr(text, '\n', len) == NULL)
        return 0;
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    int line_start = 1, content = 0;
    while (p < end) {
        size_t n;
        unsigned c = code_point(p, &n);
        if (c == '\n') {
            line_start = 1;
            p++;
            continue;
        }
        if ((line_start && (c == ' ' || c == '\t')) || (c != '\t' && !printable(c)))
            return 0;
        line_start = 0;
        content = 1;
        p += n;
    }
    return content;
}

static kumo_error emit(kumo_codec_buffer *out, const char *text, size_t len)
{
    return kumo_codec_buffer_append(out, text, len);
}

static kumo_error emit_spaces(kumo_codec_buffer *out, int n)
{
    if (codec_buffer_reserve(out, (size_t)n) != KUMO_ERROR_OK)
        return KUMO_ERROR_NOMEM;
    memset(out->data + out->len, ' ', (size_t)n);
    out->len += (size_t)n;
    codec_buffer_terminate(out);
    return KUMO_ERROR_OK;
}

static kumo_error emit_double_quoted(kumo_codec_buffer *out, const char *text, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    kumo_error err = emit(out, "\"", 1);
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    while (p < end && err == KUMO_ERROR_OK) {
        size_t n;
        unsigned c = code_point(p, &n);
        char esc[12];
        size_t esc_len = 0;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            esc_len = 2;
        } else if (c == '\n' || c == '\t' || c == '\r') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
            esc_len = 2;
        } else if (!printable(c)) {
            int digits = c > 0xFFFF ? 8 : c > 0xFF ? 4 : 2;
            esc[0] = '\\';
            esc[1] = digits == 8 ? 'U' : digits == 4 ? 'u' : 'x';
            for (int i = 0; i < digits; i++)
                esc[2 + i] = hex[(c >> (4 * (digits - 1 - i))) & 15];
            esc_len = 2 + (size_t)digits;
        }
        err = esc_len ? emit(out, esc, esc_len) : emit(out, (const char *)p, n);
        p += n;
    }
    return err == KUMO_ERROR_OK ? emit(out, "\"", 1) : err;
}

/* A string scalar after "key: " or "- "; multi-line ones continue at `indent`. */
static kumo_error emit_string(kumo_codec_buffer *out, const char *text, size_t len, int indent)
{
    if (plain_ok(text, len))
        return emit(out, text, len);
    if (!literal_ok(text, len))
        return emit_double_quoted(out, text, len);
    size_t trailing = 0;
    while (trailing < len && text[len - 1 - trailing] == '\n')
        trailing++;
    kumo_error err = emit(out,
                          trailing == 0   ? "|-"
                          : trailing == 1 ? "|"
                                          : "|+",
                          trailing == 0   ? 2
                          : trailing == 1 ? 1
                                          : 2);
    const char *p = text, *end = text + len - (trailing ? 1 : 0);
    while (p <= end && err == KUMO_ERROR_OK) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        err = emit(out, "\n", 1);
        if (err == KUMO_ERROR_OK && line_end > p) {
            err = emit_spaces(out, indent);
            if (err == KUMO_ERROR_OK)
                err = emit(out, p, (size_t)(line_end - p));
        }
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return err;
}

static kumo_error emit_scalar(kumo_codec_buffer *out, const kumo_value *v, int indent)
{
    switch (v->type) {
    case KUMO_VALUE_NULL:
        return emit(out, "null", 4);
    case KUMO_VALUE_BOOL:
        return v->boolean ? emit(out, "true", 4) : emit(out, "false", 5);
    case KUMO_VALUE_NUMBER:
        return emit(out, v->text, v->length);
    case KUMO_VALUE_STRING:
        return emit_string(out, v->text, v->length, indent);
    case KUMO_VALUE_ARRAY:
        return emit(out, "[]", 2);
    case KUMO_VALUE_OBJECT:
        return emit(out, "{}", 2);
    }
    return KUMO_ERROR_INVALID_ARGUMENT;
}

static int is_block(const kumo_value *v)
{
    return v != NULL && (v->type == KUMO_VALUE_ARRAY || v->type == KUMO_VALUE_OBJECT) &&
           v->count > 0;
}

static kumo_error emit_block(kumo_codec_buffer *out, const kumo_value *v, int indent,
                             int inline_first, int depth);

/* A value after "key:" or "- " (the caller wrote no space yet). */
static kumo_error emit_child(kumo_codec_buffer *out, const kumo_value *v, int indent,
                             int in_sequence, int depth)
{
    kumo_error err;
    if (!is_block(v)) {
        err = emit(out, " ", 1);
        if (err == KUMO_ERROR_OK)
            err = emit_scalar(out, v, indent + 2);
        return err == KUMO_ERROR_OK ? emit(out, "\n", 1) : err;
    }
    if (in_sequence) { /* "- key: v" / "- - x": continue on this line */
        err = emit(out, " ", 1);
        return err == KUMO_ERROR_OK ? emit_block(out, v, indent + 2, 1, depth + 1) : err;
    }
    err = emit(out, "\n", 1);
    if (err != KUMO_ERROR_OK)
        return err;
    /* sequences under a key sit at the key's indentation, as kubectl writes them */
    return emit_block(out, v, v->type == KUMO_VALUE_ARRAY ? indent : indent + 2, 0, depth + 1);
}

static kumo_error emit_block(kumo_codec_buffer *out, const kumo_value *v, int indent,
                             int inline_first, int depth)
{
    if (depth > CODEC_DEPTH_CEILING)
        return KUMO_ERROR_TOO_DEEP;
    kumo_error err = KUMO_ERROR_OK;
    for (size_t i = 0; i < v->count && err == KUMO_ERROR_OK; i++) {
        if (i > 0 || !inline_first)
            err = emit_spaces(out, indent);
        if (err != KUMO_ERROR_OK)
            break;
        if (v->type == KUMO_VALUE_ARRAY) {
            err = emit(out, "-", 1);
            if (err == KUMO_ERROR_OK)
                err = emit_child(out, v->items[i], indent, 1, depth);
        } else {
            const char *key = v->members[i].key;
            size_t key_len = strlen(key);
            /* YAML limits implicit keys to 1024 characters: longer ones are explicit (? key) */
            int explicit_key = key_len > 500;
            if (explicit_key)
                err = emit(out, "? ", 2);
            if (err == KUMO_ERROR_OK)
                err = plain_ok(key, key_len) && !explicit_key
                          ? emit(out, key, key_len)
                          : emit_double_quoted(out, key, key_len);
            if (err == KUMO_ERROR_OK && explicit_key) {
                err = emit(out, "\n", 1);
                if (err == KUMO_ERROR_OK)
                    err = emit_spaces(out, indent);
            }
            if (err == KUMO_ERROR_OK)
                err = emit(out, ":", 1);
            if (err == KUMO_ERROR_OK)
                err = emit_child(out, v->members[i].value, indent, 0, depth);
        }
    }
    return err;
}

kumo_error kumo_codec_yaml_encode(const ProtobufCMessage *message, kumo_codec_buffer *out,
                                  kumo_diag *diag)
{
    kumo_value *tree = NULL;
    kumo_error err = kumo_codec_message_to_value(message, NULL, &tree, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    size_t start = out->len;
    if (is_block(tree)) {
        err = emit_block(out, tree, 0, 0, 0);
    } else {
        err = emit_scalar(out, tree, 2);
        if (err == KUMO_ERROR_OK)
            err = emit(out, "\n", 1);
    }
    kumo_codec_value_destroy(tree);
    if (err != KUMO_ERROR_OK) {
        out->len = start;
        codec_buffer_terminate(out);
        return kumo_diag_set(diag, err, "could not write YAML: %s", kumo_error_text(err));
    }
    return KUMO_ERROR_OK;
}
