/*
 * kumoctl.h - what the files of kumoctl share: the command table entry, the
 * flag parser, manifest sources (-f FILE|DIR|-) and exit codes.
 *
 * kumoctl is kubectl-shaped: `kumoctl <command> [flags]`. Each command is
 * one entry of the table in main.c and lives in its own file (validate.c,
 * convert.c, version.c; later apply/get/describe/delete/wait over NATS). A
 * command's run function gets argv with argv[0] == its name, prints its own
 * errors as human sentences on stderr, and returns the exit code.
 *
 * Exit codes: 0 success; 1 the command ran and failed (invalid objects,
 * unreadable files); 2 usage error (unknown command or flag, missing value).
 */
#ifndef KUMOCTL_H
#define KUMOCTL_H

#include <stddef.h>

#include "apis/codec/codec.h"
#include "apis/object/object.h"

#ifndef KUMO_VERSION
#define KUMO_VERSION "0.0.0"
#endif

enum {
    KUMOCTL_EXIT_OK = 0,
    KUMOCTL_EXIT_FAILED = 1,
    KUMOCTL_EXIT_USAGE = 2,
};

/* One command of the table in main.c. */
typedef struct kumoctl_command {
    const char *name;    /* "validate" */
    const char *summary; /* one line for `kumoctl --help` */
    int (*run)(int argc, char **argv);
    const char *help; /* the full text `kumoctl <name> --help` prints */
    int group;        /* index of its group in `kumoctl --help` (main.c) */
} kumoctl_command;

int kumoctl_validate_run(int argc, char **argv);
int kumoctl_convert_run(int argc, char **argv);
int kumoctl_version_run(int argc, char **argv);
int kumoctl_explain_run(int argc, char **argv);
int kumoctl_completion_run(int argc, char **argv);
extern const char kumoctl_validate_help[];
extern const char kumoctl_convert_help[];
extern const char kumoctl_version_help[];
extern const char kumoctl_explain_help[];
extern const char kumoctl_completion_help[];

/*
 * The hidden `kumoctl __complete WORD...` (completion.c): prints the
 * candidates for the last word, one a line. words[0] is the verb.
 */
int kumoctl_complete(const kumoctl_command *commands, size_t command_count, int count,
                     char **words);

/* ---- flags (flags.c) ---------------------------------------------------------- */

/* What kumoctl_parser_next returns besides a flag id (ids are > 0). */
enum {
    KUMOCTL_PARSE_END = 0,
    KUMOCTL_PARSE_ERROR = -1,    /* message printed; exit with KUMOCTL_EXIT_USAGE */
    KUMOCTL_PARSE_ARGUMENT = -2, /* a positional argument, in parser->value */
};

typedef struct kumoctl_flag {
    const char *name;  /* long name without dashes: "filename" */
    char short_name;   /* 'f', or 0 */
    int takes_value;   /* 1: "--filename x", "--filename=x", "-f x", "-fx" */
    int id;            /* > 0, returned by kumoctl_parser_next */
    const char *value; /* what the value is, for help and errors: "FILE" */
} kumoctl_flag;

typedef struct kumoctl_parser {
    const char *command; /* "kumoctl validate", for messages */
    const kumoctl_flag *flags;
    size_t flag_count;
    int argc;
    char **argv;
    int next;
    int only_arguments; /* after "--" */
    const char *value;  /* the flag's value or the positional argument */
} kumoctl_parser;

/* Parses argv[1..]; argv[0] is the command's name. Flags and arguments may mix. */
void kumoctl_parser_init(kumoctl_parser *parser, const char *command, const kumoctl_flag *flags,
                         size_t flag_count, int argc, char **argv);
int kumoctl_parser_next(kumoctl_parser *parser);

/* Prints "error: <message>" and where help is; returns KUMOCTL_EXIT_USAGE. */
int kumoctl_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "error: <message>" on stderr; returns KUMOCTL_EXIT_FAILED. */
int kumoctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses a byte count: "16777216", "16Mi", "512Ki", "1Gi". Returns 0 on success. */
int kumoctl_parse_bytes(const char *text, size_t *out);

/* ---- manifest sources (sources.c) ----------------------------------------------- */

#define KUMOCTL_STDIN_NAME "<stdin>"

typedef struct kumoctl_source {
    char *path; /* as given or found in a directory; KUMOCTL_STDIN_NAME for "-" */
    int is_stdin;
} kumoctl_source;

typedef struct kumoctl_sources {
    kumoctl_source *items;
    size_t count, cap;
} kumoctl_sources;

/*
 * Adds what one -f names: a file, every *.yaml, *.yml and *.json of a
 * directory (sorted by name; subdirectories too when recursive), or "-" for
 * stdin. Prints an error naming the path and returns -1 when it does not
 * exist or a directory holds no manifests.
 */
int kumoctl_sources_add(kumoctl_sources *sources, const char *arg, int recursive);
void kumoctl_sources_free(kumoctl_sources *sources);

/*
 * Reads a whole source into a NUL-terminated heap buffer (caller frees).
 * More than max_bytes, or unreadable: prints an error naming the source and
 * what to do, and returns NULL. Never reads more than max_bytes + 1 bytes.
 */
