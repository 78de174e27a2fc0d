/*
 * main.c - kumoctl's entry point: the table of commands and the dispatch.
 *
 * kumoctl is the kumo command-line client, shaped like kubectl. Commands that
 * work offline on manifests exist now (validate, convert, version); commands
 * that talk to a kumo apiserver over NATS (apply, get, describe, delete,
 * wait) are added to the same table, each in its own file.
 */
#include "cmd/kumoctl/kumoctl.h"
#include "cmd/kumoctl/modify.h"

#include <stdio.h>
#include <string.h>

static int help_run(int argc, char **argv);

static const char help_help[] = "Print the help of kumoctl or of one command.\n"
                                "\n"
                                "Usage:\n"
                                "  kumoctl help [COMMAND]\n";

/* The groups of `kumoctl --help`, in kubectl's order. */
static const char *const groups[] = {
    "Basic Commands (Beginner)",
    "Basic Commands (Intermediate)",
    "Deploy Commands",
    "Cluster Management Commands",
    "Troubleshooting and Debugging Commands",
    "Advanced Commands",
    "Settings Commands",
    "Other Commands",
};

static const kumoctl_command commands[] = {
    {"create", "Create objects from manifests", kumoctl_create_run, kumoctl_create_help, 0},
    {"explain", "Describe a kind or a field: type, documentation and fields", kumoctl_explain_run,
     kumoctl_explain_help, 1},
    {"get", "Show objects as a table, YAML, JSON, names, JSONPath or custom columns",
     kumoctl_get_run, kumoctl_get_help, 1},
    {"edit", "Edit an object in your editor and save it back", kumoctl_edit_run, kumoctl_edit_help,
     1},
    {"delete", "Delete objects (by name, file, label selector or --all) and wait until gone",
     kumoctl_delete_run, kumoctl_delete_help, 1},
    {"scale", "Set the size of an Infra group or the replicas of an App component",
     kumoctl_scale_run, kumoctl_scale_help, 2},
    {"rollout", "Wait until an Infra or an App has caught up with its spec (rollout status)",
     kumoctl_rollout_run, kumoctl_rollout_help, 2},
    {"describe", "Show one object in detail, with conditions and dependents", kumoctl_describe_run,
     kumoctl_describe_help, 4},
    {"logs", "Print the output of an App instance; -f follows it", kumoctl_logs_run,
     kumoctl_logs_help, 4},
    {"validate", "Check manifests offline: decode, default and validate every object",
     kumoctl_validate_run, kumoctl_validate_help, 4},
    {"diff", "Show what apply would change, as a unified diff", kumoctl_diff_run, kumoctl_diff_help,
     5},
    {"apply", "Create or update objects from manifests", kumoctl_apply_run, kumoctl_apply_help, 5},
    {"patch", "Change fields of an object with a merge patch or a JSON patch", kumoctl_patch_run,
     kumoctl_patch_help, 5},
    {"wait", "Wait for a condition or a deletion", kumoctl_wait_run, kumoctl_wait_help, 5},
    {"convert", "Print manifests as JSON or YAML with defaults filled in", kumoctl_convert_run,
     kumoctl_convert_help, 5},
    {"label", "Set or remove labels of objects", kumoctl_label_run, kumoctl_label_help, 6},
    {"annotate", "Set or remove annotations of objects", kumoctl_annotate_run,
     kumoctl_annotate_help, 6},
    {"completion", "Print a shell script that completes kumoctl's command lines (bash, zsh)",
     kumoctl_completion_run, kumoctl_completion_help, 6},
    {"api-resources", "List the kinds and their short names", kumoctl_api_resources_run,
     kumoctl_api_resources_help, 7},
    {"top", "Show CPU, memory and network of machines and Apps, or inter-cloud latency",
     kumoctl_top_run, kumoctl_top_help, 3},
    {"version", "Print the kumoctl and API versions", kumoctl_version_run, kumoctl_version_help, 7},
    {"help", "Print the help of kumoctl or of one command", help_run, help_help, 7},
};

static const size_t command_count = sizeof(commands) / sizeof(commands[0]);

static const kumoctl_command *command_find(const char *name)
{
    for (size_t i = 0; i < command_count; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_usage(FILE *out)
{
    fputs("kumoctl is the command-line client of kumo, a multi-cloud control plane.\n"
          "\n"
          "Usage:\n"
          "  kumoctl <command> [flags]\n"
          "\n",
          out);
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        fprintf(out, "%s:\n", groups[g]);
        for (size_t i = 0; i < command_count; i++)
            if (commands[i].group == (int)g)
                fprintf(out, "  %-13s %s\n", commands[i].name, commands[i].summary);
        fputc('\n', out);
    }
    fputs("Flags:\n"
          "  -h, --help  print this help\n"
          "\n"
          "Run 'kumoctl <command> --help' for a command's flags and examples.\n",
          out);
}

static int help_run(int argc, char **argv)
{
    if (argc > 2)
        return kumoctl_usage_error("kumoctl help", "give at most one command name");
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        print_usage(stdout);
        return KUMOCTL_EXIT_OK;
    }
    const kumoctl_command *command = command_find(argv[1]);
    if (command == NULL)
        return kumoctl_usage_error("kumoctl", "unknown command \"%s\" for \"kumoctl\"", argv[1]);
    fputs(command->help, stdout);
    return KUMOCTL_EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return KUMOCTL_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
        print_usage(stdout);
        return KUMOCTL_EXIT_OK;
    }
    if (name[0] == '-')
        return kumoctl_usage_error("kumoctl",
                                   "unknown flag \"%s\" for \"kumoctl\"; flags go "
                                   "after the command",
                                   name);
    if (strcmp(name, "__complete") == 0) /* what the completion scripts call */
        return kumoctl_complete(commands, command_count, argc - 2, argv + 2);
    const kumoctl_command *command = command_find(name);
    if (command == NULL)
        return kumoctl_usage_error("kumoctl", "unknown command \"%s\" for \"kumoctl\"", name);
    return command->run(argc - 1, argv + 1);
}
