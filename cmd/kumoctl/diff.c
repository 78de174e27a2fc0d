/*
 * diff.c - `kumoctl diff -f`: what `kumoctl apply -f` would change, as a
 * unified diff of the live objects against the objects apply would leave.
 *
 * Like kubectl, the two sides are written as YAML files into two temporary
 * directories ($TMPDIR or /tmp: LIVE-* and MERGED-*, one file per object named
 * kumo.dev.v1alpha1.<Kind>.<namespace>.<name>) and compared with
 * `diff -u -N` (or $KUMOCTL_EXTERNAL_DIFF). The merged side is the live
 * object with apply's changes: spec, labels and annotations from the
 * manifest (defaulted as kumod would), finalizers added, owner references
 * replaced when the manifest has some; an absent object is the manifest.
 * Exit status is kubectl's: 0 no difference, 1 a difference, >1 an error.
 * A Credential's data is write-only: it is left out of both sides.
 */
#define _GNU_SOURCE /* nftw's FTW_DEPTH */
#include "cmd/kumoctl/modify.h"

#include <errno.h>
#include <ftw.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

enum { DIFF_EXIT_ERROR = 2 };

const char kumoctl_diff_help[] =
    "Show what apply would change: a unified diff of the objects on the server\n"
    "against the objects applying the manifests would leave.\n"
    "\n"
    "Usage:\n"
    "  kumoctl diff -f FILE|DIR|- [flags]\n"
    "\n"
    "Flags:\n"
    "  -f, --filename FILE|DIR|-  manifests, as for apply; repeatable\n"
    "  -R, --recursive            also read the subdirectories of a DIR\n"
    "      --max-bytes N          refuse an input larger than N bytes (default 16Mi)\n"
    "  -n, --namespace NS         the namespace of objects that name none\n"
    "  -s, --server URL           the NATS server kumod serves on\n"
    "      --request-timeout D    how long one request may take (default 10s)\n"
    "\n"
    "The diff program is `diff -u -N`, or $KUMOCTL_EXTERNAL_DIFF (a command given\n"
    "the two directories).\n"
    "\n"
    "Examples:\n"
    "  kumoctl diff -f examples/quickstart.yaml\n"
    "  kumoctl diff -f infra.yaml && echo \"nothing to apply\"\n"
    "\n"
    "Exit status: 0 no difference; 1 a difference was found; 2 or more an error\n"
    "(as kubectl diff).\n";

typedef struct diff_state {
    kumoctl_remote remote;
    char live[600], merged[600]; /* the two directories */
    int failed;
} diff_state;

/* Replaces member `key` of *object with a copy of `value` (NULL: removes it). */
static int replace_member(kumo_value **object, const char *key, const kumo_value *value)
{
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    char head[160];
    snprintf(head, sizeof(head), "{\"%s\": ", key);
    kumo_codec_buffer_append(&buf, head, strlen(head));
    size_t mark = buf.len;
    kumo_codec_buffer_append(&buf, "null}", 5);
    kumo_value *patch = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    int rc = kumo_codec_value_parse_json(buf.data, buf.len, NULL, &patch, &diag) == KUMO_ERROR_OK &&
                     kumo_codec_value_merge_patch(object, patch, &diag) == KUMO_ERROR_OK
                 ? 0
                 : -1;
    kumo_codec_value_destroy(patch);
    patch = NULL;
    if (rc == 0 && value != NULL) {
        buf.len = mark;
        rc = kumo_codec_value_to_json(value, 0, &buf) == KUMO_ERROR_OK &&
                     kumo_codec_buffer_append(&buf, "}", 1) == KUMO_ERROR_OK &&
                     kumo_codec_value_parse_json(buf.data, buf.len, NULL, &patch, &diag) ==
                         KUMO_ERROR_OK &&
                     kumo_codec_value_merge_patch(object, patch, &diag) == KUMO_ERROR_OK
                 ? 0
                 : -1;
    }
    kumo_codec_value_destroy(patch);
    kumo_diag_fini(&diag);
    kumo_codec_buffer_fini(&buf);
    return rc;
}

/* metadata.finalizers = have + the items of mine that have lacks. */
static int finalizers_union(kumo_value **meta, const kumo_value *have, const kumo_value *mine)
{
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    kumo_codec_buffer_append(&buf, "[", 1);
    for (size_t i = 0; have && i < have->count; i++) {
        if (i > 0)
            kumo_codec_buffer_append(&buf, ",", 1);
        kumo_codec_value_to_json(have->items[i], 0, &buf);
    }
    for (size_t i = 0; i < mine->count; i++) {
        int found = 0;
        for (size_t j = 0; have && j < have->count; j++)
            found |= kumo_codec_value_equal(mine->items[i], have->items[j]);
        if (found)
            continue;
        if (buf.len > 1)
            kumo_codec_buffer_append(&buf, ",", 1);
        kumo_codec_value_to_json(mine->items[i], 0, &buf);
    }
    kumo_codec_buffer_append(&buf, "]", 1);
    kumo_value *all = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    int rc = kumo_codec_value_parse_json(buf.data, buf.len, NULL, &all, &diag) == KUMO_ERROR_OK
                 ? replace_member(meta, "finalizers", all)
                 : -1;
    kumo_codec_value_destroy(all);
    kumo_diag_fini(&diag);
    kumo_codec_buffer_fini(&buf);
    return rc;
}