char *kumoctl_source_read(const kumoctl_source *source, size_t max_bytes, size_t *len_out);

/* JSON for .json files, YAML for .yaml and .yml; otherwise JSON when the text starts with { or [.
 */
kumo_codec_format kumoctl_source_format(const kumoctl_source *source, const char *text, size_t len);

/* "path:line" (or "path" when the line is unknown) into buf. */
const char *kumoctl_location(const kumoctl_source *source, int line, char *buf, size_t size);

/*
 * Prints the errors of one failed document, one line each:
 *   <location>: Infra "web" is invalid: spec.groups[1].size: Invalid value: ...
 * (for a decode failure, the decoder's sentence).
 */
void kumoctl_print_document_errors(const char *location, const kumo_object_document *doc,
                                   const kumo_diag *diag);

/* Appends `text` (len bytes) to out with every line after the first indented by `indent`
 * spaces (at most 16), for nesting an encoded object in a List (printers.c). */
kumo_error kumoctl_append_indented(kumo_codec_buffer *out, const char *text, size_t len,
                                   int indent);

/* ---- reading manifests (manifests.c) ---------------------------------------------- */

/* Flag ids of the commands that read manifests (validate, convert, later apply). */
enum {
    KUMOCTL_FLAG_HELP = 1,
    KUMOCTL_FLAG_FILENAME,
    KUMOCTL_FLAG_RECURSIVE,
    KUMOCTL_FLAG_MAX_BYTES,
    KUMOCTL_FLAG_OUTPUT,
    KUMOCTL_FLAG_NO_DEFAULT,
};

/* The flag table entries for -f, -R, --max-bytes and -h, in this order. */
#define KUMOCTL_INPUT_FLAGS                                                                        \
    {"filename", 'f', 1, KUMOCTL_FLAG_FILENAME, "a file, a directory or - for stdin"},             \
        {"recursive", 'R', 0, KUMOCTL_FLAG_RECURSIVE, NULL},                                       \
        {"max-bytes", 0, 1, KUMOCTL_FLAG_MAX_BYTES, "a byte count such as 16Mi"},                  \
    {                                                                                              \
        "help", 'h', 0, KUMOCTL_FLAG_HELP, NULL                                                    \
    }

/* What -f, -R and --max-bytes asked for. */
typedef struct kumoctl_input {
    const char *command; /* "kumoctl validate" */
    const char **filenames;
    size_t filename_count;
    int recursive;
    size_t max_bytes;
    kumoctl_sources sources;
    kumo_codec_format first_format; /* of the first source read (set by kumoctl_input_decode) */
} kumoctl_input;

void kumoctl_input_init(kumoctl_input *input, const char *command);
void kumoctl_input_fini(kumoctl_input *input);
/*
 * Takes flag `id` (with its value) when it is -f, -R or --max-bytes:
 * KUMOCTL_INPUT_TAKEN; KUMOCTL_INPUT_NOT_MINE for other flags;
 * KUMOCTL_INPUT_ERROR (usage error printed) for a bad value.
 */
enum { KUMOCTL_INPUT_NOT_MINE = 0, KUMOCTL_INPUT_TAKEN = 1, KUMOCTL_INPUT_ERROR = -1 };
int kumoctl_input_flag(kumoctl_input *input, int id, const char *value);
/* A command's own flags (not -f, -R, --max-bytes, -h): KUMOCTL_EXIT_OK or an exit code. */
typedef int (*kumoctl_flag_fn)(void *context, int id, const char *value);

enum { KUMOCTL_CONTINUE = -1 };

/*
 * Parses argv[1..] with `flags`: -h / --help prints `help` (then returns
 * KUMOCTL_EXIT_OK), a bad flag returns KUMOCTL_EXIT_USAGE (message
 * printed), every other flag and each positional argument (id
 * KUMOCTL_PARSE_ARGUMENT) goes to fn, which returns KUMOCTL_EXIT_OK or an
 * exit code that ends parsing. Returns KUMOCTL_CONTINUE when the command
 * should run.
 */
int kumoctl_parse(const char *command, const kumoctl_flag *flags, size_t flag_count, int argc,
                  char **argv, const char *help, kumoctl_flag_fn fn, void *context);

/*
 * Parses a manifest command's arguments: -f, -R and --max-bytes go to
 * `input`, -h prints `help`, other flags go to `other` (NULL: there are
 * none), positional arguments are usage errors; then checks that -f was
 * given and resolves every -f into sources. Returns KUMOCTL_CONTINUE when the
 * command should run, else the exit code (0 after --help; message printed).
 */
int kumoctl_input_parse(kumoctl_input *input, const kumoctl_flag *flags, size_t flag_count,
                        int argc, char **argv, const char *help, kumoctl_flag_fn other,
                        void *context);

/* Called for each document: `source` it came from; the callee may take doc->object. */
typedef void (*kumoctl_document_fn)(void *context, const kumoctl_source *source,
                                    kumo_object_document *doc);
/*
 * Reads and decodes (strictly) every source, calling fn for each document in
 * order. Returns the number of sources that could not be read or split into
 * documents at all (their errors are printed).
 */
size_t kumoctl_input_decode(kumoctl_input *input, kumoctl_document_fn fn, void *context);

#endif
