/*
 * convert.c - `kumoctl convert`: print manifests as JSON or YAML, with the
 * defaults filled in (unless --no-default). Nothing is printed when any
 * document fails to decode, so a pipeline never gets half the objects.
 */
#include "cmd/kumoctl/kumoctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char kumoctl_convert_help[] =
    "Print manifests as JSON or YAML, decoded strictly and with their defaults\n"
    "filled in. Objects are not validated (use kumoctl validate for that).\n"
    "\n"
    "Usage:\n"
    "  kumoctl convert -f FILE|DIR|- [-f ...] [-o json|yaml] [flags]\n"
    "\n"
    "Flags:\n"
    "  -f, --filename FILE|DIR|-  a manifest, a directory of *.yaml, *.yml and *.json\n"
    "                             files (sorted by name), or - for stdin; repeatable\n"
    "  -o, --output json|yaml     the form to print (default: the other form of the\n"
    "                             first input: YAML in, JSON out, and back)\n"
    "      --no-default           print the objects as given, without defaults\n"
    "  -R, --recursive            also read the subdirectories of a DIR\n"
    "      --max-bytes N          refuse an input larger than N bytes (default 16Mi)\n"
    "  -h, --help                 print this help\n"
    "\n"
    "JSON output is one object, or several in {\"apiVersion\": \"v1\", \"kind\": \"List\",\n"
    "\"items\": [...]} like kubectl; YAML output is one document per object,\n"
    "separated by \"---\".\n"
    "\n"
    "Examples:\n"
    "  kumoctl convert -f examples/infra.yaml -o json\n"
    "  kumoctl convert -f examples/quickstart.yaml -o json > quickstart.json\n"
    "  kumoctl convert -f quickstart.json -o yaml --no-default\n"
    "\n"
    "Exit status: 0 printed; 1 an input could not be read or decoded (nothing is\n"
    "printed); 2 usage error.\n";

typedef struct convert_state {
    int defaults;
    int yaml; /* -o: 1 yaml, 0 json, -1 not given */
    ProtobufCMessage **objects;
    size_t count, cap;
    size_t failed;
    int nomem;
} convert_state;

static void convert_document(void *context, const kumoctl_source *source, kumo_object_document *doc)
{
    convert_state *state = context;
    char location[4200];
    kumoctl_location(source, doc->line, location, sizeof(location));
    if (doc->diag.code != KUMO_ERROR_OK || doc->object == NULL) {
        state->failed++;
        kumoctl_print_document_errors(location, doc, &doc->diag);
        return;
    }
    kumo_diag diag;
    kumo_diag_init(&diag);
    if (state->defaults && kumo_object_default(doc->object, &diag) != KUMO_ERROR_OK) {
        state->failed++;
        kumoctl_print_document_errors(location, doc, &diag);
        kumo_diag_fini(&diag);
        return;
    }
    if (state->count == state->cap) {
        size_t cap = state->cap ? state->cap * 2 : 16;
        ProtobufCMessage **grown = realloc(state->objects, cap * sizeof(*grown));
        if (grown == NULL) {
            state->nomem = 1;
            return;
        }
        state->objects = grown;
        state->cap = cap;
    }
    state->objects[state->count++] = doc->object;
    doc->object = NULL;
}

/* JSON: one object as is; several as a kubectl-style List. JSON strings never hold a raw
 * newline, so indenting the lines of each item's text is safe. */
static kumo_error encode_json(const convert_state *state, kumo_codec_buffer *out, kumo_diag *diag)
{
    static const char head[] = "{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"List\",\n"
                               "    \"items\": [\n";
    kumo_codec_encode_options options = {4, 0};
    if (state->count == 1) {
        kumo_error err = kumo_codec_json_encode(state->objects[0], &options, out, diag);
        return err ? err : kumo_codec_buffer_append(out, "\n", 1);
    }
    kumo_codec_buffer item;
    kumo_codec_buffer_init(&item);
    kumo_error err = kumo_codec_buffer_append(out, head, sizeof(head) - 1);
    for (size_t i = 0; i < state->count && err == KUMO_ERROR_OK; i++) {
        kumo_codec_buffer_reset(&item);
        err = kumo_codec_json_encode(state->objects[i], &options, &item, diag);
        if (err == KUMO_ERROR_OK)
            err = kumo_codec_buffer_append(out, "        ", 8);
        if (err == KUMO_ERROR_OK)
            err = kumoctl_append_indented(out, item.data, item.len, 8);
        const char *separator = i + 1 < state->count ? ",\n" : "\n";
        if (err == KUMO_ERROR_OK)
            err = kumo_codec_buffer_append(out, separator, strlen(separator));
    }
    if (err == KUMO_ERROR_OK)
        err = kumo_codec_buffer_append(out, "    ]\n}\n", 8);
    kumo_codec_buffer_fini(&item);
    return err;
}

