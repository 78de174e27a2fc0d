/*
 * modify.h - the verbs that change one existing object (patch, scale,
 * label, annotate, edit) and what they share (modify.c).
 */
#ifndef KUMOCTL_MODIFY_H
#define KUMOCTL_MODIFY_H

#include "cmd/kumoctl/remote.h"

int kumoctl_patch_run(int argc, char **argv);
int kumoctl_scale_run(int argc, char **argv);
int kumoctl_label_run(int argc, char **argv);
int kumoctl_annotate_run(int argc, char **argv);
int kumoctl_edit_run(int argc, char **argv);
int kumoctl_diff_run(int argc, char **argv);
int kumoctl_rollout_run(int argc, char **argv);
int kumoctl_logs_run(int argc, char **argv);
extern const char kumoctl_patch_help[];
extern const char kumoctl_scale_help[];
extern const char kumoctl_label_help[];
extern const char kumoctl_annotate_help[];
extern const char kumoctl_edit_help[];
extern const char kumoctl_diff_help[];
extern const char kumoctl_rollout_help[];
extern const char kumoctl_logs_help[];

/* Usage error unless the targets name exactly one object. */
int kumoctl_single_target(const kumoctl_targets *targets, const char *command);

/* Gets the object from -n's namespace; prints "... not found" or the failure. Exit code. */
int kumoctl_object_read(kumoctl_remote *remote, const kumo_object_kind *kind, const char *name,
                        ProtobufCMessage **out);

/*
 * Sends a JSON merge patch when applying it locally changes the object
 * (*changed says whether it did). Returns an exit code; messages printed.
 */
int kumoctl_object_merge_patch(kumoctl_remote *remote, const kumo_object_kind *kind,
                               const char *name, const kumo_value *patch, int *changed);

/* Changes *root in place (may replace it); 0, or -1 with a sentence in err. */
typedef int (*kumoctl_modify_fn)(void *context, kumo_value **root, char *err, size_t err_size);

/*
 * Read, fn, update with the read's resourceVersion; again from the read on
 * Conflict (at most 5 times). Nothing is written when fn changed nothing
 * (*changed 0). Returns an exit code; messages printed.
 */
int kumoctl_object_modify(kumoctl_remote *remote, const kumo_object_kind *kind, const char *name,
                          kumoctl_modify_fn fn, void *context, int *changed);

/* Parses a JSON or YAML text given on the command line; NULL (error printed naming `what`). */
kumo_value *kumoctl_value_parse(const char *text, const char *what);

#endif
