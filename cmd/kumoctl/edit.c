/*
 * edit.c - `kumoctl edit`: open one object as YAML in $KUMO_EDITOR or
 * $EDITOR (else vi), and write back what was saved.
 *
 * The saved object is decoded strictly and sent with update, whose
 * resourceVersion precondition refuses it when someone else changed the
 * object meanwhile. On any failure the file is kept, with the error written
 * as comments at its top, and its path printed, like kubectl; nothing saved
 * (or the same text) means the edit is cancelled.
 */
#include "cmd/kumoctl/modify.h"

#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

const char kumoctl_edit_help[] =
    "Edit one object in your editor and save it back.\n"
    "\n"
    "Usage:\n"
    "  kumoctl edit KIND NAME [flags]\n"
    "  kumoctl edit KIND/NAME [flags]\n"
    "\n"
    "The editor is $KUMO_EDITOR, else $EDITOR, else vi. Saving the object updates it;\n"
    "leaving it unchanged cancels. When the update fails (an invalid object, or\n"
    "someone changed it meanwhile) the error is shown and your file is kept, with\n"
    "the error as comments at its top, for another try with kumoctl apply -f.\n"
    "\n"
    "Flags:\n" KUMOCTL_REMOTE_FLAGS_HELP "\n"
    "Examples:\n"
    "  kumoctl edit infra hello\n"
    "  KUMO_EDITOR=nano kumoctl edit conn/aws-use1\n"
    "\n"
    "Output: \"infra.kumo.dev/hello edited\", or \"Edit cancelled, no changes made.\"\n"
    "Exit status: 0 edited or cancelled; 1 the update failed (the file is kept);\n"
    "2 usage error.\n";

static const char edit_header[] =
    "# Please edit the object below. Lines beginning with a '#' will be ignored,\n"
    "# and an empty file will abort the edit. If an error occurs while saving, this file\n"
    "# is kept with the failures at its top.\n"
    "#\n";

static int run_editor(const char *path)
{
    const char *editor = getenv("KUMO_EDITOR");
    if (editor == NULL || editor[0] == '\0')
        editor = getenv("EDITOR");
    if (editor == NULL || editor[0] == '\0')
        editor = "vi";
    char command[1024];
    snprintf(command, sizeof(command), "%s \"$0\"", editor);
    char *argv[] = {"sh", "-c", command, (char *)path, NULL};
    pid_t pid;
    int status = 0;
    if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0 ||
        waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return kumoctl_error("the editor (%s) failed; nothing was changed", editor);
    return KUMOCTL_EXIT_OK;
}

/* The text without '#' comment lines; malloc'd. */
static char *without_comments(const char *text)
{
    size_t len = strlen(text), n = 0;
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t line_len = end ? (size_t)(end - line) + 1 : strlen(line);
        if (line[0] != '#') {
            memcpy(out + n, line, line_len);
            n += line_len;
        }
        line += line_len;
    }
    out[n] = '\0';
    return out;
}

/* Keeps the edited file with the error as comments on top; prints where it is. */
static int keep_file(const char *path, const char *edited, const char *error)
{
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fprintf(f, "%s# The edit failed:\n", edit_header);
        for (const char *p = error; *p;) {
            size_t n = strcspn(p, "\n");
            fprintf(f, "# %.*s\n", (int)n, p);
            p += n + (p[n] == '\n');
        }
        fputs(edited, f);
        fclose(f);
    }
    return kumoctl_error("%s\nA copy of your changes has been stored to \"%s\"", error, path);
}

/* Decodes the saved text and updates the object. An exit code; messages printed. */
static int save(kumoctl_remote *remote, const kumo_object_kind *kind, const char *name,
                const char *path, const char *edited)
{
    ProtobufCMessage *object = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    char error[2048] = "";
    kumo_error e = kumo_object_decode(kind, edited, strlen(edited), KUMO_CODEC_FORMAT_YAML, NULL,
                                      &object, &diag);
    if (e != KUMO_ERROR_OK) {
        snprintf(error, sizeof(error), "%s", diag.message);
    } else if (strcmp(kumo_object_name(object), name) != 0) {
        snprintf(error, sizeof(error), "metadata.name cannot change (from \"%s\" to \"%s\")", name,
                 kumo_object_name(object));
    } else {
        kumo_diag_fini(&diag);
        e = kumo_client_update(remote->client, object, NULL, &diag);
        if (e == KUMO_ERROR_CONFLICT)
            snprintf(error, sizeof(error),
                     "%s \"%s\" was changed by someone else while you edited it: %s", kind->kind,
                     name, diag.message);
        else if (e != KUMO_ERROR_OK)
            snprintf(error, sizeof(error), "%s", diag.message);
    }
    int status = KUMOCTL_EXIT_OK;
    char ref[512];
    kumoctl_object_ref(kind, name, ref, sizeof(ref));
    if (error[0] != '\0') {
        status = keep_file(path, edited, error);
    } else {
        printf("%s edited\n", ref);
        unlink(path);
    }
    kumo_object_destroy(object);
    kumo_diag_fini(&diag);
    return status;
}

