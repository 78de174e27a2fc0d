/*
 * jsonpath.h - kubectl's JSONPath templates over kumo's generic value tree,
 * for `-o jsonpath=`, `-o custom-columns=` and `--sort-by`.
 *
 * A template is text with actions in braces: `{.metadata.name}`,
 * `{"\n"}`, `{range .items[*]}...{end}`. A path is `$` or `@` (optional),
 * then steps: `.field`, `..field` (recursive descent), `.*` / `[*]`,
 * `[n]`, `[-1]`, `[a:b:c]`, `[0,2]`, `['a','b']`, `[?(@.x=="y")]` (filters
 * with ==, !=, <, <=, >, >=, or a bare path for "exists"). Field names may
 * hold `-` and `/`; a dot in a name is written `\.`.
 *
 * Output follows kubectl's: results of one action are joined by a space;
 * strings are printed raw; objects and arrays as compact JSON with sorted
 * keys; a missing field prints nothing (kubectl's default
 * --allow-missing-template-keys=true); an index out of range is an error.
 */
#ifndef KUMOCTL_JSONPATH_H
#define KUMOCTL_JSONPATH_H

#include <stddef.h>

#include "apis/codec/codec.h"

typedef struct kumoctl_jsonpath kumoctl_jsonpath;

/*
 * Parses a template. On a syntax error returns NULL and writes a sentence
 * naming the position into err.
 */
kumoctl_jsonpath *kumoctl_jsonpath_parse(const char *text, char *err, size_t err_size);
void kumoctl_jsonpath_destroy(kumoctl_jsonpath *jp);

/*
 * Executes the template against root, appending the text to out. Returns 0,
 * or -1 with a sentence in err (e.g. "array index out of bounds").
 */
int kumoctl_jsonpath_execute(const kumoctl_jsonpath *jp, const kumo_value *root,
                             kumo_codec_buffer *out, char *err, size_t err_size);

/*
 * The values the first action of the template finds (for custom columns and
 * sort keys): *out is a malloc'd array of borrowed pointers into root (or
 * into the template for literals). Returns the count, or -1 with err set.
 */
long kumoctl_jsonpath_find(const kumoctl_jsonpath *jp, const kumo_value *root,
                           const kumo_value ***out, char *err, size_t err_size);

/* "metadata.name", ".metadata.name" or "{.metadata.name}" -> "{.metadata.name}"
 * (kubectl's relaxed form for custom columns and --sort-by), into buf. */
void kumoctl_jsonpath_relaxed(const char *expression, char *buf, size_t size);

/* Appends a value as Go's fmt %v prints a decoded JSON value (what kubectl's
 * custom columns show): strings raw, map[a:b c:d], [x y], <nil>. */
kumo_error kumoctl_value_print_go(const kumo_value *v, kumo_codec_buffer *out);

/* Appends a value as compact JSON with sorted keys and HTML-safe escapes (Go's json.Marshal). */
kumo_error kumoctl_value_print_json(const kumo_value *v, kumo_codec_buffer *out);

#endif
