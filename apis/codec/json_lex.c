/*
 * json_lex.c - the JSON tokenizer shared by the tree parser and the direct
 * decoder: strings (all escapes, surrogate pairs, strict UTF-8), numbers
 * (RFC 8259 grammar), literals, and syntax errors with line and column.
 *
 * Strings without escapes are returned as pointers into the input, so the
 * common case copies each byte once (into the message or the tree).
 */
#include "apis/codec/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void codec_lexer_init(codec_lexer *lx, const codec_decoder *dec, const char *text, size_t len)
{
    lx->start = text;
    lx->p = text;
    lx->end = text + len;
    lx->dec = dec;
    lx->scratch = NULL;
    lx->scratch_cap = 0;
    lx->line_pos = text;
    lx->line = 1;
}

void codec_lexer_fini(codec_lexer *lx)
{
    free(lx->scratch);
    lx->scratch = NULL;
    lx->scratch_cap = 0;
}

int codec_lex_line_of(codec_lexer *lx, const char *at)
{
    if (at < lx->line_pos) {
        lx->line_pos = lx->start;
        lx->line = 1;
    }
    const char *p = lx->line_pos;
    while ((p = memchr(p, '\n', (size_t)(at - p))) != NULL) {
        lx->line++;
        p++;
    }
    lx->line_pos = at;
    return lx->line;
}

static kumo_error lex_fail_code(codec_lexer *lx, kumo_error code, const char *at, const char *what)
{
    if (at > lx->end)
        at = lx->end;
    int line = 1;
    const char *line_start = lx->start;
    for (const char *p = lx->start; p < at; p++) {
        if (*p == '\n') {
            line++;
            line_start = p + 1;
        }
    }
    return kumo_diag_set(lx->dec->diag, code, "invalid JSON: %s at line %d column %zu (byte %zu)",
                         what, line, (size_t)(at - line_start) + 1, (size_t)(at - lx->start));
}

kumo_error codec_lex_fail(codec_lexer *lx, const char *at, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return lex_fail_code(lx, KUMO_ERROR_PARSE, at, what);
}

kumo_error codec_lex_fail_depth(codec_lexer *lx, const char *at)
{
    char what[64];
    snprintf(what, sizeof(what), "nesting deeper than %d levels", lx->dec->max_depth);
    return lex_fail_code(lx, KUMO_ERROR_TOO_DEEP, at, what);
}

static kumo_error scratch_reserve(codec_lexer *lx, size_t need)
{
    if (need <= lx->scratch_cap)
        return KUMO_ERROR_OK;
    size_t cap = lx->scratch_cap ? lx->scratch_cap : 64;
    while (cap < need)
        cap *= 2;
    char *grown = realloc(lx->scratch, cap);
    if (grown == NULL)
        return codec_fail_nomem(lx->dec);
    lx->scratch = grown;
    lx->scratch_cap = cap;
    return KUMO_ERROR_OK;
}

static int hex4(const char *p, const char *end, unsigned *out)
{
    unsigned v = 0;
    if (end - p < 4)
        return 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return 0;
        v = v << 4 | d;
    }
    *out = v;
    return 1;
}

static size_t utf8_put(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The character a one-letter escape (the letter after '\\') stands for; 0 for 'u' and
 * for letters JSON does not know. */
static char simple_escape(char e)
{
    switch (e) {
    case '"':
        return '"';
    case '\\':
        return '\\';
    case '/':
        return '/';
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    default:
        return 0;
    }
}

/* Decodes the \uXXXX escape at *p (a surrogate pair when it is one) into *cp and
 * moves *p past it. */
static kumo_error lex_unicode_escape(codec_lexer *lx, int key, const char **p, unsigned *cp)
{
    const char *escape = *p, *end = lx->end;
    if (!hex4(escape + 2, end, cp))
        return codec_lex_fail(lx, escape, "invalid \\u escape");
    const char *q = escape + 6;
    if (*cp >= 0xDC00 && *cp <= 0xDFFF)
        return codec_lex_fail(lx, escape, "lone low surrogate in a \\u escape");
    if (*cp >= 0xD800 && *cp <= 0xDBFF) {
        unsigned low;
        if (end - q < 6 || q[0] != '\\' || q[1] != 'u' || !hex4(q + 2, end, &low) || low < 0xDC00 ||
            low > 0xDFFF)
            return codec_lex_fail(lx, escape, "high surrogate without a low surrogate");
        *cp = 0x10000 + ((*cp - 0xD800) << 10) + (low - 0xDC00);
        q += 6;
    }
    if (*cp == 0 && key)
        return codec_lex_fail(lx, escape, "NUL character in an object key");
    *p = q;
    return KUMO_ERROR_OK;
}

/* Decodes the rest of a string that has escapes, from `p` (inside the
 * string), with `run` .. `p` already scanned and plain. */
static kumo_error lex_string_escaped(codec_lexer *lx, int key, const char *run, const char *p,
                                     const char **text, size_t *len)
{
    const char *end = lx->end;
    size_t n = (size_t)(p - run);
    if (scratch_reserve(lx, n + 64) != KUMO_ERROR_OK)
        return KUMO_ERROR_NOMEM;
    memcpy(lx->scratch, run, n);
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (scratch_reserve(lx, n + 8) != KUMO_ERROR_OK)
            return KUMO_ERROR_NOMEM;
        if (c == '"') {
            lx->p = p + 1;
            *text = lx->scratch;
            *len = n;
            return KUMO_ERROR_OK;
        }
        if (c < 0x20)
            return codec_lex_fail(lx, p, "control character 0x%02x in a string", c);
        if (c >= 0x80) {
            size_t seq = codec_utf8_sequence((const unsigned char *)p, (const unsigned char *)end);
            if (seq == 0)
                return codec_lex_fail(lx, p, "invalid UTF-8 in a string");
            memcpy(lx->scratch + n, p, seq);
            n += seq;
            p += seq;
            continue;
        }
        if (c != '\\') {
            lx->scratch[n++] = (char)c;
            p++;
            continue;
        }
        if (p + 1 >= end)
            return codec_lex_fail(lx, p, "unterminated string");
        char simple = simple_escape(p[1]);
        if (simple) {
            lx->scratch[n++] = simple;
            p += 2;
            continue;
        }
        if (p[1] != 'u')
            return codec_lex_fail(lx, p, "invalid escape \"\\%c\"",
                                  p[1] >= 0x20 && p[1] < 0x7F ? p[1] : '?');
        unsigned cp = 0;
        kumo_error err = lex_unicode_escape(lx, key, &p, &cp);
        if (err != KUMO_ERROR_OK)
            return err;
        n += utf8_put(lx->scratch + n, cp);
    }
    return codec_lex_fail(lx, end, "unterminated string");
}