static int edit_object(kumoctl_remote *remote, const kumo_object_kind *kind, const char *name)
{
    ProtobufCMessage *object = NULL;
    int status = kumoctl_object_read(remote, kind, name, &object);
    if (status != KUMOCTL_EXIT_OK)
        return status;
    kumo_codec_buffer yaml;
    kumo_codec_buffer_init(&yaml);
    kumo_diag diag;
    kumo_diag_init(&diag);
    char path[600];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof(path), "%s/kumoctl-edit-XXXXXX.yaml", tmp && tmp[0] ? tmp : "/tmp");
    int fd = mkstemps(path, 5);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (kumo_codec_yaml_encode(object, &yaml, &diag) != KUMO_ERROR_OK || f == NULL) {
        status = kumoctl_error("cannot prepare the file to edit: %s",
                               diag.message[0] ? diag.message : "cannot write in /tmp");
        if (f)
            fclose(f);
        goto done;
    }
    fprintf(f, "%s%s", edit_header, yaml.data);
    fclose(f);
    status = run_editor(path);
    kumoctl_source source = {path, 0};
    size_t length = 0;
    char *saved = status == KUMOCTL_EXIT_OK
                      ? kumoctl_source_read(&source, KUMO_CODEC_DEFAULT_MAX_BYTES, &length)
                      : NULL;
    char *edited = saved ? without_comments(saved) : NULL;
    if (status == KUMOCTL_EXIT_OK && edited == NULL) {
        status = KUMOCTL_EXIT_FAILED;
    } else if (edited != NULL &&
               (strspn(edited, " \t\n") == strlen(edited) || strcmp(edited, yaml.data) == 0)) {
        printf("Edit cancelled, no changes made.\n");
        unlink(path);
    } else if (edited != NULL) {
        status = save(remote, kind, name, path, edited);
    }
    if (status != KUMOCTL_EXIT_OK && edited == NULL)
        unlink(path);
    free(saved);
    free(edited);
done:
    kumo_codec_buffer_fini(&yaml);
    kumo_diag_fini(&diag);
    kumo_object_destroy(object);
    return status;
}

int kumoctl_edit_run(int argc, char **argv)
{
    static const kumoctl_flag flags[] = {
        KUMOCTL_REMOTE_FLAGS,
        {"help", 'h', 0, KUMOCTL_FLAG_HELP, NULL},
    };
    kumoctl_remote remote;
    kumoctl_remote_init(&remote, "kumoctl edit");
    kumoctl_targets targets;
    memset(&targets, 0, sizeof(targets));
    kumoctl_parser parser;
    kumoctl_parser_init(&parser, remote.command, flags, sizeof(flags) / sizeof(flags[0]), argc,
                        argv);
    int id, status = KUMOCTL_EXIT_OK;
    while (status == KUMOCTL_EXIT_OK && (id = kumoctl_parser_next(&parser)) != KUMOCTL_PARSE_END) {
        int taken = kumoctl_remote_flag(&remote, id, parser.value);
        if (id == KUMOCTL_FLAG_HELP) {
            fputs(kumoctl_edit_help, stdout);
            return KUMOCTL_EXIT_OK;
        }
        if (id == KUMOCTL_PARSE_ERROR || taken == KUMOCTL_INPUT_ERROR)
            status = KUMOCTL_EXIT_USAGE;
        else if (id == KUMOCTL_PARSE_ARGUMENT)
            status = kumoctl_targets_add(&targets, remote.command, parser.value);
    }
    if (status == KUMOCTL_EXIT_OK)
        status = kumoctl_single_target(&targets, remote.command);
    if (status == KUMOCTL_EXIT_OK && strcmp(targets.name_kinds[0]->kind, "Credential") == 0)
        status = kumoctl_error("a Credential's data is write-only and cannot be edited; change "
                               "its manifest and apply it");
    if (status == KUMOCTL_EXIT_OK)
        status = kumoctl_remote_connect(&remote);
    if (status == KUMOCTL_EXIT_OK)
        status = edit_object(&remote, targets.name_kinds[0], targets.names[0]);
    kumoctl_remote_fini(&remote);
    return status;
}