/* The live value with what apply would change (see the file comment). */
static kumo_value *merged_value(const kumo_value *live, const kumo_value *sent)
{
    kumo_value *out = kumo_codec_value_clone(live);
    kumo_value *meta = out ? kumo_codec_value_clone(kumo_codec_value_get(out, "metadata")) : NULL;
    const kumo_value *sent_meta = kumo_codec_value_get(sent, "metadata");
    int rc = out && meta ? 0 : -1;
    if (rc == 0)
        rc = replace_member(&out, "spec", kumo_codec_value_get(sent, "spec"));
    if (rc == 0)
        rc = replace_member(&meta, "labels", kumo_codec_value_get(sent_meta, "labels"));
    if (rc == 0)
        rc = replace_member(&meta, "annotations", kumo_codec_value_get(sent_meta, "annotations"));
    const kumo_value *owners = kumo_codec_value_get(sent_meta, "ownerReferences");
    if (rc == 0 && owners != NULL)
        rc = replace_member(&meta, "ownerReferences", owners);
    const kumo_value *mine = kumo_codec_value_get(sent_meta, "finalizers");
    const kumo_value *have = kumo_codec_value_get(meta, "finalizers");
    if (rc == 0 && mine != NULL) /* the union: the stored ones, then the manifest's new ones */
        rc = finalizers_union(&meta, have, mine);
    if (rc == 0)
        rc = replace_member(&out, "metadata", meta);
    kumo_codec_value_destroy(meta);
    if (rc != 0) {
        kumo_codec_value_destroy(out);
        return NULL;
    }
    return out;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const kumo_value_member *)a)->key, ((const kumo_value_member *)b)->key);
}

/* Sorts every object's members by key, so that map entries (labels, config) come out in
 * one order on both sides; message fields keep their order anyway. */
static void sort_members(kumo_value *v)
{
    if (v == NULL)
        return;
    if (v->type == KUMO_VALUE_OBJECT)
        qsort(v->members, v->count, sizeof(*v->members), by_key);
    for (size_t i = 0; i < v->count; i++)
        sort_members(v->type == KUMO_VALUE_OBJECT  ? v->members[i].value
                     : v->type == KUMO_VALUE_ARRAY ? v->items[i]
                                                   : NULL);
}

/* Writes a value as YAML (through its message) to dir/name. */
static int write_side(const char *dir, const char *name, const kumo_object_kind *kind,
                      const kumo_value *value)
{
    if (value == NULL)
        return 0; /* absent: no file (diff -N) */
    sort_members((kumo_value *)value);
    ProtobufCMessage *message = NULL;
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    kumo_diag diag;
    kumo_diag_init(&diag);
    int rc = kumo_codec_message_from_value(kind->descriptor, value, NULL, &message, &diag) ==
                         KUMO_ERROR_OK &&
                     kumo_codec_yaml_encode(message, &buf, &diag) == KUMO_ERROR_OK
                 ? 0
                 : -1;
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = rc == 0 ? fopen(path, "w") : NULL;
    if (f == NULL || fwrite(buf.data, 1, buf.len, f) != buf.len)
        rc = -1;
    if (f != NULL && fclose(f) != 0)
        rc = -1;
    if (rc != 0)
        kumoctl_error("cannot write %s: %s", path, diag.message[0] ? diag.message : "I/O error");
    kumo_object_destroy(message);
    kumo_codec_buffer_fini(&buf);
    kumo_diag_fini(&diag);
    return rc;
}

