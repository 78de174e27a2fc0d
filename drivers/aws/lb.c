/*
 * lb.c - LoadBalancers are Elastic Load Balancing v2 load balancers: the read
 * side (find, observe, list, delete). lb_apply.c makes and changes them.
 *
 * Names are derived from the token, so a create whose reply was lost finds
 * what it made: the balancer is k-<16 hex of the token's hash>, the target
 * group of each listener <balancer>-<8 hex of the listener's name's hash>.
 * Every one carries the token tag (kumo:uid), checked on each lookup. A
 * target group's tags also name its listener (kumo:listener) and record each
 * target (kumo:t:<name> = "ADDRESS PORT INSTANCE WEIGHT BACKUP DRAINING"),
 * since ELBv2 targets are instances and have no names, weights or flags.
 */
#include "drivers/aws/internal.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

void aws_lb_name(const char *token, char out[40])
{
    snprintf(out, 40, "k-%016llx", (unsigned long long)fnv1a(token));
}

void aws_lb_group_name(const char *lb_name, const char *listener, char out[40])
{
    snprintf(out, 40, "%.18s-%08llx", lb_name, (unsigned long long)(fnv1a(listener) >> 32));
}

void aws_lb_seen_fini(struct aws_lb_seen *seen)
{
    aws_reply_free(&seen->lb);
    aws_reply_free(&seen->tags);
    aws_reply_free(&seen->groups);
    aws_reply_free(&seen->listeners);
    for (size_t i = 0; seen->health && i < seen->group_count; i++)
        aws_reply_free(&seen->health[i]);
    free(seen->health);
    memset(seen, 0, sizeof(*seen));
}

const char *aws_lb_tag(const struct aws_reply *tags, const char *arn, const char *key)
{
    AWS_XML_MEMBERS(d, tags->root, "TagDescriptions")
    if (strcmp(aws_xml_text(d, "ResourceArn"), arn) == 0)
        AWS_XML_MEMBERS(t, d, "Tags")
    if (strcmp(aws_xml_text(t, "Key"), key) == 0)
        return aws_xml_text(t, "Value");
    return "";
}

/* One ELBv2 call whose reply is kept in r; params freed. */
static kumo_driver_code elb_call(struct kumo_driver_conn *c, struct aws_params *p, const char *what,
                                 int64_t deadline_ns, struct aws_reply *r,
                                 struct kumo_driver_diag *diag)
{
    kumo_driver_code rc = p->failed
                              ? kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory")
                              : aws_call(c, p, what, deadline_ns, r, diag);
    aws_params_fini(p);
    return rc;
}