kumo_error codec_lex_string(codec_lexer *lx, int key, const char **text, size_t *len)
{
    const char *run = lx->p + 1, *p = run, *end = lx->end;
    for (;;) {
        while (end - p >= 8) {
            uint64_t word;
            memcpy(&word, p, 8);
            if (codec_word_needs_care(word))
                break;
            p += 8;
        }
        if (p >= end)
            return codec_lex_fail(lx, end, "unterminated string");
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            lx->p = p + 1;
            *text = run;
            *len = (size_t)(p - run);
            return KUMO_ERROR_OK;
        }
        if (c == '\\')
            return lex_string_escaped(lx, key, run, p, text, len);
        if (c < 0x20)
            return codec_lex_fail(lx, p, "control character 0x%02x in a string", c);
        if (c >= 0x80) {
            size_t seq = codec_utf8_sequence((const unsigned char *)p, (const unsigned char *)end);
            if (seq == 0)
                return codec_lex_fail(lx, p, "invalid UTF-8 in a string");
            p += seq;
        } else {
            p++;
        }
    }
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

kumo_error codec_lex_number(codec_lexer *lx, const char **text, size_t *len)
{
    const char *start = lx->p, *p = start, *end = lx->end;
    if (p < end && *p == '-')
        p++;
    if (p < end && *p == '0') {
        p++;
    } else if (p < end && is_digit(*p)) {
        while (p < end && is_digit(*p))
            p++;
    } else {
        return codec_lex_fail(lx, start, "invalid number");
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p))
            return codec_lex_fail(lx, start, "invalid number");
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p))
            return codec_lex_fail(lx, start, "invalid number");
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (is_digit(*p) || *p == '.' || (*p >= 'a' && *p <= 'z') ||
                    (*p >= 'A' && *p <= 'Z') || *p == '+' || *p == '-'))
        return codec_lex_fail(lx, start, "invalid number");
    *text = start;
    *len = (size_t)(p - start);
    lx->p = p;
    return KUMO_ERROR_OK;
}

static kumo_error lex_literal(codec_lexer *lx, const char *word, size_t n)
{
    const char *p = lx->p;
    if ((size_t)(lx->end - p) < n || memcmp(p, word, n) != 0)
        return codec_lex_fail(lx, p, "invalid literal (expected \"%s\")", word);
    p += n;
    if (p < lx->end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || is_digit(*p)))
        return codec_lex_fail(lx, lx->p, "invalid literal");
    lx->p = p;
    return KUMO_ERROR_OK;
}

kumo_error codec_lex_scalar(codec_lexer *lx, codec_scalar *out)
{
    out->plain = 0;
    out->boolean = 0;
    out->text = NULL;
    out->len = 0;
    if (lx->p >= lx->end)
        return codec_lex_fail(lx, lx->p, "unexpected end of input");
    char c = *lx->p;
    switch (c) {
    case '"':
        out->type = KUMO_VALUE_STRING;
        return codec_lex_string(lx, 0, &out->text, &out->len);
    case '{':
        out->type = KUMO_VALUE_OBJECT;
        return KUMO_ERROR_OK;
    case '[':
        out->type = KUMO_VALUE_ARRAY;
        return KUMO_ERROR_OK;
    case 't':
        out->type = KUMO_VALUE_BOOL;
        out->boolean = 1;
        return lex_literal(lx, "true", 4);
    case 'f':
        out->type = KUMO_VALUE_BOOL;
        return lex_literal(lx, "false", 5);
    case 'n':
        out->type = KUMO_VALUE_NULL;
        return lex_literal(lx, "null", 4);
    default:
        break;
    }
    if (c == '-' || is_digit(c)) {
        out->type = KUMO_VALUE_NUMBER;
        return codec_lex_number(lx, &out->text, &out->len);
    }
    if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7F)
        return codec_lex_fail(lx, lx->p, "unexpected character '%c'", c);
    return codec_lex_fail(lx, lx->p, "unexpected byte 0x%02x", (unsigned char)c);
}