static kumo_error encode_yaml(const convert_state *state, kumo_codec_buffer *out, kumo_diag *diag)
{
    kumo_error err = KUMO_ERROR_OK;
    for (size_t i = 0; i < state->count && err == KUMO_ERROR_OK; i++) {
        if (i > 0)
            err = kumo_codec_buffer_append(out, "---\n", 4);
        if (err == KUMO_ERROR_OK)
            err = kumo_codec_yaml_encode(state->objects[i], out, diag);
    }
    return err;
}

/* convert's own flags: -o and --no-default. */
static int convert_flag(void *context, int id, const char *value)
{
    convert_state *state = context;
    if (id == KUMOCTL_FLAG_NO_DEFAULT) {
        state->defaults = 0;
    } else if (strcmp(value, "json") == 0 || strcmp(value, "yaml") == 0) {
        state->yaml = value[0] == 'y';
    } else {
        return kumoctl_usage_error("kumoctl convert",
                                   "unknown output \"%s\"; use -o json or -o yaml", value);
    }
    return KUMOCTL_EXIT_OK;
}

/* Prints the collected objects in the chosen form. */
static int convert_print(const convert_state *state, int yaml)
{
    kumo_codec_buffer out;
    kumo_diag diag;
    kumo_codec_buffer_init(&out);
    kumo_diag_init(&diag);
    kumo_error err = yaml ? encode_yaml(state, &out, &diag) : encode_json(state, &out, &diag);
    int status = KUMOCTL_EXIT_OK;
    if (err != KUMO_ERROR_OK)
        status = kumoctl_error("cannot encode the objects as %s: %s", yaml ? "YAML" : "JSON",
                               diag.message[0] ? diag.message : kumo_error_text(err));
    else if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0)
        status = kumoctl_error("cannot write the output");
    kumo_codec_buffer_fini(&out);
    kumo_diag_fini(&diag);
    return status;
}

/* Decodes every input and prints the objects, or nothing when any failed. */
static int convert_inputs(kumoctl_input *input, convert_state *state)
{
    size_t unreadable = kumoctl_input_decode(input, convert_document, state);
    if (state->yaml < 0)
        state->yaml = input->first_format == KUMO_CODEC_FORMAT_JSON;
    if (state->nomem)
        return kumoctl_error("out of memory");
    if (unreadable > 0 || state->failed > 0)
        return kumoctl_error("nothing printed: %zu input%s and %zu document%s could not be read "
                             "or decoded; fix the errors above",
                             unreadable, unreadable == 1 ? "" : "s", state->failed,
                             state->failed == 1 ? "" : "s");
    if (state->count == 0)
        return kumoctl_error("no objects found in the input");
    return convert_print(state, state->yaml);
}

int kumoctl_convert_run(int argc, char **argv)
{
    static const kumoctl_flag flags[] = {
        KUMOCTL_INPUT_FLAGS,
        {"output", 'o', 1, KUMOCTL_FLAG_OUTPUT, "json or yaml"},
        {"no-default", 0, 0, KUMOCTL_FLAG_NO_DEFAULT, NULL},
    };
    convert_state state = {1, -1, NULL, 0, 0, 0, 0};
    kumoctl_input input;
    kumoctl_input_init(&input, "kumoctl convert");
    int status = kumoctl_input_parse(&input, flags, sizeof(flags) / sizeof(flags[0]), argc, argv,
                                     kumoctl_convert_help, convert_flag, &state);
    if (status == KUMOCTL_CONTINUE)
        status = convert_inputs(&input, &state);
    for (size_t i = 0; i < state.count; i++)
        kumo_object_destroy(state.objects[i]);
    free(state.objects);
    kumoctl_input_fini(&input);
    return status;
}