/* DescribeLoadBalancers by ARN or by the token's name; the token tag checked. */
static kumo_driver_code lb_find(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                int64_t deadline_ns, struct aws_lb_seen *seen,
                                struct kumo_driver_diag *diag)
{
    kumo_driver_code rc = aws_ref_check(ref, "load balancer", diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    int by_id = ref->provider_id && ref->provider_id[0];
    if (by_id && (strncmp(ref->provider_id, "k-", 2) != 0 || strlen(ref->provider_id) > 32))
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "LoadBalancerNotFound",
                                    "ELBv2 in %s: no load balancer %s (kumo's are named k-...)",
                                    c->region, ref->provider_id);
    struct aws_params p;
    aws_params_init_elb(&p, "DescribeLoadBalancers");
    if (by_id)
        snprintf(seen->name, sizeof(seen->name), "%s", ref->provider_id);
    else
        aws_lb_name(ref->token, seen->name);
    aws_params_add(&p, "Names.member.1", seen->name);
    char what[400];
    snprintf(what, sizeof(what), "load balancer %s%s", by_id ? "" : "with token ",
             by_id ? ref->provider_id : ref->token);
    rc = elb_call(c, &p, what, deadline_ns, &seen->lb, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    AWS_XML_MEMBERS(it, seen->lb.root, "LoadBalancers")
    if (seen->node == NULL && strcmp(aws_xml_text(it, "LoadBalancerName"), seen->name) == 0)
        seen->node = it;
    if (seen->node == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "LoadBalancerNotFound",
                                    "ELBv2 in %s: no %s", c->region, what);
    snprintf(seen->name, sizeof(seen->name), "%s", aws_xml_text(seen->node, "LoadBalancerName"));
    return KUMO_DRIVER_OK;
}

/* DescribeTags of the balancer and its groups, in one call. */
static kumo_driver_code tags_read(struct kumo_driver_conn *c, struct aws_lb_seen *seen,
                                  int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    struct aws_params p;
    aws_params_init_elb(&p, "DescribeTags");
    aws_params_add(&p, "ResourceArns.member.1", aws_xml_text(seen->node, "LoadBalancerArn"));
    int n = 1;
    AWS_XML_MEMBERS(g, seen->groups.root, "TargetGroups")
    if (n < 20) {
        char key[40];
        snprintf(key, sizeof(key), "ResourceArns.member.%d", ++n);
        aws_params_add(&p, key, aws_xml_text(g, "TargetGroupArn"));
    }
    return elb_call(c, &p, "tags of the load balancer and its target groups", deadline_ns,
                    &seen->tags, diag);
}

/* Target health of every group: the recorded targets' instances, registered or not. */
static kumo_driver_code health_read(struct kumo_driver_conn *c, struct aws_lb_seen *seen,
                                    int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    size_t n = 0;
    AWS_XML_MEMBERS(g, seen->groups.root, "TargetGroups")
    n++;
    seen->health = calloc(n + 1, sizeof(*seen->health));
    if (seen->health == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory");
    seen->group_count = n;
    size_t i = 0;
    kumo_driver_code rc = KUMO_DRIVER_OK;
    AWS_XML_MEMBERS(g, seen->groups.root, "TargetGroups")
    {
        if (rc != KUMO_DRIVER_OK)
            break;
        struct aws_params p;
        aws_params_init_elb(&p, "DescribeTargetHealth");
        aws_params_add(&p, "TargetGroupArn", aws_xml_text(g, "TargetGroupArn"));
        rc = elb_call(c, &p, aws_xml_text(g, "TargetGroupName"), deadline_ns, &seen->health[i++],
                      diag);
    }
    return rc;
}

kumo_driver_code aws_lb_read(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                             int64_t deadline_ns, struct aws_lb_seen *seen,
                             struct kumo_driver_diag *diag)
{
    memset(seen, 0, sizeof(*seen));
    kumo_driver_code rc = lb_find(c, ref, deadline_ns, seen, diag);
    const char *arn = rc == KUMO_DRIVER_OK ? aws_xml_text(seen->node, "LoadBalancerArn") : "";
    struct aws_params p;
    if (rc == KUMO_DRIVER_OK) {
        aws_params_init_elb(&p, "DescribeTargetGroups");
        aws_params_add(&p, "LoadBalancerArn", arn);
        rc = elb_call(c, &p, seen->name, deadline_ns, &seen->groups, diag);
        /* moto (not AWS) answers TargetGroupNotFound for a balancer without groups. */
        if (rc == KUMO_DRIVER_NOT_FOUND && diag &&
            strcmp(diag->cloud_code, "TargetGroupNotFound") == 0)
            rc = KUMO_DRIVER_OK;
    }
    if (rc == KUMO_DRIVER_OK)
        rc = tags_read(c, seen, deadline_ns, diag);
    const char *token =
        rc == KUMO_DRIVER_OK ? aws_lb_tag(&seen->tags, arn, KUMO_DRIVER_TOKEN_TAG) : "";
    if (rc == KUMO_DRIVER_OK && ref->token && ref->token[0] && strcmp(token, ref->token) != 0)
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "LoadBalancerNotFound",
                                  "ELBv2 in %s: load balancer %s is not tagged with token %s",
                                  c->region, seen->name, ref->token);
    if (rc == KUMO_DRIVER_OK) {
        aws_params_init_elb(&p, "DescribeListeners");
        aws_params_add(&p, "LoadBalancerArn", arn);
        rc = elb_call(c, &p, seen->name, deadline_ns, &seen->listeners, diag);
    }
    if (rc == KUMO_DRIVER_OK)
        rc = health_read(c, seen, deadline_ns, diag);
    if (rc != KUMO_DRIVER_OK)
        aws_lb_seen_fini(seen);
    return rc;
}

/* ---- Packing ---------------------------------------------------------------------------- */

static int32_t protocol_of(const char *word)
{
    return strcmp(word, "HTTP") == 0    ? KUMO_DRIVER_LB_HTTP
           : strcmp(word, "HTTPS") == 0 ? KUMO_DRIVER_LB_HTTPS
                                        : KUMO_DRIVER_LB_TCP;
}

/* The listener name of the group a listener forwards to ("" when unknown). */
static const char *listener_name(const struct aws_lb_seen *seen, xmlNodePtr listener)
{
    xmlNodePtr action = aws_xml_child(aws_xml_child(listener, "DefaultActions"), "member");
    return aws_lb_tag(&seen->tags, aws_xml_text(action, "TargetGroupArn"), AWS_LB_LISTENER_TAG);
}

static void pack_listeners(struct kumo_driver_kit_pack *p, const struct aws_lb_seen *seen,
                           struct kumo_driver_load_balancer *v)
{
    size_t n = 0;
    AWS_XML_MEMBERS(l, seen->listeners.root, "Listeners")
    n++;
    const struct kumo_driver_lb_listener **slots =
        kumo_driver_kit_pack_take(p, (n + 1) * sizeof(*slots), alignof(void *));
    size_t i = 0;
    AWS_XML_MEMBERS(l, seen->listeners.root, "Listeners")
    {
        struct kumo_driver_lb_listener *out =
            kumo_driver_kit_pack_take(p, sizeof(*out), alignof(struct kumo_driver_lb_listener));
        struct kumo_driver_lb_listener x = {sizeof(x),
                                            kumo_driver_kit_pack_str(p, listener_name(seen, l)),
                                            (int32_t)atoi(aws_xml_text(l, "Port")),
                                            protocol_of(aws_xml_text(l, "Protocol")),
                                            kumo_driver_kit_pack_str(p, ""),
                                            kumo_driver_kit_pack_str(p, "")};
        if (out && slots) {
            *out = x;
            slots[i] = out;
        }
        i++;
    }
    v->listeners = slots;
    v->listener_count = n;
}

/* One recorded target and what the group's health says of it. */
struct lb_target {
    char address[64], instance[32];
    int port, weight, backup, draining;
};

static void health_of(xmlNodePtr health_root, const struct lb_target *t,
                      struct kumo_driver_lb_target_status *s, char *reason, size_t size)
{
    xmlNodePtr found = NULL;
    AWS_XML_MEMBERS(h, health_root, "TargetHealthDescriptions")
    {
        xmlNodePtr target = aws_xml_child(h, "Target");
        if (strcmp(aws_xml_text(target, "Id"), t->instance) == 0 &&
            atoi(aws_xml_text(target, "Port")) == t->port)
            found = h;
    }
    xmlNodePtr th = aws_xml_child(found, "TargetHealth");
    const char *state = found ? aws_xml_text(th, "State") : "";
    if (t->draining || t->weight == 0)
        s->health = KUMO_DRIVER_LB_HEALTH_DRAINING;
    else if (strcmp(state, "healthy") == 0)
        s->health = KUMO_DRIVER_LB_HEALTH_HEALTHY;
    else if (strcmp(state, "initial") == 0 || strcmp(state, "unavailable") == 0)
        s->health = KUMO_DRIVER_LB_HEALTH_UNKNOWN;
    else if (strcmp(state, "draining") == 0)
        s->health = KUMO_DRIVER_LB_HEALTH_DRAINING;
    else
        s->health = KUMO_DRIVER_LB_HEALTH_UNHEALTHY;
    if (s->health == KUMO_DRIVER_LB_HEALTH_UNHEALTHY && found)
        snprintf(reason, size, "%s: %s", aws_xml_text(th, "Reason"),
                 aws_xml_text(th, "Description"));
    else if (s->health == KUMO_DRIVER_LB_HEALTH_UNHEALTHY && t->instance[0] == '-')
        snprintf(reason, size,
                 "Target.NotRegistered: no running instance in the load balancer's VPC has "
                 "address %s",
                 t->address);
    else if (s->health == KUMO_DRIVER_LB_HEALTH_UNHEALTHY)
        snprintf(reason, size, "Target.NotRegistered: instance %s is not registered", t->instance);
    else
        reason[0] = '\0';
}

/* The targets recorded in group g's tags, with their health. */
static size_t pack_group_targets(struct kumo_driver_kit_pack *p, const struct aws_lb_seen *seen,
                                 xmlNodePtr g, xmlNodePtr health,
                                 const struct kumo_driver_lb_target_status **slots)
{
    const char *arn = aws_xml_text(g, "TargetGroupArn");
    const char *listener = aws_lb_tag(&seen->tags, arn, AWS_LB_LISTENER_TAG);
    size_t n = 0, prefix = strlen(AWS_LB_TARGET_TAG);
    AWS_XML_MEMBERS(d, seen->tags.root, "TagDescriptions")
    if (strcmp(aws_xml_text(d, "ResourceArn"), arn) == 0)
        AWS_XML_MEMBERS(tag, d, "Tags")
        {
            const char *key = aws_xml_text(tag, "Key");
            struct lb_target t;
            memset(&t, 0, sizeof(t));
            if (strncmp(key, AWS_LB_TARGET_TAG, prefix) != 0 ||
                sscanf(aws_xml_text(tag, "Value"), "%63s %d %31s %d %d %d", t.address, &t.port,
                       t.instance, &t.weight, &t.backup, &t.draining) != 6)
                continue;
            struct kumo_driver_lb_target_status s;
            memset(&s, 0, sizeof(s));
            s.struct_size = sizeof(s);
            char reason[320];
            health_of(health, &t, &s, reason, sizeof(reason));
            s.name = kumo_driver_kit_pack_str(p, key + prefix);
            s.listener = kumo_driver_kit_pack_str(p, listener);
            s.address = kumo_driver_kit_pack_str(p, t.address);
            s.port = t.port;
            s.reason = kumo_driver_kit_pack_str(p, reason);
            s.weight = t.draining ? 0 : t.weight;
            s.backup = t.backup;
            s.draining = t.draining || t.weight == 0;
            struct kumo_driver_lb_target_status *out = kumo_driver_kit_pack_take(
                p, sizeof(*out), alignof(struct kumo_driver_lb_target_status));
            if (out && slots) {
                *out = s;
                slots[n] = out;
            }
            n++;
        }
    return n;
}

static void pack_targets(struct kumo_driver_kit_pack *p, const struct aws_lb_seen *seen,
                         struct kumo_driver_load_balancer *v)
{
    size_t n = 0, i = 0;
    AWS_XML_MEMBERS(g, seen->groups.root, "TargetGroups")
    n += pack_group_targets(p, seen, g, seen->health[i++].root, NULL);
    const struct kumo_driver_lb_target_status **slots =
        kumo_driver_kit_pack_take(p, (n + 1) * sizeof(*slots), alignof(void *));
    size_t at = 0;
    i = 0;
    AWS_XML_MEMBERS(g, seen->groups.root, "TargetGroups")
    at += pack_group_targets(p, seen, g, seen->health[i++].root, slots ? slots + at : NULL);
    v->targets = slots;
    v->target_count = n;
}

static void pack_lb(struct kumo_driver_kit_pack *p, struct kumo_driver_conn *c,
                    const struct aws_lb_seen *seen, const void **slot)
{
    xmlNodePtr lb = seen->node;
    const char *arn = aws_xml_text(lb, "LoadBalancerArn");
    struct kumo_driver_load_balancer *out =
        kumo_driver_kit_pack_take(p, sizeof(*out), alignof(struct kumo_driver_load_balancer));
    struct kumo_driver_load_balancer v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    /* The name: unique in the account's region, and shorter than the ARN. */
    v.provider_id = kumo_driver_kit_pack_str(p, seen->name);
    v.token = kumo_driver_kit_pack_str(p, aws_lb_tag(&seen->tags, arn, KUMO_DRIVER_TOKEN_TAG));
    v.name = kumo_driver_kit_pack_str(p, aws_lb_tag(&seen->tags, arn, "Name"));
    v.region = kumo_driver_kit_pack_str(p, c->region);
    xmlNodePtr state = aws_xml_child(lb, "State");
    v.state = kumo_driver_kit_pack_str(p, aws_xml_text(state, "Code"));
    v.message = kumo_driver_kit_pack_str(p, aws_xml_text(state, "Reason"));
    /* ELBv2 gives a DNS name, not a fixed address: clients connect to the name. */
    const char *dns = aws_xml_text(lb, "DNSName");
    v.address = kumo_driver_kit_pack_str(p, dns);
    v.hostname = kumo_driver_kit_pack_str(p, dns);
    char *addresses[1] = {(char *)dns};
    v.addresses = kumo_driver_kit_pack_strings(p, addresses, dns[0] ? 1 : 0);
    v.address_count = dns[0] ? 1 : 0;
    pack_listeners(p, seen, &v);
    pack_targets(p, seen, &v);
    v.created_ns = aws_time_ns(aws_xml_text(lb, "CreatedTime"));
    struct aws_tags t = {.token = v.token ? v.token : ""};
    size_t count = 0;
    AWS_XML_MEMBERS(d, seen->tags.root, "TagDescriptions")
    if (strcmp(aws_xml_text(d, "ResourceArn"), arn) == 0)
        AWS_XML_MEMBERS(tag, d, "Tags")
    count++;
    t.items = calloc(count + 1, sizeof(*t.items));
    AWS_XML_MEMBERS(d, seen->tags.root, "TagDescriptions")
    if (t.items && strcmp(aws_xml_text(d, "ResourceArn"), arn) == 0)
        AWS_XML_MEMBERS(tag, d, "Tags")
        {
            if (strcmp(aws_xml_text(tag, "Key"), KUMO_DRIVER_TOKEN_TAG) == 0)
                continue;
            t.items[t.count].key = (char *)aws_xml_text(tag, "Key");
            t.items[t.count++].value = (char *)aws_xml_text(tag, "Value");
        }
    t.token = aws_lb_tag(&seen->tags, arn, KUMO_DRIVER_TOKEN_TAG);
    v.tags = aws_tags_pack(p, &t, &v.tag_count);
    aws_tags_fini(&t);
    if (out != NULL) {
        *out = v;
        if (slot)
            *slot = out;
    }
}

kumo_driver_code aws_lb_out(struct kumo_driver_conn *c, const struct aws_lb_seen *seen,
                            struct kumo_driver_load_balancer **out, struct kumo_driver_diag *diag)
{
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(aws_host, block, pk, pack_lb(pk, c, seen, NULL));
    return AWS_OUT(out, block, diag);
}

kumo_driver_code aws_load_balancer_observe(struct kumo_driver_conn *c,
                                           const struct kumo_driver_ref *ref, int64_t deadline_ns,
                                           struct kumo_driver_load_balancer **out,
                                           struct kumo_driver_diag *diag)
{
    *out = NULL;
    struct aws_lb_seen seen;
    kumo_driver_code rc = aws_lb_read(c, ref, deadline_ns, &seen, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    rc = aws_lb_out(c, &seen, out, diag);
    aws_lb_seen_fini(&seen);
    return rc;
}

/* ---- List ------------------------------------------------------------------------------- */

/* 1 when the DescribeTags member d matches filter (a NULL filter or key matches all). */
static int tags_match(xmlNodePtr d, const struct kumo_driver_filter *filter)
{
    if (filter == NULL || filter->tag_key == NULL || filter->tag_key[0] == '\0')
        return 1;
    const char *prefix = filter->tag_value_prefix ? filter->tag_value_prefix : "";
    AWS_XML_MEMBERS(t, d, "Tags")
    if (strcmp(aws_xml_text(t, "Key"), filter->tag_key) == 0 &&
        strncmp(aws_xml_text(t, "Value"), prefix, strlen(prefix)) == 0)
        return 1;
    return 0;
}

/* Appends the names of kumo's balancers (named k-...) that match filter to *arns. */
static kumo_driver_code page_match(struct kumo_driver_conn *c, xmlNodePtr page,
                                   const struct kumo_driver_filter *filter, int64_t deadline_ns,
                                   struct kumo_driver_kit_buf *names, struct kumo_driver_diag *diag)
{
    struct aws_params p;
    aws_params_init_elb(&p, "DescribeTags");
    int n = 0;
    kumo_driver_code rc = KUMO_DRIVER_OK;
    AWS_XML_MEMBERS(lb, page, "LoadBalancers")
    {
        if (strncmp(aws_xml_text(lb, "LoadBalancerName"), "k-", 2) == 0) {
            char key[40];
            snprintf(key, sizeof(key), "ResourceArns.member.%d", ++n);
            aws_params_add(&p, key, aws_xml_text(lb, "LoadBalancerArn"));
        }
        if (n == 0 || (n < 20 && aws_xml_next(lb, "member") != NULL))
            continue;
        struct aws_reply r;
        rc = elb_call(c, &p, "tags of load balancers", deadline_ns, &r, diag);
        if (rc != KUMO_DRIVER_OK)
            return rc;
        AWS_XML_MEMBERS(d, r.root, "TagDescriptions")
        if (tags_match(d, filter)) {
            xmlNodePtr found = NULL;
            AWS_XML_MEMBERS(o, page, "LoadBalancers")
            if (strcmp(aws_xml_text(o, "LoadBalancerArn"), aws_xml_text(d, "ResourceArn")) == 0)
                found = o;
            kumo_driver_kit_buf_printf(names, "%s\n", aws_xml_text(found, "LoadBalancerName"));
        }
        aws_reply_free(&r);
        aws_params_init_elb(&p, "DescribeTags");
        n = 0;
    }
    aws_params_fini(&p);
    return rc;
}

/* The names ('\n'-separated) of the balancers that match filter, every page. */
static kumo_driver_code lb_arns(struct kumo_driver_conn *c, const struct kumo_driver_filter *filter,
                                int64_t deadline_ns, struct kumo_driver_kit_buf *names,
                                struct kumo_driver_diag *diag)
{
    char marker[1024] = "";
    kumo_driver_code rc = KUMO_DRIVER_OK;
    do {
        struct aws_params p;
        struct aws_reply r;
        aws_params_init_elb(&p, "DescribeLoadBalancers");
        aws_params_add(&p, "PageSize", "400");
        if (marker[0])
            aws_params_add(&p, "Marker", marker);
        rc = elb_call(c, &p, "load balancers", deadline_ns, &r, diag);
        if (rc != KUMO_DRIVER_OK)
            return rc;
        rc = page_match(c, r.root, filter, deadline_ns, names, diag);
        snprintf(marker, sizeof(marker), "%s",
                 aws_xml_text(aws_xml_find(r.root, "DescribeLoadBalancersResult"), "NextMarker"));
        aws_reply_free(&r);
    } while (rc == KUMO_DRIVER_OK && marker[0]);
    return rc;
}

kumo_driver_code aws_load_balancer_list(struct kumo_driver_conn *c,
                                        const struct kumo_driver_filter *filter,
                                        int64_t deadline_ns,
                                        struct kumo_driver_load_balancer_list **out,
                                        struct kumo_driver_diag *diag)
{
    *out = NULL;
    struct kumo_driver_kit_buf arns;
    kumo_driver_kit_buf_init(&arns);
    kumo_driver_code rc = lb_arns(c, filter, deadline_ns, &arns, diag);
    size_t n = 0;
    for (size_t i = 0; rc == KUMO_DRIVER_OK && i < arns.len; i++)
        n += arns.data[i] == '\n';
    struct aws_lb_seen *seen = calloc(n + 1, sizeof(*seen));
    size_t got = 0;
    if (rc == KUMO_DRIVER_OK && seen == NULL)
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory");
    for (char *arn = arns.data, *end; rc == KUMO_DRIVER_OK && arn && (end = strchr(arn, '\n'));
         arn = end + 1) {
        *end = '\0';
        struct kumo_driver_ref ref = {arn, NULL};
        rc = aws_lb_read(c, &ref, deadline_ns, &seen[got], diag);
        if (rc == KUMO_DRIVER_NOT_FOUND) /* deleted meanwhile */
            rc = KUMO_DRIVER_OK;
        else if (rc == KUMO_DRIVER_OK)
            got++;
    }
    void *block = NULL;
    if (rc == KUMO_DRIVER_OK)
        KUMO_DRIVER_KIT_PACK_TWICE(aws_host, block, pk, {
            const void **slots = kumo_driver_kit_pack_list(pk, got);
            for (size_t i = 0; i < got; i++)
                pack_lb(pk, c, &seen[i], slots ? &slots[i] : NULL);
        });
    for (size_t i = 0; seen && i < got; i++)
        aws_lb_seen_fini(&seen[i]);
    free(seen);
    kumo_driver_kit_buf_fini(&arns);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    return AWS_OUT(out, block, diag);
}

/* ---- Delete ----------------------------------------------------------------------------- */

/* Deletes the target groups named NAME-... (the balancer's, attached or left by a crash). */
static kumo_driver_code groups_delete(struct kumo_driver_conn *c, const char *lb_name,
                                      int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    struct aws_params p;
    struct aws_reply r;
    aws_params_init_elb(&p, "DescribeTargetGroups");
    kumo_driver_code rc = elb_call(c, &p, "target groups", deadline_ns, &r, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    size_t n = strlen(lb_name);
    AWS_XML_MEMBERS(g, r.root, "TargetGroups")
    {
        const char *name = aws_xml_text(g, "TargetGroupName");
        if (rc != KUMO_DRIVER_OK || strncmp(name, lb_name, n) != 0 || name[n] != '-')
            continue;
        rc = aws_call_one(c, 1, "DeleteTargetGroup", "TargetGroupArn",
                          aws_xml_text(g, "TargetGroupArn"), name, deadline_ns, diag);
        if (rc == KUMO_DRIVER_NOT_FOUND)
            rc = KUMO_DRIVER_OK;
    }
    aws_reply_free(&r);
    return rc;
}

kumo_driver_code aws_load_balancer_delete(struct kumo_driver_conn *c,
                                          const struct kumo_driver_ref *ref, int64_t deadline_ns,
                                          struct kumo_driver_diag *diag)
{
    struct aws_lb_seen seen;
    kumo_driver_code rc = aws_lb_read(c, ref, deadline_ns, &seen, diag);
    if (rc == KUMO_DRIVER_NOT_FOUND && ref->token && ref->token[0]) {
        /* A delete cut short may have left the groups: sweep them, then say NOT_FOUND. */
        char name[40];
        aws_lb_name(ref->token, name);
        struct kumo_driver_diag ignored;
        groups_delete(c, name, deadline_ns, &ignored);
        return rc;
    }
    if (rc != KUMO_DRIVER_OK)
        return rc;
    AWS_XML_MEMBERS(l, seen.listeners.root, "Listeners")
    {
        if (rc == KUMO_DRIVER_OK)
            rc = aws_call_one(c, 1, "DeleteListener", "ListenerArn", aws_xml_text(l, "ListenerArn"),
                              seen.name, deadline_ns, diag);
        if (rc == KUMO_DRIVER_NOT_FOUND)
            rc = KUMO_DRIVER_OK;
    }
    if (rc == KUMO_DRIVER_OK)
        rc = aws_call_one(c, 1, "DeleteLoadBalancer", "LoadBalancerArn",
                          aws_xml_text(seen.node, "LoadBalancerArn"), seen.name, deadline_ns, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = groups_delete(c, seen.name, deadline_ns, diag);
    aws_lb_seen_fini(&seen);
    return rc;
}
