/*
 * completion.c - `kumoctl completion bash|zsh` prints a shell script that
 * completes kumoctl's command lines; the script asks kumoctl itself through
 * the hidden `kumoctl __complete WORD... CURRENT`, which prints one
 * candidate a line: verbs, kinds, object names (listed from kumod, with a
 * short timeout), flags (read from each command's --help text, so they never
 * drift from the parser) and -o values.
 */
#include "cmd/kumoctl/remote.h"

#include <string.h>

enum {
    COMPLETION_TIMEOUT_MS = 2000, /* a shell waits for names: give up quickly */
    COMPLETION_NAMES_MAX = 500,   /* object names offered at most */
};

const char kumoctl_completion_help[] =
    "Print a shell script that completes kumoctl's verbs, kinds, object names and\n"
    "flags.\n"
    "\n"
    "Usage:\n"
    "  kumoctl completion bash|zsh\n"
    "\n"
    "Examples:\n"
    "  source <(kumoctl completion bash)      # in ~/.bashrc\n"
    "  source <(kumoctl completion zsh)       # in ~/.zshrc, after compinit\n"
    "  kumoctl completion bash > /etc/bash_completion.d/kumoctl\n"
    "\n"
    "Names are listed from kumod ($KUMO_NATS_URL, or --server on the command line)\n"
    "with a 2 second timeout; without kumod only verbs, kinds and flags complete.\n";

static const char bash_script[] =
    "# bash completion for kumoctl: source <(kumoctl completion bash)\n"
    "_kumoctl() {\n"
    "    local IFS=$'\\n'\n"
    "    COMPREPLY=($(\"${COMP_WORDS[0]}\" __complete \"${COMP_WORDS[@]:1:COMP_CWORD}\" "
    "2>/dev/null))\n"
    "}\n"
    "complete -o default -F _kumoctl kumoctl\n";

static const char zsh_script[] =
    "#compdef kumoctl\n"
    "# zsh completion for kumoctl: source <(kumoctl completion zsh), after compinit\n"
    "_kumoctl() {\n"
    "    local -a candidates\n"
    "    candidates=(\"${(@f)$(${words[1]} __complete \"${(@)words[2,CURRENT]}\" "
    "2>/dev/null)}\")\n"
    "    compadd -- $candidates\n"
    "}\n"
    "compdef _kumoctl kumoctl\n";

int kumoctl_completion_run(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(kumoctl_completion_help, stdout);
        return KUMOCTL_EXIT_OK;
    }
    if (argc != 2 || (strcmp(argv[1], "bash") != 0 && strcmp(argv[1], "zsh") != 0))
        return kumoctl_usage_error("kumoctl completion", "say which shell: bash or zsh");
    fputs(argv[1][0] == 'b' ? bash_script : zsh_script, stdout);
    return KUMOCTL_EXIT_OK;
}

/* ---- __complete ---------------------------------------------------------------------------- */

static int starts_with(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* Every "--flag" of a command's help text that starts with `current`, once each. */
static void complete_flags(const char *help, const char *current)
{
    const char *seen[64];
    size_t seen_len[64], seen_count = 0;
    for (const char *p = strstr(help, "--"); p != NULL; p = strstr(p + 2, "--")) {
        if (p > help && p[-1] != ' ' && p[-1] != '\n')
            continue;
        size_t n = 2 + strspn(p + 2, "abcdefghijklmnopqrstuvwxyz-"), i;
        for (i = 0; i < seen_count; i++)
            if (seen_len[i] == n && strncmp(seen[i], p, n) == 0)
                break;
        if (n <= 2 || i < seen_count || strncmp(p, current, strlen(current)) != 0)
            continue;
        printf("%.*s\n", (int)n, p);
        if (seen_count < 64) {
            seen[seen_count] = p;
            seen_len[seen_count++] = n;
        }
    }
}

static void complete_kinds(const char *current, int with_all)
{
    if (with_all && starts_with("all", current))
        printf("all\n");
    for (size_t i = 0; i < kumo_object_kind_count(); i++)
        if (starts_with(kumo_object_kind_at(i)->plural, current))
            printf("%s\n", kumo_object_kind_at(i)->plural);
}

/* The names of a kind's objects from kumod (silently nothing when it cannot be reached). */
static void complete_names(const char *server, const char *ns, const kumo_object_kind *kind,
                           const char *prefix, const char *current)
{
    kumoctl_remote remote;
    kumoctl_remote_init(&remote, "kumoctl __complete");
    remote.server = server;
    remote.ns = ns;
    remote.timeout_ms = COMPLETION_TIMEOUT_MS;
    kumo_diag diag;
    kumo_diag_init(&diag);
    ProtobufCMessage *list = NULL;
    kumo_client_list_options lo = {NULL, NULL, COMPLETION_NAMES_MAX, NULL};
    if (kumoctl_remote_connect(&remote) == KUMOCTL_EXIT_OK &&
        kumo_client_list(remote.client, kind, kumoctl_remote_namespace(&remote), &lo, &list,
                         &diag) == KUMO_ERROR_OK) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(list->descriptor, "items");
        size_t count = *(size_t *)((char *)list + f->quantifier_offset);
        ProtobufCMessage **items = *(ProtobufCMessage ***)((char *)list + f->offset);
        for (size_t i = 0; i < count; i++) {
            const char *name = kumo_object_name(items[i]);
            if (starts_with(name, current))
                printf("%s%s\n", prefix, name);
        }
    }
    kumo_object_destroy(list);
    kumo_diag_fini(&diag);
    kumoctl_remote_fini(&remote);
}

