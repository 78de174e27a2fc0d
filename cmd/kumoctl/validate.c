/*
 * validate.c - `kumoctl validate`: decode, default and validate manifests
 * offline, printing every problem of every object with its file, line and
 * field path. The same checks the apiserver runs on create and update.
 */
#include "cmd/kumoctl/kumoctl.h"

#include <stdio.h>
#include <string.h>

const char kumoctl_validate_help[] =
    "Check manifests offline: every document is decoded strictly (unknown fields\n"
    "are errors), defaulted and validated, and every problem is printed with its\n"
    "file, line, object and field path.\n"
    "\n"
    "Usage:\n"
    "  kumoctl validate -f FILE|DIR|- [-f ...] [flags]\n"
    "\n"
    "Flags:\n"
    "  -f, --filename FILE|DIR|-  a manifest (YAML, several documents allowed, or\n"
    "                             JSON, one object or a List), a directory of\n"
    "                             *.yaml, *.yml and *.json files (sorted by name),\n"
    "                             or - for stdin; repeatable\n"
    "  -R, --recursive            also read the subdirectories of a DIR\n"
    "      --max-bytes N          refuse an input larger than N bytes (default 16Mi;\n"
    "                             suffixes Ki, Mi, Gi)\n"
    "  -h, --help                 print this help\n"
    "\n"
    "Examples:\n"
    "  kumoctl validate -f examples/\n"
    "  kumoctl validate -f infra.yaml -f app.yaml\n"
    "  cat infra.yaml | kumoctl validate -f -\n"
    "\n"
    "Output: one line per problem on stderr, such as\n"
    "  infra.yaml:3: Infra \"web\" is invalid: spec.groups[1].size: Invalid value: -1: must be\n"
    "  greater than or equal to 0\n"
    "and \"N objects valid\" on stdout when there is none.\n"
    "\n"
    "Exit status: 0 every object is valid; 1 an object is invalid or an input could\n"
    "not be read or parsed; 2 usage error.\n";

typedef struct validate_tally {
    size_t objects;
    size_t invalid;
} validate_tally;

static void validate_document(void *context, const kumoctl_source *source,
                              kumo_object_document *doc)
{
    validate_tally *tally = context;
    char location[4200];
    kumoctl_location(source, doc->line, location, sizeof(location));
    tally->objects++;
    if (doc->diag.code != KUMO_ERROR_OK || doc->object == NULL) {
        tally->invalid++;
        kumoctl_print_document_errors(location, doc, &doc->diag);
        return;
    }
    kumo_diag diag;
    kumo_diag_init(&diag);
    if (kumo_object_default(doc->object, &diag) != KUMO_ERROR_OK ||
        kumo_object_validate(doc->object, &diag) != KUMO_ERROR_OK) {
        tally->invalid++;
        kumoctl_print_document_errors(location, doc, &diag);
    }
    kumo_diag_fini(&diag);
}

/* Validates every document of every input; prints the verdict. */
static int validate_inputs(kumoctl_input *input)
{
    validate_tally tally = {0, 0};
    size_t unreadable = kumoctl_input_decode(input, validate_document, &tally);
    if (unreadable == 0 && tally.invalid == 0 && tally.objects > 0) {
        printf("%zu object%s valid\n", tally.objects, tally.objects == 1 ? "" : "s");
        return KUMOCTL_EXIT_OK;
    }
    if (unreadable == 0 && tally.objects == 0)
        return kumoctl_error("no objects found in the input; a manifest needs apiVersion, kind "
                             "and metadata.name");
    char summary[160] = "";
    if (tally.invalid > 0)
        snprintf(summary, sizeof(summary), "%zu of %zu object%s invalid", tally.invalid,
                 tally.objects, tally.objects == 1 ? "" : "s");
    if (unreadable > 0)
        snprintf(summary + strlen(summary), sizeof(summary) - strlen(summary),
                 "%s%zu input%s could not be read or parsed", tally.invalid ? "; " : "", unreadable,
                 unreadable == 1 ? "" : "s");
    return kumoctl_error("%s", summary);
}

int kumoctl_validate_run(int argc, char **argv)
{
    static const kumoctl_flag flags[] = {KUMOCTL_INPUT_FLAGS};
    kumoctl_input input;
    kumoctl_input_init(&input, "kumoctl validate");
    int status = kumoctl_input_parse(&input, flags, sizeof(flags) / sizeof(flags[0]), argc, argv,
                                     kumoctl_validate_help, NULL, NULL);
    if (status == KUMOCTL_CONTINUE)
        status = validate_inputs(&input);
    kumoctl_input_fini(&input);
    return status;
}
