/*
 * internal.h - what the files of the aws driver share.
 *
 *   sigv4.c     AWS Signature Version 4 (canonical request, string to sign,
 *               signing key) over OpenSSL's SHA-256 and HMAC;
 *   query.c     the EC2 Query protocol: a parameter list, its form encoding,
 *               one signed POST through a pool of libcurl handles, the XML
 *               reply parsed with libxml2, AWS error codes mapped to driver
 *               codes (the one place that maps them);
 *   driver.c    the table, open/close, config and credentials, control;
 *   catalog.c   regions, zones, instance types, images, prices;
 *   machine.c   instances (RunInstances, DescribeInstances, ...);
 *   network.c   VPCs and subnets; security groups; key pairs.
 *
 * sigv4.c and the parameter encoding depend on OpenSSL and libc only and are
 * built into kumo_aws_sign, which the tests link to compare with botocore.
 */
#ifndef KUMO_DRIVERS_AWS_INTERNAL_H
#define KUMO_DRIVERS_AWS_INTERNAL_H

#include "drivers/driver.h"
#include "drivers/kit/kit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <libxml/tree.h>

#define AWS_EC2_VERSION "2016-11-15"
#define AWS_ELB_VERSION "2015-12-01" /* Elastic Load Balancing v2 */

/* ---- Signing (sigv4.c) ------------------------------------------------------- */

/* A request as SigV4 sees it. Query parameters are given decoded (the signer
 * encodes them); headers are signed in addition to host, x-amz-date and
 * x-amz-security-token (when a session token is given). */
struct aws_sign_input {
    const char *method;
    const char *host; /* "ec2.us-east-1.amazonaws.com" or "127.0.0.1:5000" */
    const char *path; /* "/" */
    const struct kumo_driver_kv *query;
    size_t query_count;
    const struct kumo_driver_kv *headers;
    size_t header_count;
    const void *body;
    size_t body_len;
    const char *region;
    const char *service;
    const char *access_key;
    const char *secret_key;
    const char *session_token; /* NULL or "": none */
    time_t when;               /* Unix seconds */
};

/* Computes the x-amz-date value (amz_date, 17 bytes with NUL) and the
 * Authorization header value. Returns 0, or -1 when a buffer is too small or
 * memory runs out. */
int aws_sigv4_sign(const struct aws_sign_input *in, char amz_date[17], char *authorization,
                   size_t authorization_size);

/* Appends s URI-encoded as SigV4 wants (unreserved A-Z a-z 0-9 - _ . ~ kept,
 * every other byte %XX in upper case; '/' kept when keep_slash). */
void aws_uri_encode(struct kumo_driver_kit_buf *b, const char *s, int keep_slash);

/* ---- Query protocol (query.c) --------------------------------------------------- */

/* An ordered list of request parameters (keys and values copied). */
struct aws_params {
    struct kumo_driver_kv *items;
    size_t count, cap;
    int failed;
    int elb; /* an Elastic Load Balancing v2 call (else EC2) */
};

