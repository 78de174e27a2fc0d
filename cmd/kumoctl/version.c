/*
 * version.c - `kumoctl version`: the client's version (from the CMake project
 * version) and the API version it speaks. A later issue adds the server's.
 */
#include "cmd/kumoctl/kumoctl.h"

#include <stdio.h>
#include <string.h>

const char kumoctl_version_help[] =
    "Print the version of kumoctl and the API version it speaks.\n"
    "\n"
    "Usage:\n"
    "  kumoctl version [-o json|yaml]\n"
    "\n"
    "Flags:\n"
    "  -o, --output json|yaml  print as JSON or YAML instead of text\n"
    "  -h, --help              print this help\n"
    "\n"
    "Examples:\n"
    "  kumoctl version\n"
    "  kumoctl version -o json\n";

enum { VERSION_TEXT, VERSION_JSON, VERSION_YAML };

static void print_version(int form)
{
    const char *version = "v" KUMO_VERSION;
    if (form == VERSION_JSON)
        printf("{\n    \"clientVersion\": {\n        \"version\": \"%s\",\n"
               "        \"apiVersion\": \"%s\"\n    }\n}\n",
               version, KUMO_API_VERSION);
    else if (form == VERSION_YAML)
        printf("clientVersion:\n  version: %s\n  apiVersion: %s\n", version, KUMO_API_VERSION);
    else
        printf("kumoctl %s\nAPI version: %s\n", version, KUMO_API_VERSION);
}

int kumoctl_version_run(int argc, char **argv)
{
    static const kumoctl_flag flags[] = {
        {"output", 'o', 1, KUMOCTL_FLAG_OUTPUT, "json or yaml"},
        {"help", 'h', 0, KUMOCTL_FLAG_HELP, NULL},
    };
    const char *command = "kumoctl version";
    kumoctl_parser parser;
    int form = VERSION_TEXT, id;
    kumoctl_parser_init(&parser, command, flags, sizeof(flags) / sizeof(flags[0]), argc, argv);
    while ((id = kumoctl_parser_next(&parser)) != KUMOCTL_PARSE_END) {
        if (id == KUMOCTL_FLAG_HELP) {
            fputs(kumoctl_version_help, stdout);
            return KUMOCTL_EXIT_OK;
        }
        if (id == KUMOCTL_PARSE_ERROR)
            return KUMOCTL_EXIT_USAGE;
        if (id == KUMOCTL_PARSE_ARGUMENT)
            return kumoctl_usage_error(command, "unexpected argument \"%s\"", parser.value);
        if (strcmp(parser.value, "json") == 0)
            form = VERSION_JSON;
        else if (strcmp(parser.value, "yaml") == 0)
            form = VERSION_YAML;
        else
            return kumoctl_usage_error(command, "unknown output \"%s\"; use -o json or -o yaml",
                                       parser.value);
    }
    print_version(form);
    return KUMOCTL_EXIT_OK;
}