static void diff_document(void *context, const kumoctl_source *source, kumo_object_document *doc)
{
    diff_state *s = context;
    char location[4200];
    kumoctl_location(source, doc->line, location, sizeof(location));
    if (doc->diag.code != KUMO_ERROR_OK || doc->object == NULL) {
        s->failed++;
        kumoctl_print_document_errors(location, doc, &doc->diag);
        return;
    }
    Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta_ensure(doc->object);
    kumo_diag diag;
    kumo_diag_init(&diag);
    if (meta == NULL ||
        (meta->namespace_[0] == '\0' &&
         kumo_codec_string_set(&meta->namespace_, kumoctl_remote_namespace(&s->remote)))) {
        s->failed++;
        return;
    }
    const char *name = kumo_object_name(doc->object);
    ProtobufCMessage *live = NULL;
    kumo_error e =
        kumo_client_get(s->remote.client, doc->kind, meta->namespace_, name, &live, &diag);
    kumo_value *live_value = NULL, *sent_value = NULL, *merged = NULL;
    if (e != KUMO_ERROR_OK && e != KUMO_ERROR_NOT_FOUND) {
        s->failed++;
        kumoctl_remote_fail(&s->remote, &diag, "%s: getting %s \"%s\"", location, doc->kind->kind,
                            name);
    } else {
        kumo_diag_fini(&diag);
        kumo_object_default(doc->object, &diag);
        sent_value = kumoctl_object_to_value(doc->object);
        live_value = live ? kumoctl_object_to_value(live) : NULL;
        /* a Credential's data is write-only: never shown, never compared */
        if (sent_value && strcmp(doc->kind->kind, "Credential") == 0) {
            kumo_value *spec = (kumo_value *)kumo_codec_value_get(sent_value, "spec");
            if (spec != NULL && replace_member(&spec, "data", NULL) != 0)
                s->failed++;
        }
        merged =
            live_value ? merged_value(live_value, sent_value) : kumo_codec_value_clone(sent_value);
        char file[400];
        snprintf(file, sizeof(file), "%s.%s.%s.%s.%s", KUMO_API_GROUP, "v1alpha1", doc->kind->kind,
                 meta->namespace_, name);
        if (merged == NULL || write_side(s->live, file, doc->kind, live_value) != 0 ||
            write_side(s->merged, file, doc->kind, merged) != 0)
            s->failed++;
    }
    kumo_codec_value_destroy(live_value);
    kumo_codec_value_destroy(sent_value);
    kumo_codec_value_destroy(merged);
    kumo_object_destroy(live);
    kumo_diag_fini(&diag);
}

/* Runs the diff program; its exit status (0 same, 1 different, else trouble). */
static int run_diff(const diff_state *s)
{
    const char *external = getenv("KUMOCTL_EXTERNAL_DIFF");
    char command[1024];
    snprintf(command, sizeof(command), "%s \"$0\" \"$1\"",
             external && external[0] ? external : "diff -u -N");
    char *argv[] = {"sh", "-c", command, (char *)s->live, (char *)s->merged, NULL};
    pid_t pid;
    fflush(stdout);
    if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0) {
        kumoctl_error("cannot run the diff program (%s)", command);
        return DIFF_EXIT_ERROR;
    }
    int status = 0;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return DIFF_EXIT_ERROR;
    return WEXITSTATUS(status);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Removes a directory this command made, with what it wrote in it. */
static void remove_dir(const char *dir)
{
    if (nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
}

/* "$TMPDIR/NAME-XXXXXX" (else /tmp), made with mkdtemp; NULL when it cannot be made. */
static char *temp_dir(char *buf, size_t size, const char *name)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, size, "%s/%s-XXXXXX", base && base[0] ? base : "/tmp", name);
    return mkdtemp(buf);
}

static int diff_flag(void *context, int id, const char *value)
{
    diff_state *s = context;
    int taken = kumoctl_remote_flag(&s->remote, id, value);
    if (taken == KUMOCTL_INPUT_TAKEN)
        return KUMOCTL_EXIT_OK;
    return taken == KUMOCTL_INPUT_ERROR ? DIFF_EXIT_ERROR
                                        : kumoctl_usage_error(s->remote.command, "unexpected flag");
}

/* Reads the manifests into the two directories and runs the diff program. */
static int diff_inputs(diff_state *s, kumoctl_input *input)
{
    if (temp_dir(s->live, sizeof(s->live), "LIVE") == NULL) {
        kumoctl_error("cannot make a temporary directory %s: %s", s->live, strerror(errno));
        return DIFF_EXIT_ERROR;
    }
    int status = DIFF_EXIT_ERROR;
    if (temp_dir(s->merged, sizeof(s->merged), "MERGED") == NULL) {
        kumoctl_error("cannot make a temporary directory %s: %s", s->merged, strerror(errno));
    } else {
        size_t unreadable = kumoctl_input_decode(input, diff_document, s);
        if (unreadable == 0 && s->failed == 0)
            status = run_diff(s);
        remove_dir(s->merged);
    }
    remove_dir(s->live);
    return status;
}

int kumoctl_diff_run(int argc, char **argv)
{
    static const kumoctl_flag flags[] = {KUMOCTL_INPUT_FLAGS, KUMOCTL_REMOTE_FLAGS};
    diff_state s;
    memset(&s, 0, sizeof(s));
    kumoctl_remote_init(&s.remote, "kumoctl diff");
    kumoctl_input input;
    kumoctl_input_init(&input, s.remote.command);
    int status = kumoctl_input_parse(&input, flags, sizeof(flags) / sizeof(flags[0]), argc, argv,
                                     kumoctl_diff_help, diff_flag, &s);
    if (status == KUMOCTL_CONTINUE)
        status = kumoctl_remote_connect(&s.remote) == KUMOCTL_EXIT_OK ? diff_inputs(&s, &input)
                                                                      : DIFF_EXIT_ERROR;
    else if (status != KUMOCTL_EXIT_OK)
        status = DIFF_EXIT_ERROR; /* 1 means "a difference" for diff */
    kumoctl_input_fini(&input);
    kumoctl_remote_fini(&s.remote);
    return status;
}
