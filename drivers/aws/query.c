/*
 * query.c - the EC2 Query protocol: Action=...&Version=... form-encoded in a
 * POST body, signed with SigV4, sent with libcurl (HTTP/1.1 keep-alive through
 * a pool of reusable handles per connection), the XML reply parsed with
 * libxml2. AWS error codes are mapped to driver codes here and nowhere else;
 * the AWS code and message always reach the diag.
 */
#include "drivers/aws/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <libxml/parser.h>

/* ---- Parameters ---------------------------------------------------------------- */

void aws_params_init(struct aws_params *p, const char *action)
{
    memset(p, 0, sizeof(*p));
    aws_params_add(p, "Action", action);
    aws_params_add(p, "Version", AWS_EC2_VERSION);
}

void aws_params_init_elb(struct aws_params *p, const char *action)
{
    memset(p, 0, sizeof(*p));
    p->elb = 1;
    aws_params_add(p, "Action", action);
    aws_params_add(p, "Version", AWS_ELB_VERSION);
}

void aws_params_fini(struct aws_params *p)
{
    for (size_t i = 0; i < p->count; i++) {
        free((char *)p->items[i].key);
        free((char *)p->items[i].value);
    }
    free(p->items);
    memset(p, 0, sizeof(*p));
}

void aws_params_add(struct aws_params *p, const char *key, const char *value)
{
    if (p->failed)
        return;
    if (p->count == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        struct kumo_driver_kv *grown = realloc(p->items, cap * sizeof(*grown));
        if (grown == NULL) {
            p->failed = 1;
            return;
        }
        p->items = grown;
        p->cap = cap;
    }
    char *k = strdup(key), *v = strdup(value ? value : "");
    if (k == NULL || v == NULL) {
        free(k);
        free(v);
        p->failed = 1;
        return;
    }
    p->items[p->count].key = k;
    p->items[p->count++].value = v;
}

void aws_params_addf(struct aws_params *p, const char *key, const char *fmt, ...)
{
    char value[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    aws_params_add(p, key, value);
}

void aws_params_filter(struct aws_params *p, int n, const char *name, const char *value)
{
    char key[64];
    snprintf(key, sizeof(key), "Filter.%d.Name", n);
    aws_params_add(p, key, name);
    snprintf(key, sizeof(key), "Filter.%d.Value.1", n);
    aws_params_add(p, key, value);
}

int aws_params_tag_filter(struct aws_params *p, int n, const struct kumo_driver_filter *filter)
{
    if (filter == NULL || filter->tag_key == NULL || filter->tag_key[0] == '\0')
        return 0;
    char name[160], value[160];
    snprintf(name, sizeof(name), "tag:%s", filter->tag_key);
    snprintf(value, sizeof(value), "%s*", filter->tag_value_prefix ? filter->tag_value_prefix : "");
    aws_params_filter(p, n, name, value);
    return 1;
}

void aws_params_live_filter(struct aws_params *p, int n)
{
    static const char *const states[] = {"pending", "running", "stopping", "stopped",
                                         "shutting-down"};
    char key[48];
    snprintf(key, sizeof(key), "Filter.%d.Name", n);
    aws_params_add(p, key, "instance-state-name");
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        snprintf(key, sizeof(key), "Filter.%d.Value.%zu", n, i + 1);
        aws_params_add(p, key, states[i]);
    }
}

static void tag_add(struct aws_params *p, int n, const char *key, const char *value)
{
    char k[64];
    snprintf(k, sizeof(k), "TagSpecification.1.Tag.%d.Key", n);
    aws_params_add(p, k, key);
    snprintf(k, sizeof(k), "TagSpecification.1.Tag.%d.Value", n);
    aws_params_add(p, k, value);
}

void aws_params_tag_spec(struct aws_params *p, const char *resource_type, const char *token,
                         const char *name, const struct kumo_driver_tag *tags, size_t tag_count)
{
    int n = 1;
    aws_params_add(p, "TagSpecification.1.ResourceType", resource_type);
    tag_add(p, n++, KUMO_DRIVER_TOKEN_TAG, token);
    if (name && name[0])
        tag_add(p, n++, "Name", name);
    for (size_t i = 0; i < tag_count; i++)
        if (strcmp(tags[i].key, KUMO_DRIVER_TOKEN_TAG) != 0 &&
            !(name && name[0] && strcmp(tags[i].key, "Name") == 0))
            tag_add(p, n++, tags[i].key, tags[i].value);
}

