/*
 * flags.c - kumoctl's flag parser and the two ways a command reports a
 * problem: a usage error (exit 2) and a failure (exit 1).
 *
 * Accepted forms: --name value, --name=value, -n value, -nvalue, boolean
 * --name / -n, and "--" to end flags. Flags and positional arguments may
 * come in any order. "-" alone is an argument (stdin), never a flag.
 */
#include "cmd/kumoctl/kumoctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kumoctl_parser_init(kumoctl_parser *parser, const char *command, const kumoctl_flag *flags,
                         size_t flag_count, int argc, char **argv)
{
    memset(parser, 0, sizeof(*parser));
    parser->command = command;
    parser->flags = flags;
    parser->flag_count = flag_count;
    parser->argc = argc;
    parser->argv = argv;
    parser->next = 1;
}

int kumoctl_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nSee '%s --help' for usage.\n", command);
    return KUMOCTL_EXIT_USAGE;
}

int kumoctl_error(const char *fmt, ...)
{
    va_list ap;
    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return KUMOCTL_EXIT_FAILED;
}

static const kumoctl_flag *find_long(const kumoctl_parser *parser, const char *name, size_t len)
{
    for (size_t i = 0; i < parser->flag_count; i++)
        if (strlen(parser->flags[i].name) == len && strncmp(parser->flags[i].name, name, len) == 0)
            return &parser->flags[i];
    return NULL;
}

static const kumoctl_flag *find_short(const kumoctl_parser *parser, char name)
{
    for (size_t i = 0; i < parser->flag_count; i++)
        if (parser->flags[i].short_name != 0 && parser->flags[i].short_name == name)
            return &parser->flags[i];
    return NULL;
}

/* The flag's value: `inline_value` when given, else the next argument. */
static int take_value(kumoctl_parser *parser, const kumoctl_flag *flag, const char *typed,
                      const char *inline_value)
{
    if (!flag->takes_value) {
        if (inline_value != NULL) {
            kumoctl_usage_error(parser->command, "flag %s does not take a value", typed);
            return KUMOCTL_PARSE_ERROR;
        }
        parser->value = NULL;
        return flag->id;
    }
    if (inline_value == NULL) {
        if (parser->next >= parser->argc) {
            kumoctl_usage_error(parser->command, "flag %s needs a value (%s)", typed,
                                flag->value ? flag->value : "a value");
            return KUMOCTL_PARSE_ERROR;
        }
        inline_value = parser->argv[parser->next++];
    }
    parser->value = inline_value;
    return flag->id;
}

int kumoctl_parser_next(kumoctl_parser *parser)
{
    while (parser->next < parser->argc) {
        const char *arg = parser->argv[parser->next++];
        if (parser->only_arguments || arg[0] != '-' || arg[1] == '\0') {
            parser->value = arg;
            return KUMOCTL_PARSE_ARGUMENT;
        }
        if (strcmp(arg, "--") == 0) {
            parser->only_arguments = 1;
            continue;
        }
        if (arg[1] == '-') {
            const char *name = arg + 2, *equals = strchr(name, '=');
            size_t len = equals ? (size_t)(equals - name) : strlen(name);
            const kumoctl_flag *flag = find_long(parser, name, len);
            if (flag == NULL) {
                kumoctl_usage_error(parser->command, "unknown flag \"--%.*s\" for \"%s\"", (int)len,
                                    name, parser->command);
                return KUMOCTL_PARSE_ERROR;
            }
            char typed[64];
            snprintf(typed, sizeof(typed), "--%s", flag->name);
            return take_value(parser, flag, typed, equals ? equals + 1 : NULL);
        }
        const kumoctl_flag *flag = find_short(parser, arg[1]);
        if (flag == NULL || (!flag->takes_value && arg[2] != '\0')) {
            kumoctl_usage_error(parser->command, "unknown flag \"%s\" for \"%s\"", arg,
                                parser->command);
            return KUMOCTL_PARSE_ERROR;
        }
        char typed[8];
        snprintf(typed, sizeof(typed), "-%c", arg[1]);
        return take_value(parser, flag, typed, arg[2] != '\0' ? arg + 2 : NULL);
    }
    return KUMOCTL_PARSE_END;
}

int kumoctl_parse(const char *command, const kumoctl_flag *flags, size_t flag_count, int argc,
                  char **argv, const char *help, kumoctl_flag_fn fn, void *context)
{
    kumoctl_parser parser;
    kumoctl_parser_init(&parser, command, flags, flag_count, argc, argv);
    int id;
    while ((id = kumoctl_parser_next(&parser)) != KUMOCTL_PARSE_END) {
        if (id == KUMOCTL_FLAG_HELP) {
            fputs(help, stdout);
            return KUMOCTL_EXIT_OK;
        }
        if (id == KUMOCTL_PARSE_ERROR)
            return KUMOCTL_EXIT_USAGE;
        int status = fn(context, id, parser.value);
        if (status != KUMOCTL_EXIT_OK)
            return status;
    }
    return KUMOCTL_CONTINUE;
}

int kumoctl_parse_bytes(const char *text, size_t *out)
{
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {{"", 0}, {"Ki", 10}, {"Mi", 20}, {"Gi", 30}};
    char *end = NULL;
    if (text == NULL || text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    if (errno != 0 || end == text)
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].suffix) != 0)
            continue;
        if (n == 0 || n > (SIZE_MAX >> units[i].shift))
            return -1;
        *out = (size_t)n << units[i].shift;
        return 0;
    }
    return -1;
}
