/*
 * kit.h - helpers for driver authors: what every driver needs besides its
 * cloud. Depends on drivers/driver.h and libc only, so a driver .so may link
 * it (drivers/kit/ is a static library built with -fPIC and hidden
 * visibility: nothing here is exported from a driver).
 *
 *   - kumo_driver_kit_buf: a growable NUL-terminated text buffer with JSON
 *     string writing, for control replies, command input and state files.
 *   - kumo_driver_kit_pack: the arena that packs a result as ONE block from
 *     the host allocator (the struct, its arrays and every string inside), so
 *     the host frees a result with one call. A packer runs twice over the same
 *     data (KUMO_DRIVER_KIT_PACK_TWICE): measuring with no block, then filling
 *     a block of exactly the measured size. Packed strings are never NULL.
 *   - kumo_driver_kit_fail: fills a kumo_driver_diag and returns the code.
 *
 * Thread safety: none of these keep global state; a buffer or arena belongs
 * to one thread at a time.
 */
#ifndef KUMO_DRIVER_KIT_H
#define KUMO_DRIVER_KIT_H

#include "drivers/driver.h"

#include <stdarg.h>
#include <stddef.h>

/* ---- Diagnostics ------------------------------------------------------------ */

/* Fills diag (when not NULL) with code, cloud_code ("" when NULL) and the
 * formatted message (truncated to the diag's field), then returns code. */