/* application/x-www-form-urlencoded as the AWS SDKs write it: space as '+', every byte
 * but A-Z a-z 0-9 - _ . ~ as %XX (servers that re-encode the form to check the
 * signature, as moto does, get the same bytes). */
static void form_encode(struct kumo_driver_kit_buf *out, const char *s)
{
    for (const char *p = s; *p; p++) {
        size_t run = strcspn(p, " ");
        if (run > 0) {
            char *part = strndup(p, run);
            if (part == NULL) {
                out->failed = 1;
                return;
            }
            aws_uri_encode(out, part, 0);
            free(part);
            p += run;
            if (*p == '\0')
                break;
        }
        kumo_driver_kit_buf_add(out, "+", 1);
    }
}

int aws_params_encode(const struct aws_params *p, struct kumo_driver_kit_buf *out)
{
    for (size_t i = 0; i < p->count; i++) {
        if (i > 0)
            kumo_driver_kit_buf_add(out, "&", 1);
        form_encode(out, p->items[i].key);
        kumo_driver_kit_buf_add(out, "=", 1);
        form_encode(out, p->items[i].value);
    }
    return p->failed || out->failed ? -1 : 0;
}

/* ---- One resource by id or token -------------------------------------------------------- */

kumo_driver_code aws_describe_one(struct kumo_driver_conn *c, const struct aws_kind *kind,
                                  const struct kumo_driver_ref *ref, int64_t deadline_ns,
                                  struct aws_reply *r, xmlNodePtr *node,
                                  struct kumo_driver_diag *diag)
{
    *node = NULL;
    kumo_driver_code rc = aws_ref_check(ref, kind->what, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    int by_id = ref->provider_id && ref->provider_id[0];
    struct aws_params p;
    char what[160];
    aws_params_init(&p, kind->action);
    if (kind->extra_key)
        aws_params_add(&p, kind->extra_key, kind->extra_value);
    if (by_id && kind->id_filter)
        aws_params_filter(&p, 1, kind->id_filter, ref->provider_id);
    else if (by_id)
        aws_params_add(&p, kind->id_param, ref->provider_id);
    else
        aws_params_filter(&p, 1, "tag:" KUMO_DRIVER_TOKEN_TAG, ref->token);
    snprintf(what, sizeof(what), "%s %s%s", kind->what, by_id ? "" : "with token ",
             by_id ? ref->provider_id : ref->token);
    rc = aws_call(c, &p, what, deadline_ns, r, diag);
    aws_params_fini(&p);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    if (kind->seen)
        kind->seen(c, r->root);
    /* Some EC2 look-alikes ignore an id parameter and answer everything: check the id. */
    AWS_XML_ITEMS(it, r->root, kind->set)
    if (*node == NULL &&
        (!by_id || strcmp(aws_xml_text(it, kind->id_field), ref->provider_id) == 0))
        *node = it;
    if (*node != NULL)
        return KUMO_DRIVER_OK;
    aws_reply_free(r);
    return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, kind->not_found, "EC2 in %s: no %s",
                                c->region, what);
}

