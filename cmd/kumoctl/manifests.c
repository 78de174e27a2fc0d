/*
 * manifests.c - the part every manifest-reading command shares: the -f, -R
 * and --max-bytes flags, and reading + strictly decoding every document of
 * every source in order.
 */
#include "cmd/kumoctl/kumoctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kumoctl_input_init(kumoctl_input *input, const char *command)
{
    memset(input, 0, sizeof(*input));
    input->command = command;
    input->max_bytes = KUMO_CODEC_DEFAULT_MAX_BYTES;
    input->first_format = KUMO_CODEC_FORMAT_YAML;
}

void kumoctl_input_fini(kumoctl_input *input)
{
    free(input->filenames);
    kumoctl_sources_free(&input->sources);
}

int kumoctl_input_flag(kumoctl_input *input, int id, const char *value)
{
    switch (id) {
    case KUMOCTL_FLAG_FILENAME: {
        const char **grown =
            realloc(input->filenames, (input->filename_count + 1) * sizeof(*grown));
        if (grown == NULL) {
            kumoctl_error("out of memory");
            return KUMOCTL_INPUT_ERROR;
        }
        input->filenames = grown;
        input->filenames[input->filename_count++] = value;
        return KUMOCTL_INPUT_TAKEN;
    }
    case KUMOCTL_FLAG_RECURSIVE:
        input->recursive = 1;
        return KUMOCTL_INPUT_TAKEN;
    case KUMOCTL_FLAG_MAX_BYTES:
        if (kumoctl_parse_bytes(value, &input->max_bytes) != 0) {
            kumoctl_usage_error(input->command,
                                "--max-bytes \"%s\" is not a byte count; give a positive number, "
                                "optionally with Ki, Mi or Gi (e.g. 32Mi)",
                                value);
            return KUMOCTL_INPUT_ERROR;
        }
        return KUMOCTL_INPUT_TAKEN;
    default:
        return KUMOCTL_INPUT_NOT_MINE;
    }
}

/* Checks that -f was given and resolves every -f into sources. */
static int input_resolve(kumoctl_input *input)
{
    if (input->filename_count == 0)
        return kumoctl_usage_error(input->command,
                                   "no input; give -f FILE, -f DIR or -f - (stdin)");
    int failed = 0;
    for (size_t i = 0; i < input->filename_count; i++)
        if (kumoctl_sources_add(&input->sources, input->filenames[i], input->recursive) != 0)
            failed = 1;
    return failed ? KUMOCTL_EXIT_FAILED : KUMOCTL_CONTINUE;
}

int kumoctl_input_parse(kumoctl_input *input, const kumoctl_flag *flags, size_t flag_count,
                        int argc, char **argv, const char *help, kumoctl_flag_fn other,
                        void *context)
{
    kumoctl_parser parser;
    int id;
    kumoctl_parser_init(&parser, input->command, flags, flag_count, argc, argv);
    while ((id = kumoctl_parser_next(&parser)) != KUMOCTL_PARSE_END) {
        int status = KUMOCTL_EXIT_OK;
        if (id == KUMOCTL_FLAG_HELP) {
            fputs(help, stdout);
            return KUMOCTL_EXIT_OK;
        }
        if (id == KUMOCTL_PARSE_ERROR)
            return KUMOCTL_EXIT_USAGE;
        if (id == KUMOCTL_PARSE_ARGUMENT)
            return kumoctl_usage_error(input->command,
                                       "unexpected argument \"%s\"; name inputs with -f, e.g. "
                                       "-f %s",
                                       parser.value, parser.value);
        int taken = kumoctl_input_flag(input, id, parser.value);
        if (taken == KUMOCTL_INPUT_ERROR)
            return KUMOCTL_EXIT_USAGE;
        if (taken == KUMOCTL_INPUT_NOT_MINE && other != NULL)
            status = other(context, id, parser.value);
        if (status != KUMOCTL_EXIT_OK)
            return status;
    }
    return input_resolve(input);
}

size_t kumoctl_input_decode(kumoctl_input *input, kumoctl_document_fn fn, void *context)
{
    kumo_codec_decode_options options = {0, input->max_bytes, 0};
    size_t failed = 0;
    for (size_t i = 0; i < input->sources.count; i++) {
        const kumoctl_source *source = &input->sources.items[i];
        size_t len = 0;
        char *text = kumoctl_source_read(source, input->max_bytes, &len);
        if (text == NULL) {
            failed++;
            continue;
        }
        kumo_object_document *docs = NULL;
        size_t count = 0;
        kumo_diag diag;
        kumo_diag_init(&diag);
        kumo_codec_format format = kumoctl_source_format(source, text, len);
        if (i == 0)
            input->first_format = format;
        if (kumo_object_decode_documents(text, len, format, &options, &docs, &count, &diag) !=
            KUMO_ERROR_OK) {
            kumo_object_document whole = {0};
            kumoctl_print_document_errors(source->path, &whole, &diag);
            failed++;
        }
        for (size_t d = 0; d < count; d++)
            fn(context, source, &docs[d]);
        kumo_object_documents_free(docs, count);
        kumo_diag_fini(&diag);
        free(text);
    }
    return failed;
}