kumo_driver_code kumo_driver_kit_fail(struct kumo_driver_diag *diag, kumo_driver_code code,
                                      const char *cloud_code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- Text buffer ------------------------------------------------------------ */

struct kumo_driver_kit_buf {
    char *data; /* NUL-terminated when len > 0; owned, freed by fini */
    size_t len;
    size_t cap;
    int failed; /* an allocation failed; the content is incomplete */
};

/* An empty buffer in caller storage; fini frees its data (malloc'd). */
void kumo_driver_kit_buf_init(struct kumo_driver_kit_buf *b);
void kumo_driver_kit_buf_fini(struct kumo_driver_kit_buf *b);
/* Appends; after a failed allocation every append is a no-op and failed stays set. */
void kumo_driver_kit_buf_add(struct kumo_driver_kit_buf *b, const void *data, size_t len);
void kumo_driver_kit_buf_str(struct kumo_driver_kit_buf *b, const char *s);
void kumo_driver_kit_buf_printf(struct kumo_driver_kit_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (quotes included); NULL as "". Escapes
 * '"', '\\', \n, \r, \t by their short forms and other control bytes as \u00XX. */
void kumo_driver_kit_buf_json_str(struct kumo_driver_kit_buf *b, const char *s);
/* Appends `"key":` (preceded by a comma unless first). */
void kumo_driver_kit_buf_json_key(struct kumo_driver_kit_buf *b, const char *key, int first);

/* ---- Packing results ---------------------------------------------------------- */

struct kumo_driver_kit_pack {
    char *base; /* NULL while measuring */
    size_t size;
    size_t used;
};

/* A tag as a driver keeps it (both strings owned by the driver's object). */
struct kumo_driver_kit_tag {
    char *key;
    char *value;
};

/* A subnet and a firewall rule as a driver keeps them (strings owned by the object). */
struct kumo_driver_kit_subnet {
    char *id;
    char *name;
    char *cidr;
    char *zone;
};

struct kumo_driver_kit_rule {
    int direction;
    int protocol;
    int from_port;
    int to_port;
    char *cidr;
    char *description;
};

/* Free the strings of each element and the array itself. */
void kumo_driver_kit_tags_free(struct kumo_driver_kit_tag *tags, size_t count);
void kumo_driver_kit_subnets_free(struct kumo_driver_kit_subnet *subnets, size_t count);
void kumo_driver_kit_rules_free(struct kumo_driver_kit_rule *rules, size_t count);
void kumo_driver_kit_strings_free(char **strings, size_t count);

/* The shape every kumo_driver_*_list struct has (checked in kit.c). */
struct kumo_driver_kit_list {
    size_t struct_size;
    size_t count;
    const void *const *items;
};

/* n bytes aligned to align (a power of two) from the arena: NULL while
 * measuring, else the place in the block. */
void *kumo_driver_kit_pack_take(struct kumo_driver_kit_pack *p, size_t n, size_t align);
/* A copy of s (NULL as "") in the arena; NULL while measuring. */
const char *kumo_driver_kit_pack_str(struct kumo_driver_kit_pack *p, const char *s);
/* A copy of count strings and the array holding them; NULL while measuring. */
const char *const *kumo_driver_kit_pack_strings(struct kumo_driver_kit_pack *p,
                                                char *const *strings, size_t count);
/* The tags of an object, the token tag (KUMO_DRIVER_TOKEN_TAG = token) first;
 * *out_count = count + 1. NULL while measuring. */
const struct kumo_driver_tag *kumo_driver_kit_pack_tags(struct kumo_driver_kit_pack *p,
                                                        const char *token,
                                                        const struct kumo_driver_kit_tag *tags,
                                                        size_t count, size_t *out_count);
/* Copies of count subnets / rules in the ABI's layout; NULL while measuring. */
const struct kumo_driver_subnet *
kumo_driver_kit_pack_subnets(struct kumo_driver_kit_pack *p,
                             const struct kumo_driver_kit_subnet *subnets, size_t count);
const struct kumo_driver_rule *kumo_driver_kit_pack_rules(struct kumo_driver_kit_pack *p,
                                                          const struct kumo_driver_kit_rule *rules,
                                                          size_t count);
/* A list header followed by count item slots; when filling, the header is set
 * (struct_size, count, items) and the slots are returned for the caller to
 * fill. NULL while measuring. */
const void **kumo_driver_kit_pack_list(struct kumo_driver_kit_pack *p, size_t count);
/* text copied into a block from the host allocator; NULL: no memory. */
char *kumo_driver_kit_pack_text(const struct kumo_driver_host *host, const char *text);

/*
 * Runs the statement `fill` (which packs through the arena pointer named p)
 * measuring, allocates the measured size with host->mem_alloc, and runs it
 * again into the block, which it stores in block. block stays NULL when the
 * allocation fails.
 */
#define KUMO_DRIVER_KIT_PACK_TWICE(host, block, p, fill)                                           \
    do {                                                                                           \
        struct kumo_driver_kit_pack measure_ = {NULL, 0, 0};                                       \
        struct kumo_driver_kit_pack *p = &measure_;                                                \
        fill;                                                                                      \
        struct kumo_driver_kit_pack real_ = {(host)->mem_alloc((host)->ctx, measure_.used),        \
                                             measure_.used, 0};                                    \
        if (real_.base != NULL) {                                                                  \
            p = &real_;                                                                            \
            (block) = real_.base;                                                                  \
            fill;                                                                                  \
        }                                                                                          \
    } while (0)

/* ---- Packing resources and catalog rows (record.c) ------------------------------ */

/* The resource kinds a record packs into; the sim and local drivers number
 * their own kinds the same way. */
enum kumo_driver_kit_kind {
    KUMO_DRIVER_KIT_MACHINE = 0,
    KUMO_DRIVER_KIT_NETWORK,
    KUMO_DRIVER_KIT_SECURITY_GROUP,
    KUMO_DRIVER_KIT_KEY_PAIR,
};

/*
 * A resource as a driver describes it for packing: every string borrowed
 * (NULL packs as ""), only the fields of the kind packed are read. The token
 * tag is added in front of tags.
 */
struct kumo_driver_kit_record {
    const char *provider_id;
    const char *token;
    const char *name;
    const char *region;
    int64_t created_ns;
    const struct kumo_driver_kit_tag *tags;
    size_t tag_count;
    /* machine */
    int32_t phase; /* kumo_driver_machine_phase */
    const char *provider_state;
    const char *instance_type;
    const char *image;
    const char *zone;
    const char *network_id; /* also a security group's */
    const char *subnet_id;
    char *const *security_group_ids;
    size_t security_group_count;
    const char *key_pair_id;
    const char *private_ip;
    const char *public_ip;
    int64_t launch_ns;
    double price_per_hour;
    const char *currency; /* NULL: "USD" */
    /* network */
    const char *cidr;
    const char *state; /* NULL: "available" */
    const struct kumo_driver_kit_subnet *subnets;
    size_t subnet_count;
    /* security group */
    const struct kumo_driver_kit_rule *rules;
    size_t rule_count;
    /* key pair */
    const char *fingerprint;
    const char *public_key;
};

/*
 * A record of the fields that an object `o` keeps under the kit's usual
 * names (id, token, name, created_ns, tags, tag_count, type, image, zone,
 * network_id, subnet_id, key_id, sg_ids, sg_count, launch_ns, cidr, subnets,
 * subnet_count, rules, rule_count, fingerprint, public_key): a driver whose
 * object struct uses these names fills the rest (region, phase, addresses,
 * price, state) itself.
 */
#define KUMO_DRIVER_KIT_RECORD_OF(o)                                                               \
    ((struct kumo_driver_kit_record){                                                              \
        .provider_id = (o)->id,                                                                    \
        .token = (o)->token,                                                                       \
        .name = (o)->name,                                                                         \
        .created_ns = (o)->created_ns,                                                             \
        .tags = (o)->tags,                                                                         \
        .tag_count = (o)->tag_count,                                                               \
        .instance_type = (o)->type,                                                                \
        .image = (o)->image,                                                                       \
        .zone = (o)->zone,                                                                         \
        .network_id = (o)->network_id,                                                             \
        .subnet_id = (o)->subnet_id,                                                               \
        .security_group_ids = (o)->sg_ids,                                                         \
        .security_group_count = (o)->sg_count,                                                     \
        .key_pair_id = (o)->key_id,                                                                \
        .launch_ns = (o)->launch_ns,                                                               \
        .cidr = (o)->cidr,                                                                         \
        .subnets = (o)->subnets,                                                                   \
        .subnet_count = (o)->subnet_count,                                                         \
        .rules = (o)->rules,                                                                       \
        .rule_count = (o)->rule_count,                                                             \
        .fingerprint = (o)->fingerprint,                                                           \
        .public_key = (o)->public_key,                                                             \
    })

/* The driver.h result of `kind` (kumo_driver_kit_kind) for record r, e.g. a
 * struct kumo_driver_machine; NULL while measuring. */
const void *kumo_driver_kit_pack_record(struct kumo_driver_kit_pack *p, int kind,
                                        const struct kumo_driver_kit_record *r);

/* Copies of a catalog row given as the ABI struct with borrowed strings
 * (struct_size is set; a NULL currency packs as "USD"); NULL while measuring. */
const struct kumo_driver_region *kumo_driver_kit_pack_region(struct kumo_driver_kit_pack *p,
                                                             const struct kumo_driver_region *row);
const struct kumo_driver_instance_type *
kumo_driver_kit_pack_instance_type(struct kumo_driver_kit_pack *p,
                                   const struct kumo_driver_instance_type *row);
const struct kumo_driver_image *kumo_driver_kit_pack_image(struct kumo_driver_kit_pack *p,
                                                           const struct kumo_driver_image *row);

/* A stable label of a public key: 16 bytes of two FNV-1a hashes as
 * "aa:bb:..." (not OpenSSH's fingerprint). */
void kumo_driver_kit_fingerprint(const char *public_key, char *buf, size_t size);
/* NOT_FOUND: the security group group_id does not exist in region. */
kumo_driver_code kumo_driver_kit_group_missing(const char *group_id, const char *region,
                                               struct kumo_driver_diag *diag);
/* OK when a machine on machine_network may use the group on group_network
 * (NULL as ""), else INVALID naming both. */
kumo_driver_code kumo_driver_kit_group_network_check(const char *group_id,
                                                     const char *group_network,
                                                     const char *machine_network,
                                                     struct kumo_driver_diag *diag);

/* ---- IPv4 ranges (cidr.c) ---------------------------------------------------------- */

/* With this flag a range whose host bits are set ("10.0.0.1/16") is refused;
 * without it they are masked off. */
#define KUMO_DRIVER_KIT_CIDR_EXACT 1

/* "a.b.c.d/n" -> base (host order) and prefix: 0, or -1 when it is not such a range. */
int kumo_driver_kit_cidr_parse(const char *cidr, int flags, uint32_t *base, int *prefix);
/* True when the two ranges share an address. */
int kumo_driver_kit_cidr_overlap(uint32_t a, int a_prefix, uint32_t b, int b_prefix);
/* The rules subnets of the network network_cidr follow on every cloud: a name
 * of 1 to 64 characters, given once; a range inside the network, at most /28,
 * overlapping no other subnet. OK, or INVALID naming the subnet and the rule.
 * The count limit, zones and ids stay the driver's. */
kumo_driver_code kumo_driver_kit_subnets_check(const char *network_cidr, int flags,
                                               const struct kumo_driver_subnet *subnets,
                                               size_t count, struct kumo_driver_diag *diag);

/* ---- Config as a table (settings.c) ------------------------------------------------- */

typedef enum kumo_driver_kit_setting_kind {
    KUMO_DRIVER_KIT_SETTING_STRING,  /* char[size]; at least (int)min characters */
    KUMO_DRIVER_KIT_SETTING_DOUBLE,  /* double in [min, max] */
    KUMO_DRIVER_KIT_SETTING_INT,     /* int64_t >= min (and <= max when max > min) */
    KUMO_DRIVER_KIT_SETTING_LIMIT,   /* int64_t as INT, or -1 for "unlimited" (or "-1") */
    KUMO_DRIVER_KIT_SETTING_BOOL,    /* int: true/1/on or false/0/off */
    KUMO_DRIVER_KIT_SETTING_CHOICE,  /* int: the index of the value in choices "a|b|c" */
    KUMO_DRIVER_KIT_SETTING_IGNORED, /* accepted and ignored */
    KUMO_DRIVER_KIT_SETTING_CUSTOM,  /* apply() does it */
} kumo_driver_kit_setting_kind;

#define KUMO_DRIVER_KIT_SETTING_AT_OPEN (1 << 0) /* only when the connection is opened */
#define KUMO_DRIVER_KIT_SETTING_PREFIX  (1 << 1) /* key is a prefix ("capacity.") */

struct kumo_driver_kit_settings;

/* One key of a driver's config. */
struct kumo_driver_kit_setting {
    const char *key;
    kumo_driver_kit_setting_kind kind;
    size_t offset;        /* of the field in the driver's config struct */
    size_t size;          /* STRING: the field's size */
    double min, max;      /* STRING: min length; numbers: the range */
    const char *choices;  /* CHOICE: "a|b|c"; PREFIX: what follows the key in the key list */
    const char *expected; /* the error's words: "milliseconds >= 0" */
    int flags;            /* KUMO_DRIVER_KIT_SETTING_* */
    /* CUSTOM: applies value to config; OK, or INVALID through
     * kumo_driver_kit_setting_bad. */
    kumo_driver_code (*apply)(const struct kumo_driver_kit_settings *settings, void *config,
                              const char *key, const char *value, struct kumo_driver_diag *diag);
};

/* A driver's whole table. */
struct kumo_driver_kit_settings {
    const char *driver;       /* "sim": the messages' first word */
    const char *unknown_code; /* the cloud code of an unknown key */
    const struct kumo_driver_kit_setting *rows;
    size_t count;
};

/* Applies key=value (NULL as "") to config by the row of key. INVALID with a
 * message naming the key, the value and what was expected; for an unknown key
 * the message lists the known ones; an AT_OPEN key after open is refused. */
kumo_driver_code kumo_driver_kit_settings_apply(const struct kumo_driver_kit_settings *settings,
                                                void *config, const char *key, const char *value,
                                                int at_open, struct kumo_driver_diag *diag);
/* INVALID: `<driver> config <key>="<value>": expected <expected>`. */
kumo_driver_code kumo_driver_kit_setting_bad(const struct kumo_driver_kit_settings *settings,
                                             const char *key, const char *value,
                                             const char *expected, struct kumo_driver_diag *diag);
/* Strict number parsing (the whole string, in range): 0 or -1. */
int kumo_driver_kit_parse_double(const char *s, double min, double max, double *out);
int kumo_driver_kit_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* ---- The state file format (state.c) ------------------------------------------------ */

/*
 * One line per record: a word, then TAB-separated key=value fields; values
 * escape '%', '=', ',' and control bytes as %XX; a list repeats its key once
 * per element (tag=key=value, subnet=id,name,cidr,zone,
 * rule=dir,proto,from,to,cidr,description, or a list of strings' element).
 * A driver describes the fields of its object as a table of rows; numbers and
 * strings are written only when set (nonzero, non-NULL).
 */
typedef enum kumo_driver_kit_field_kind {
    KUMO_DRIVER_KIT_FIELD_STRING, /* char * (malloc'd) */
    KUMO_DRIVER_KIT_FIELD_INT,    /* int */
    KUMO_DRIVER_KIT_FIELD_INT64,  /* int64_t */
    KUMO_DRIVER_KIT_FIELD_UINT64, /* uint64_t */
    KUMO_DRIVER_KIT_FIELD_UINT32, /* uint32_t */
    KUMO_DRIVER_KIT_FIELD_DOUBLE, /* double */
    /* lists: the array at offset, its size_t count at count_offset */
    KUMO_DRIVER_KIT_FIELD_STRINGS, /* char ** */
    KUMO_DRIVER_KIT_FIELD_TAGS,    /* struct kumo_driver_kit_tag * */
    KUMO_DRIVER_KIT_FIELD_SUBNETS, /* struct kumo_driver_kit_subnet * */
    KUMO_DRIVER_KIT_FIELD_RULES,   /* struct kumo_driver_kit_rule * */
    KUMO_DRIVER_KIT_FIELD_ROWS,    /* a driver's own structs: columns joined by ',' */
} kumo_driver_kit_field_kind;

struct kumo_driver_kit_field {
    const char *key;
    kumo_driver_kit_field_kind kind;
    size_t offset;
    size_t count_offset; /* lists only */
    /* ROWS: the element's size and its columns (STRING and number rows whose
     * offsets are inside the element; at most 8) */
    size_t element_size;
    const struct kumo_driver_kit_field *columns;
    size_t column_count;
};

/* A row for member of struct type, one for a list with its count, and one for
 * a list of the driver's own element structs described by a columns table. */
#define KUMO_DRIVER_KIT_FIELD(key, kind, type, member)                                             \
    {                                                                                              \
        key, kind, offsetof(type, member), 0, 0, NULL, 0                                           \
    }
#define KUMO_DRIVER_KIT_LIST(key, kind, type, member, count)                                       \
    {                                                                                              \
        key, kind, offsetof(type, member), offsetof(type, count), 0, NULL, 0                       \
    }
#define KUMO_DRIVER_KIT_ROWS(key, type, member, count, element, columns)                           \
    {                                                                                              \
        key, KUMO_DRIVER_KIT_FIELD_ROWS, offsetof(type, member), offsetof(type, count),            \
            sizeof(element), columns, sizeof(columns) / sizeof((columns)[0])                       \
    }

/* Appends `\tkey=value` for each field of object that is set (no newline). */
void kumo_driver_kit_state_put(struct kumo_driver_kit_buf *b,
                               const struct kumo_driver_kit_field *fields, size_t count,
                               const void *object);
/* Sets the field named key of object from its escaped text raw (a list gets
 * one more element). 0; 0 for an unknown key (a newer writer's); -1 when raw
 * is malformed or memory ran out. */
int kumo_driver_kit_state_get(const struct kumo_driver_kit_field *fields, size_t count,
                              void *object, const char *key, const char *raw);
/* Frees object's strings and lists by the table (setting them NULL and 0). */
void kumo_driver_kit_state_free(const struct kumo_driver_kit_field *fields, size_t count,
                                void *object);
/* Splits a record line in place: *word is its first word; apply is called on
 * each key=value field in order. 0, or -1 when a field has no '=' or apply
 * returned nonzero. */
int kumo_driver_kit_state_line(char *line, char **word,
                               int (*apply)(void *ctx, const char *key, const char *raw),
                               void *ctx);
/* Replaces the file at path with b's content atomically (PATH.tmp mode 0600,
 * fsync, rename, fsync of the folder). OK; INTERNAL (StateUnwritable) naming
 * the file and the system's error; NOMEM when b is incomplete. */
kumo_driver_code kumo_driver_kit_state_write(const char *path, const struct kumo_driver_kit_buf *b,
                                             struct kumo_driver_diag *diag);
/* Reads the whole file into *text (malloc'd, NUL-terminated; the caller frees
 * it). OK; NOT_FOUND when there is no such file (*text NULL, diag untouched);
 * INTERNAL or NOMEM (StateUnreadable) naming the file. */
kumo_driver_code kumo_driver_kit_state_read(const char *path, char **text,
                                            struct kumo_driver_diag *diag);

/* ---- Declaring a driver's operations -------------------------------------------- */

/* Prototypes of the five table ops of resource `kind` named <prefix>_<kind>_<op>. */
#define KUMO_DRIVER_KIT_DECLARE_OPS(prefix, kind)                                                  \
    kumo_driver_code prefix##_##kind##_observe(                                                    \
        struct kumo_driver_conn *c, const struct kumo_driver_ref *ref, int64_t deadline_ns,        \
        struct kumo_driver_##kind **out, struct kumo_driver_diag *diag);                           \
    kumo_driver_code prefix##_##kind##_create(                                                     \
        struct kumo_driver_conn *c, const struct kumo_driver_##kind##_spec *spec,                  \
        const char *token, int64_t deadline_ns, struct kumo_driver_##kind **out,                   \
        struct kumo_driver_diag *diag);                                                            \
    kumo_driver_code prefix##_##kind##_update(                                                     \
        struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,                             \
        const struct kumo_driver_##kind##_update *update, int64_t deadline_ns,                     \
        struct kumo_driver_##kind **out, struct kumo_driver_diag *diag);                           \
    kumo_driver_code prefix##_##kind##_delete(struct kumo_driver_conn *c,                          \
                                              const struct kumo_driver_ref *ref,                   \
                                              int64_t deadline_ns, struct kumo_driver_diag *diag); \
    kumo_driver_code prefix##_##kind##_list(                                                       \
        struct kumo_driver_conn *c, const struct kumo_driver_filter *filter, int64_t deadline_ns,  \
        struct kumo_driver_##kind##_list **out, struct kumo_driver_diag *diag)