kumo_driver_code aws_kind_out(struct kumo_driver_conn *c, const struct aws_kind *kind,
                              const struct kumo_driver_ref *ref, int64_t deadline_ns, void **out,
                              struct kumo_driver_diag *diag)
{
    *out = NULL;
    struct aws_reply r;
    xmlNodePtr item;
    kumo_driver_code rc = aws_describe_one(c, kind, ref, deadline_ns, &r, &item, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(aws_host, block, pk, kind->pack(pk, c, item, NULL));
    aws_reply_free(&r);
    return AWS_OUT(out, block, diag);
}

static void pack_kind_list(struct kumo_driver_kit_pack *p, struct kumo_driver_conn *c,
                           const struct aws_kind *kind, xmlNodePtr root)
{
    size_t n = 0, i = 0;
    AWS_XML_ITEMS(it, root, kind->set)
    n++;
    const void **slots = kumo_driver_kit_pack_list(p, n);
    AWS_XML_ITEMS(it, root, kind->set)
    {
        kind->pack(p, c, it, slots ? &slots[i] : NULL);
        i++;
    }
}

kumo_driver_code aws_kind_list(struct kumo_driver_conn *c, const struct aws_kind *kind,
                               const struct kumo_driver_filter *filter, int64_t deadline_ns,
                               void **out, struct kumo_driver_diag *diag)
{
    *out = NULL;
    struct aws_params p;
    struct aws_reply r;
    aws_params_init(&p, kind->action);
    if (kind->extra_key)
        aws_params_add(&p, kind->extra_key, kind->extra_value);
    aws_params_tag_filter(&p, 1, filter);
    char what[64];
    snprintf(what, sizeof(what), "%ss", kind->what);
    kumo_driver_code rc = aws_call(c, &p, what, deadline_ns, &r, diag);
    aws_params_fini(&p);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    if (kind->seen)
        kind->seen(c, r.root);
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(aws_host, block, pk, pack_kind_list(pk, c, kind, r.root));
    aws_reply_free(&r);
    return AWS_OUT(out, block, diag);
}

kumo_driver_code aws_describe_where(struct kumo_driver_conn *c, const char *action,
                                    const char *name, const char *value, const char *what,
                                    int64_t deadline_ns, struct aws_reply *r,
                                    struct kumo_driver_diag *diag)
{
    struct aws_params p;
    aws_params_init(&p, action);
    aws_params_filter(&p, 1, name, value);
    kumo_driver_code rc = p.failed
                              ? kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory")
                              : aws_call(c, &p, what, deadline_ns, r, diag);
    aws_params_fini(&p);
    return rc;
}

kumo_driver_code aws_call_one(struct kumo_driver_conn *c, int elb, const char *action,
                              const char *key, const char *value, const char *what,
                              int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    struct aws_params p;
    if (elb)
        aws_params_init_elb(&p, action);
    else
        aws_params_init(&p, action);
    aws_params_add(&p, key, value);
    return aws_call_plain(c, &p, what, deadline_ns, diag);
}

/* ---- XML ----------------------------------------------------------------------- */

static int named(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

xmlNodePtr aws_xml_child(xmlNodePtr node, const char *name)
{
    for (xmlNodePtr n = node ? node->children : NULL; n != NULL; n = n->next)
        if (named(n, name))
            return n;
    return NULL;
}

xmlNodePtr aws_xml_next(xmlNodePtr node, const char *name)
{
    for (xmlNodePtr n = node ? node->next : NULL; n != NULL; n = n->next)
        if (named(n, name))
            return n;
    return NULL;
}

xmlNodePtr aws_xml_find(xmlNodePtr node, const char *name)
{
    for (xmlNodePtr n = node ? node->children : NULL; n != NULL; n = n->next) {
        if (named(n, name))
            return n;
        xmlNodePtr found = n->type == XML_ELEMENT_NODE ? aws_xml_find(n, name) : NULL;
        if (found != NULL)
            return found;
    }
    return NULL;
}

const char *aws_xml_text(xmlNodePtr node, const char *name)
{
    xmlNodePtr n = name ? aws_xml_child(node, name) : node;
    for (xmlNodePtr t = n ? n->children : NULL; t != NULL; t = t->next)
        if ((t->type == XML_TEXT_NODE || t->type == XML_CDATA_SECTION_NODE) && t->content)
            return (const char *)t->content;
    return "";
}

int aws_xml_find_tag(xmlNodePtr node, const char *key, const char *value)
{
    AWS_XML_ITEMS(it, node, "tagSet")
    if (strcmp(aws_xml_text(it, "key"), key) == 0 && strcmp(aws_xml_text(it, "value"), value) == 0)
        return 1;
    return 0;
}

void aws_reply_free(struct aws_reply *r)
{
    if (r->doc)
        xmlFreeDoc(r->doc);
    r->doc = NULL;
    r->root = NULL;
}

int aws_tags_read(xmlNodePtr owner, struct aws_tags *out)
{
    memset(out, 0, sizeof(*out));
    out->token = "";
    out->name = "";
    size_t n = 0;
    AWS_XML_ITEMS(it, owner, "tagSet")
    n++;
    out->items = calloc(n + 1, sizeof(*out->items));
    if (out->items == NULL)
        return -1;
    AWS_XML_ITEMS(it, owner, "tagSet")
    {
        const char *k = aws_xml_text(it, "key"), *v = aws_xml_text(it, "value");
        if (strcmp(k, KUMO_DRIVER_TOKEN_TAG) == 0) {
            out->token = v;
            continue;
        }
        if (strcmp(k, "Name") == 0)
            out->name = v;
        out->items[out->count].key = (char *)k;
        out->items[out->count++].value = (char *)v;
    }
    return 0;
}

void aws_tags_fini(struct aws_tags *t)
{
    free(t->items);
    t->items = NULL;
}

const struct kumo_driver_tag *aws_tags_pack(struct kumo_driver_kit_pack *p,
                                            const struct aws_tags *t, size_t *out_count)
{
    return kumo_driver_kit_pack_tags(p, t->token, t->items, t->count, out_count);
}

int64_t aws_time_ns(const char *iso)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (iso == NULL || sscanf(iso, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                              &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000000000LL;
}

/* ---- Errors -------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int one_of(const char *code, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(code, *list) == 0)
            return 1;
    return 0;
}

kumo_driver_code aws_error_code(const char *code, long status)
{
    static const char *const throttled[] = {
        "RequestLimitExceeded", "Throttling", "ThrottlingException",
        "RequestThrottled",     "SlowDown",   NULL};
    static const char *const capacity[] = {
        "InsufficientInstanceCapacity",         "InsufficientHostCapacity",
        "InsufficientReservedInstanceCapacity", "InsufficientCapacity",
        "InsufficientFreeAddressesInSubnet",    NULL};
    static const char *const quota[] = {"InstanceLimitExceeded",
                                        "VcpuLimitExceeded",
                                        "VpcLimitExceeded",
                                        "SecurityGroupLimitExceeded",
                                        "RulesPerSecurityGroupLimitExceeded",
                                        "ResourceLimitExceeded",
                                        "MaxSpotInstanceCountExceeded",
                                        "KeyPairLimitExceeded",
                                        "SubnetLimitExceeded",
                                        NULL};
    static const char *const unauthorized[] = {"AuthFailure",
                                               "InvalidClientTokenId",
                                               "SignatureDoesNotMatch",
                                               "UnauthorizedOperation",
                                               "InvalidAccessKeyId",
                                               "MissingAuthenticationToken",
                                               "ExpiredToken",
                                               "AccessDenied",
                                               "AccessDeniedException",
                                               "OptInRequired",
                                               "UnrecognizedClientException",
                                               "Blocked",
                                               NULL};
    static const char *const conflict[] = {"DependencyViolation",
                                           "IncorrectInstanceState",
                                           "IncorrectState",
                                           "InvalidInstanceState",
                                           "InvalidState",
                                           "ResourceInUse",
                                           NULL};
    static const char *const quota_elb[] = {"TooManyLoadBalancers",
                                            "TooManyTargetGroups",
                                            "TooManyTargets",
                                            "TooManyListeners",
                                            "TooManyTags",
                                            "TooManyRegistrationsForTargetId",
                                            NULL};
    static const char *const not_found_elb[] = {"LoadBalancerNotFound", "TargetGroupNotFound",
                                                "ListenerNotFound", "InvalidTarget", NULL};
    static const char *const unavailable[] = {"Unavailable", "ServiceUnavailable", "InternalError",
                                              "InternalFailure", NULL};
    if (one_of(code, throttled))
        return KUMO_DRIVER_THROTTLED;
    if (one_of(code, capacity))
        return KUMO_DRIVER_CAPACITY;
    if (one_of(code, quota))
        return KUMO_DRIVER_QUOTA;
    if (one_of(code, unauthorized) || status == 401 || status == 403)
        return KUMO_DRIVER_UNAUTHORIZED;
    if (one_of(code, conflict))
        return KUMO_DRIVER_CONFLICT;
    if (one_of(code, unavailable))
        return KUMO_DRIVER_UNAVAILABLE;
    if (one_of(code, quota_elb))
        return KUMO_DRIVER_QUOTA;
    if (ends_with(code, ".Duplicate") || strcmp(code, "AlreadyExists") == 0 ||
        strncmp(code, "Duplicate", 9) == 0)
        return KUMO_DRIVER_ALREADY_EXISTS;
    if (one_of(code, not_found_elb))
        return KUMO_DRIVER_NOT_FOUND;
    /* A wrong catalog name (type, image) is a spec that can never work, not a missing thing. */
    if (ends_with(code, ".NotFound") && strncmp(code, "InvalidAMIID", 12) != 0 &&
        strncmp(code, "InvalidInstanceType", 19) != 0)
        return KUMO_DRIVER_NOT_FOUND;
    if (status == 503)
        return KUMO_DRIVER_THROTTLED;
    if (status >= 500)
        return KUMO_DRIVER_UNAVAILABLE;
    return KUMO_DRIVER_INVALID;
}
