/*
 * api_resources.c - `kumoctl api-resources`: the kinds this kumoctl speaks,
 * with the names and short names every other command accepts. Read from the
 * kind registry compiled in (the same one kumod serves), so it works offline.
 */
#include "cmd/kumoctl/remote.h"

#include <string.h>

const char kumoctl_api_resources_help[] =
    "List the kinds of the kumo API with their short names.\n"
    "\n"
    "Usage:\n"
    "  kumoctl api-resources [-o name] [--no-headers]\n"
    "\n"
    "Flags:\n"
    "  -o, --output name          only the resource names\n"
    "      --no-headers           no header line\n"
    "  -h, --help                 print this help\n"
    "\n"
    "Every command takes the NAME, a SHORTNAME or the KIND, in any case:\n"
    "  kumoctl get infras   kumoctl get inf   kumoctl get Infra\n";

int kumoctl_api_resources_run(int argc, char **argv)
{
    static const kumoctl_flag flags[] = {
        {"output", 'o', 1, KUMOCTL_FLAG_OUTPUT, "name"},
        {"no-headers", 0, 0, KUMOCTL_FLAG_NO_HEADERS, NULL},
        {"help", 'h', 0, KUMOCTL_FLAG_HELP, NULL},
    };
    const char *command = "kumoctl api-resources";
    int names_only = 0, headers = 1, id;
    kumoctl_parser parser;
    kumoctl_parser_init(&parser, command, flags, sizeof(flags) / sizeof(flags[0]), argc, argv);
    while ((id = kumoctl_parser_next(&parser)) != KUMOCTL_PARSE_END) {
        if (id == KUMOCTL_FLAG_HELP) {
            fputs(kumoctl_api_resources_help, stdout);
            return KUMOCTL_EXIT_OK;
        }
        if (id == KUMOCTL_PARSE_ERROR)
            return KUMOCTL_EXIT_USAGE;
        if (id == KUMOCTL_PARSE_ARGUMENT)
            return kumoctl_usage_error(command, "unexpected argument \"%s\"", parser.value);
        if (id == KUMOCTL_FLAG_NO_HEADERS)
            headers = 0;
        else if (strcmp(parser.value, "name") == 0)
            names_only = 1;
        else
            return kumoctl_usage_error(command, "unknown output \"%s\"; use -o name", parser.value);
    }
    if (names_only) {
        for (size_t i = 0; i < kumo_object_kind_count(); i++)
            printf("%s.%s\n", kumo_object_kind_at(i)->plural, KUMO_API_GROUP);
        return KUMOCTL_EXIT_OK;
    }
    char shorts[32][64];
    size_t wname = 4, wshort = 10;
    for (size_t i = 0; i < kumo_object_kind_count() && i < 32; i++) {
        const kumo_object_kind *k = kumo_object_kind_at(i);
        size_t len = 0;
        shorts[i][0] = '\0';
        for (const char *const *s = k->short_names; s && *s; s++)
            len += (size_t)snprintf(shorts[i] + len,
                                    len < sizeof(shorts[i]) ? sizeof(shorts[i]) - len : 0, "%s%s",
                                    s == k->short_names ? "" : ",", *s);
        wname = strlen(k->plural) > wname ? strlen(k->plural) : wname;
        wshort = strlen(shorts[i]) > wshort ? strlen(shorts[i]) : wshort;
    }
    if (headers)
        printf("%-*s   %-*s   %-17s   %-10s   %s\n", (int)wname, "NAME", (int)wshort, "SHORTNAMES",
               "APIVERSION", "NAMESPACED", "KIND");
    for (size_t i = 0; i < kumo_object_kind_count() && i < 32; i++) {
        const kumo_object_kind *k = kumo_object_kind_at(i);
        printf("%-*s   %-*s   %-17s   %-10s   %s\n", (int)wname, k->plural, (int)wshort, shorts[i],
               KUMO_API_VERSION, "true", k->kind);
    }
    return KUMOCTL_EXIT_OK;
}