/* Prototypes of the three catalog ops named <prefix>_catalog_<what>. */
#define KUMO_DRIVER_KIT_DECLARE_CATALOG(prefix)                                                    \
    kumo_driver_code prefix##_catalog_regions(struct kumo_driver_conn *c, int64_t deadline_ns,     \
                                              struct kumo_driver_region_list **out,                \
                                              struct kumo_driver_diag *diag);                      \
    kumo_driver_code prefix##_catalog_instance_types(                                              \
        struct kumo_driver_conn *c, int64_t deadline_ns,                                           \
        struct kumo_driver_instance_type_list **out, struct kumo_driver_diag *diag);               \
    kumo_driver_code prefix##_catalog_images(struct kumo_driver_conn *c, int64_t deadline_ns,      \
                                             struct kumo_driver_image_list **out,                  \
                                             struct kumo_driver_diag *diag)

/* Designated initializers of a struct kumo_driver: the ABI version and size
 * this driver is built with; the five ops of `kind`
 * named <prefix>_<kind>_<op>, and the open, close and catalog ops. */
#define KUMO_DRIVER_KIT_TABLE_VERSION                                                              \
    .abi_major = KUMO_DRIVER_ABI_MAJOR, .abi_minor = KUMO_DRIVER_ABI_MINOR,                        \
    .struct_size = sizeof(struct kumo_driver)
#define KUMO_DRIVER_KIT_TABLE_OPS(prefix, kind)                                                    \
    .kind##_observe = prefix##_##kind##_observe, .kind##_create = prefix##_##kind##_create,        \
    .kind##_update = prefix##_##kind##_update, .kind##_delete = prefix##_##kind##_delete,          \
    .kind##_list = prefix##_##kind##_list
#define KUMO_DRIVER_KIT_TABLE_BASE(prefix)                                                         \
    .open = prefix##_open, .close = prefix##_close, .catalog_regions = prefix##_catalog_regions,   \
    .catalog_instance_types = prefix##_catalog_instance_types,                                     \
    .catalog_images = prefix##_catalog_images

#endif