/* Verbs whose first argument is a kind (then names). */
static int takes_kind(const char *verb)
{
    static const char *const verbs[] = {"get",     "describe", "delete",   "edit",
                                        "patch",   "label",    "annotate", "scale",
                                        "rollout", "wait",     "explain"};
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strcmp(verb, verbs[i]) == 0)
            return 1;
    return 0;
}

/* Flags that take a value (the next word is not a positional argument). */
static int flag_takes_value(const char *word)
{
    static const char *const flags[] = {"-n",
                                        "--namespace",
                                        "-s",
                                        "--server",
                                        "-o",
                                        "--output",
                                        "-l",
                                        "--selector",
                                        "-f",
                                        "--filename",
                                        "--field-selector",
                                        "--sort-by",
                                        "--timeout",
                                        "--request-timeout",
                                        "-p",
                                        "--patch",
                                        "--type",
                                        "--replicas",
                                        "--group",
                                        "-c",
                                        "--component",
                                        "--for",
                                        "--cascade",
                                        "--max-bytes",
                                        "--patch-file",
                                        "--wait",
                                        "-w"};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if (strcmp(word, flags[i]) == 0)
            return strcmp(word, "-w") != 0;
    return 0;
}

static void complete_outputs(const char *current)
{
    static const char *const outputs[] = {"table",
                                          "wide",
                                          "yaml",
                                          "json",
                                          "name",
                                          "jsonpath=",
                                          "jsonpath-file=",
                                          "custom-columns=",
                                          "custom-columns-file="};
    for (size_t i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++)
        if (starts_with(outputs[i], current))
            printf("%s\n", outputs[i]);
}

/* The kind or object name the current word of a verb that takes kinds can be. */
static void complete_objects(const char *verb, int count, char **words, const char *current)
{
    /* the positional words before the current one, and -n / --server */
    const char *positional[8], *ns = NULL, *server = NULL;
    int n = 0;
    for (int i = 1; i < count - 1; i++) {
        if (flag_takes_value(words[i]) && i + 1 < count - 1) {
            if (!strcmp(words[i], "-n") || !strcmp(words[i], "--namespace"))
                ns = words[i + 1];
            if (!strcmp(words[i], "-s") || !strcmp(words[i], "--server"))
                server = words[i + 1];
            i++;
        } else if (words[i][0] != '-' && n < 8) {
            positional[n++] = words[i];
        }
    }
    if (strcmp(verb, "rollout") == 0 && n == 0) {
        printf("%s", starts_with("status", current) ? "status\n" : "");
        return;
    }
    int kind_at = strcmp(verb, "rollout") == 0 ? 1 : 0;
    const char *slash = strchr(current, '/');
    const kumo_object_kind *kind = NULL;
    if (slash != NULL) { /* KIND/NAME */
        char kind_text[64], prefix[80];
        snprintf(kind_text, sizeof(kind_text), "%.*s", (int)(slash - current), current);
        snprintf(prefix, sizeof(prefix), "%s/", kind_text);
        if ((kind = kumo_object_kind_lookup(kind_text)) != NULL)
            complete_names(server, ns, kind, prefix, slash + 1);
    } else if (n <= kind_at) {
        complete_kinds(current, strcmp(verb, "get") == 0);
    } else if (strcmp(verb, "explain") != 0 && !strchr(positional[kind_at], '/') &&
               !strchr(positional[kind_at], ',') &&
               (kind = kumo_object_kind_lookup(positional[kind_at])) != NULL) {
        complete_names(server, ns, kind, "", current);
    }
}

/* words[0] is the verb, words[count - 1] the word being completed. */
int kumoctl_complete(const kumoctl_command *commands, size_t command_count, int count, char **words)
{
    const char *current = count > 0 ? words[count - 1] : "";
    if (count <= 1) {
        for (size_t i = 0; i < command_count; i++)
            if (starts_with(commands[i].name, current))
                printf("%s\n", commands[i].name);
        return KUMOCTL_EXIT_OK;
    }
    const char *verb = words[0], *previous = words[count - 2];
    const kumoctl_command *command = NULL;
    for (size_t i = 0; i < command_count; i++)
        if (strcmp(commands[i].name, verb) == 0)
            command = &commands[i];
    if (command == NULL)
        return KUMOCTL_EXIT_OK;
    if (current[0] == '-')
        complete_flags(command->help, current);
    else if (strcmp(previous, "-o") == 0 || strcmp(previous, "--output") == 0)
        complete_outputs(current);
    else if (flag_takes_value(previous))
        return KUMOCTL_EXIT_OK;
    else if (strcmp(verb, "help") == 0)
        return kumoctl_complete(commands, command_count, 1, words + count - 1);
    else if (strcmp(verb, "completion") == 0)
        printf("%s%s", starts_with("bash", current) ? "bash\n" : "",
               starts_with("zsh", current) ? "zsh\n" : "");
    else if (takes_kind(verb))
        complete_objects(verb, count, words, current);
    return KUMOCTL_EXIT_OK;
}