void aws_params_init(struct aws_params *p, const char *action);
/* The same for an Elastic Load Balancing v2 call (its endpoint, version and signing name). */
void aws_params_init_elb(struct aws_params *p, const char *action);
void aws_params_fini(struct aws_params *p);
void aws_params_add(struct aws_params *p, const char *key, const char *value);
void aws_params_addf(struct aws_params *p, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Filter.N.Name=name, Filter.N.Value.1=value; n is the filter's number. */
void aws_params_filter(struct aws_params *p, int n, const char *name, const char *value);
/* Filter.N on filter's tag (its value prefix as a wildcard); 1 when added, 0 for no filter. */
int aws_params_tag_filter(struct aws_params *p, int n, const struct kumo_driver_filter *filter);
/* Filter.N: instance-state-name is any state but terminated. */
void aws_params_live_filter(struct aws_params *p, int n);
/* TagSpecification.1 for resource_type with the token tag, the name tag (when
 * name is not empty) and tags. */
void aws_params_tag_spec(struct aws_params *p, const char *resource_type, const char *token,
                         const char *name, const struct kumo_driver_tag *tags, size_t tag_count);
/* The form-encoded body; 0 or -1 (no memory). */
int aws_params_encode(const struct aws_params *p, struct kumo_driver_kit_buf *out);

/* A parsed reply: the document and its root element; free with aws_reply_free. */
struct aws_reply {
    xmlDocPtr doc;
    xmlNodePtr root;
};

void aws_reply_free(struct aws_reply *r);

/*
 * Sends one EC2 Query API call and parses its reply. On OK *reply holds the
 * document (free it); on failure diag holds the AWS code (or the transport's)
 * and a message naming the action, the region and what was asked (`what`).
 */
kumo_driver_code aws_call(struct kumo_driver_conn *c, const struct aws_params *params,
                          const char *what, int64_t deadline_ns, struct aws_reply *reply,
                          struct kumo_driver_diag *diag);

/* aws_call for a reply that is not needed; also frees params (even on failure). */
kumo_driver_code aws_call_plain(struct kumo_driver_conn *c, struct aws_params *params,
                                const char *what, int64_t deadline_ns,
                                struct kumo_driver_diag *diag);

/* Stores a packed block in *out: OK, or NOMEM when the block is NULL. */
#define AWS_OUT(out, block, diag)                                                                  \
    ((*(out) = (block)) != NULL                                                                    \
         ? KUMO_DRIVER_OK                                                                          \
         : kumo_driver_kit_fail((diag), KUMO_DRIVER_NOMEM, "", "out of memory"))

/* A resource kind as the table-driven calls see it: how to find one by provider id or token
 * (aws_describe_one), how to list them (aws_kind_list) and how to pack one (aws_kind_out). */
struct aws_kind {
    const char *what;      /* "security group", for messages */
    const char *action;    /* "DescribeSecurityGroups" */
    const char *id_param;  /* "GroupId.1", or NULL with id_filter */
    const char *id_filter; /* "key-pair-id": ids through a filter */
    const char *set;       /* the reply's set: "securityGroupInfo" */
    const char *id_field;  /* the item's id element: "groupId" */
    const char *not_found; /* the AWS code of an absent one */
    const char *extra_key; /* one more parameter (e.g. IncludePublicKey), or NULL */
    const char *extra_value;
    /* Packs the reply's item as the driver's struct (into *slot when not NULL). */
    void (*pack)(struct kumo_driver_kit_pack *p, struct kumo_driver_conn *c, xmlNodePtr item,
                 const void **slot);
    /* Called with each reply of the kind (e.g. to fill a cache), or NULL. */
    void (*seen)(struct kumo_driver_conn *c, xmlNodePtr root);
};

/* The resource ref names: *node points into *r (free it on OK); NOT_FOUND when absent. */
kumo_driver_code aws_describe_one(struct kumo_driver_conn *c, const struct aws_kind *kind,
                                  const struct kumo_driver_ref *ref, int64_t deadline_ns,
                                  struct aws_reply *r, xmlNodePtr *node,
                                  struct kumo_driver_diag *diag);

/* The resource ref names, packed by kind->pack into *out (a host block). */
kumo_driver_code aws_kind_out(struct kumo_driver_conn *c, const struct aws_kind *kind,
                              const struct kumo_driver_ref *ref, int64_t deadline_ns, void **out,
                              struct kumo_driver_diag *diag);
/* Every resource of the kind with filter's tag, packed as the driver's list into *out. */
kumo_driver_code aws_kind_list(struct kumo_driver_conn *c, const struct aws_kind *kind,
                               const struct kumo_driver_filter *filter, int64_t deadline_ns,
                               void **out, struct kumo_driver_diag *diag);

/* An EC2 Describe call with one filter (name = value), its reply in *r. */
kumo_driver_code aws_describe_where(struct kumo_driver_conn *c, const char *action,
                                    const char *name, const char *value, const char *what,
                                    int64_t deadline_ns, struct aws_reply *r,
                                    struct kumo_driver_diag *diag);

/* One call with one parameter (key = value) whose reply is not needed: a delete, mostly.
 * elb: an ELBv2 action, else EC2. */
kumo_driver_code aws_call_one(struct kumo_driver_conn *c, int elb, const char *action,
                              const char *key, const char *value, const char *what,
                              int64_t deadline_ns, struct kumo_driver_diag *diag);

/* The driver code of an AWS error code at HTTP status `status`. */
kumo_driver_code aws_error_code(const char *code, long status);

/* ---- XML helpers (query.c) ------------------------------------------------------- */

/* The first child element of node named name, or NULL. */
xmlNodePtr aws_xml_child(xmlNodePtr node, const char *name);
/* The first element named name anywhere below node (depth first), or NULL. */
xmlNodePtr aws_xml_find(xmlNodePtr node, const char *name);
/* The text of child `name` of node, or "" (the pointer lives as long as the document). */
const char *aws_xml_text(xmlNodePtr node, const char *name);
/* The next sibling element named name after node, or NULL. */
xmlNodePtr aws_xml_next(xmlNodePtr node, const char *name);
/* 1 when node's tagSet has key = value. */
int aws_xml_find_tag(xmlNodePtr node, const char *key, const char *value);
/* Iterates the <member> elements of the list `set` anywhere under node (ELBv2 replies). */
#define AWS_XML_MEMBERS(var, node, set)                                                            \
    for (xmlNodePtr var = aws_xml_child(aws_xml_find((node), (set)), "member"); var != NULL;       \
         var = aws_xml_next(var, "member"))
/* Iterates the <item> elements of the set `set` under node. */
#define AWS_XML_ITEMS(var, node, set)                                                              \
    for (xmlNodePtr var = aws_xml_child(aws_xml_child((node), (set)), "item"); var != NULL;        \
         var = aws_xml_next(var, "item"))

/* Tags of a tagSet: token (kumo:uid) and name (Name) out, the rest as kit tags. */
struct aws_tags {
    const char *token;
    const char *name;
    struct kumo_driver_kit_tag *items; /* malloc'd array; strings borrowed from the document */
    size_t count;
};

int aws_tags_read(xmlNodePtr owner, struct aws_tags *out);
void aws_tags_fini(struct aws_tags *t);
/* Packs tags of a reply (token first) into the arena; *out_count set. */
const struct kumo_driver_tag *aws_tags_pack(struct kumo_driver_kit_pack *p,
                                            const struct aws_tags *t, size_t *out_count);

/* Unix ns of an ISO 8601 time ("2026-12-06T12:00:00.000Z"), 0 when unreadable. */
int64_t aws_time_ns(const char *iso);

/* ---- Connections (driver.c) --------------------------------------------------- */

struct aws_price {
    char *type;
    char *currency;
    double price;
};

/* A small cache of names to ids (key pairs, images) shared by the connection's threads. */
struct aws_name {
    char *name;
    char *id;
};

/* Lookups waiting to share one DescribeInstances (batch.c). */
struct aws_batch;
struct aws_batcher {
    struct aws_batch *head, *tail; /* open batches, oldest first */
    int sending;                   /* a batch's call is in flight */
};

struct kumo_driver_conn {
    char *connection;
    char *region;
    char *zone;
    char *url;                /* the endpoint's URL ("https://ec2.REGION.amazonaws.com/") */
    char *host;               /* what the Host header says (host, or host:port) */
    char *elb_url, *elb_host; /* the same for Elastic Load Balancing v2 */
    char *access_key;
    char *secret_key;
    char *session_token;
    struct aws_price *prices; /* from price_file, for this region */
    size_t price_count;
    long connect_timeout_ms;
    int public_networks; /* networks get an internet gateway and public addresses */

    pthread_mutex_t mu; /* guards the handle pool and the caches */
    void **idle;        /* CURL handles ready for reuse */
    size_t idle_count, idle_cap;
    struct aws_name *keys; /* key pair id -> name */
    size_t key_count;
    struct aws_name *images; /* catalog name -> ami */
    size_t image_count;
    struct aws_name *roots; /* ami -> its root device name */
    size_t root_count;

    struct aws_batcher by_token, by_id; /* guarded by mu */
    pthread_cond_t batch_cv;            /* a batch was answered, or a sender finished */

    atomic_long calls, errors, throttled, bytes_sent;
};

extern const struct kumo_driver_host *aws_host;

void aws_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
double aws_price_of(const struct kumo_driver_conn *c, const char *type, const char **currency);

/* Name caches: the id for name ("" when unknown), copied into out. */
int aws_cache_get(struct kumo_driver_conn *c, struct aws_name **list, size_t *count,
                  const char *key, int by_id, char *out, size_t size);
void aws_cache_put(struct kumo_driver_conn *c, struct aws_name **list, size_t *count,
                   const char *name, const char *id);

/* ---- Batched instance lookups (batch.c) ----------------------------------------------- */

/* A found instance: its node lives as long as the batch (release it). */
struct aws_found {
    struct aws_batch *batch;
    xmlNodePtr it;
};

/* The live instance with token key (or instance id key when by_id), looked up with other
 * concurrent lookups in one DescribeInstances. NOT_FOUND when there is none. */
kumo_driver_code aws_batch_lookup(struct kumo_driver_conn *c, int by_id, const char *key,
                                  int64_t deadline_ns, struct aws_found *found,
                                  struct kumo_driver_diag *diag);
void aws_found_release(struct kumo_driver_conn *c, struct aws_found *found);
/* Frees the open batches (at close, when no lookup runs). */
void aws_batcher_fini(struct aws_batcher *q);

/* ---- Catalog (catalog.c) --------------------------------------------------------- */

kumo_driver_code aws_catalog_regions(struct kumo_driver_conn *c, int64_t deadline_ns,
                                     struct kumo_driver_region_list **out,
                                     struct kumo_driver_diag *diag);
kumo_driver_code aws_catalog_instance_types(struct kumo_driver_conn *c, int64_t deadline_ns,
                                            struct kumo_driver_instance_type_list **out,
                                            struct kumo_driver_diag *diag);
kumo_driver_code aws_catalog_images(struct kumo_driver_conn *c, int64_t deadline_ns,
                                    struct kumo_driver_image_list **out,
                                    struct kumo_driver_diag *diag);
/* The AMI of an image a Machine names (a catalog name, or "ami-..." as is), into ami. */
kumo_driver_code aws_image_resolve(struct kumo_driver_conn *c, const char *image,
                                   int64_t deadline_ns, char *ami, size_t size,
                                   struct kumo_driver_diag *diag);
/* The root device name of AMI ami (DescribeImages rootDeviceName, cached), into device. */
kumo_driver_code aws_image_root_device(struct kumo_driver_conn *c, const char *ami,
                                       int64_t deadline_ns, char *device, size_t size,
                                       struct kumo_driver_diag *diag);

/* ---- Load balancers (lb.c, lb_apply.c) ----------------------------------------------------- */

#define AWS_LB_MAX_LISTENERS 10 /* one DescribeTags call covers the balancer and its groups */
#define AWS_LB_MAX_TARGETS   45 /* per listener: each is a tag of its target group (50 tags) */
#define AWS_LB_TARGET_TAG                                                                          \
    "kumo:t:" /* + target name = "ADDRESS PORT INSTANCE WEIGHT BACKUP DRAINING" */
#define AWS_LB_LISTENER_TAG "kumo:listener"

/* What one observe reads of a load balancer: the balancer, its tags and its groups' (one
 * DescribeTags), its target groups, listeners, and each group's target health. */
struct aws_lb_seen {
    char name[40]; /* the balancer's name: k-<16 hex of the token's hash> */
    struct aws_reply lb, tags, groups, listeners;
    xmlNodePtr node;          /* the balancer's member in lb */
    struct aws_reply *health; /* one per member of groups, in order */
    size_t group_count;
};

/* The balancer's name for token (k-<16 hex>), and a group's for a listener (NAME-<8 hex>). */
void aws_lb_name(const char *token, char out[40]);
void aws_lb_group_name(const char *lb_name, const char *listener, char out[40]);
/* Reads everything of the balancer ref names; NOT_FOUND when there is none. */
kumo_driver_code aws_lb_read(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                             int64_t deadline_ns, struct aws_lb_seen *seen,
                             struct kumo_driver_diag *diag);
void aws_lb_seen_fini(struct aws_lb_seen *seen);
/* The tag value of key for resource arn in a DescribeTags reply ("" when absent). */
const char *aws_lb_tag(const struct aws_reply *tags, const char *arn, const char *key);
/* Packs seen as the driver's load balancer into *out (a host block). */
kumo_driver_code aws_lb_out(struct kumo_driver_conn *c, const struct aws_lb_seen *seen,
                            struct kumo_driver_load_balancer **out, struct kumo_driver_diag *diag);

KUMO_DRIVER_KIT_DECLARE_OPS(aws, load_balancer);

/* ---- User data (userdata.c) ---------------------------------------------------------- */

#define AWS_USER_DATA_MAX        16384 /* EC2's limit, before base64 */
#define AWS_AGENT_BOOTSTRAP_PATH "/etc/kumo/agent-bootstrap.json"

/* The UserData parameter (base64) of a machine with user_data and agent_bootstrap (either
 * NULL or ""): the user data alone, or a cloud-init multipart document that also installs
 * the bootstrap and starts kumo-agent. *out NULL when there is neither. 0, -1 (no memory)
 * or -2 (longer than AWS_USER_DATA_MAX). */
int aws_user_data(const char *user_data, const char *agent_bootstrap, char **out);

/* ---- Resources ----------------------------------------------------------------- */

KUMO_DRIVER_KIT_DECLARE_OPS(aws, machine);
KUMO_DRIVER_KIT_DECLARE_OPS(aws, network);
KUMO_DRIVER_KIT_DECLARE_OPS(aws, security_group);
KUMO_DRIVER_KIT_DECLARE_OPS(aws, key_pair);

/* public_networks: an internet gateway attached to vpc_id (tagged token), the main route
 * table's 0.0.0.0/0 route to it, MapPublicIpOnLaunch on the VPC's subnets of `subnets` (a
 * DescribeSubnets reply). Idempotent (gateway.c). */
kumo_driver_code aws_gateway_ensure(struct kumo_driver_conn *c, const char *vpc_id,
                                    const char *token, xmlNodePtr subnets, int64_t deadline_ns,
                                    struct kumo_driver_diag *diag);
/* Detaches and deletes vpc_id's gateway (or the one tagged token); OK when there is none. */
kumo_driver_code aws_gateway_remove(struct kumo_driver_conn *c, const char *vpc_id,
                                    const char *token, int64_t deadline_ns,
                                    struct kumo_driver_diag *diag);

/* Replaces every tag of resource id except the token tag (CreateTags/DeleteTags). */
kumo_driver_code aws_tags_replace(struct kumo_driver_conn *c, const char *id, xmlNodePtr current,
                                  const struct kumo_driver_tag *tags, size_t tag_count,
                                  int64_t deadline_ns, struct kumo_driver_diag *diag);

/* The name of key pair key_id (DescribeKeyPairs, cached), into name. */
kumo_driver_code aws_key_name(struct kumo_driver_conn *c, const char *key_id, int64_t deadline_ns,
                              char *name, size_t size, struct kumo_driver_diag *diag);

/* Checks a ref: one of provider_id and token set. */
kumo_driver_code aws_ref_check(const struct kumo_driver_ref *ref, const char *what,
                               struct kumo_driver_diag *diag);

#endif
