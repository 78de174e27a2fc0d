/*
 * lb_apply.c - making and changing ELBv2 load balancers (lb.c reads them).
 *
 *   create   DescribeLoadBalancers by the token's name first; else the VPC of
 *            the targets' instances (or the default VPC), one subnet per zone
 *            of it, CreateLoadBalancer (network for TCP listeners,
 *            application for HTTP) tagged with the token; then converge;
 *   update   converge the fields asked for;
 *   converge per listener: its target group (instance targets, the health
 *            check), the listener forwarding to it, RegisterTargets /
 *            DeregisterTargets to match the spec, the targets recorded in the
 *            group's tags; listeners and groups the spec lost are deleted.
 *
 * A target is the instance with its address in the balancer's VPC: an
 * address with no running instance there cannot be registered and reads as
 * unhealthy. Draining and weight-0 targets are deregistered (ELBv2 drains
 * them).
 */
#include "drivers/aws/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *lb_label(const struct kumo_driver_load_balancer_spec *spec)
{
    return spec->name && spec->name[0] ? spec->name : "(unnamed)";
}

static int listener_index(const struct kumo_driver_load_balancer_spec *spec, const char *name)
{
    for (size_t i = 0; name && i < spec->listener_count; i++)
        if (strcmp(spec->listeners[i]->name, name) == 0)
            return (int)i;
    return -1;
}

static kumo_driver_code listeners_check(const struct kumo_driver_load_balancer_spec *spec,
                                        struct kumo_driver_diag *diag)
{
    const char *lb = lb_label(spec);
    if (spec->listener_count < 1 || spec->listener_count > AWS_LB_MAX_LISTENERS)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "ValidationError",
                                    "load balancer %s: listeners: expected 1 to %d, got %zu", lb,
                                    AWS_LB_MAX_LISTENERS, spec->listener_count);
    for (size_t i = 0; i < spec->listener_count; i++) {
        const struct kumo_driver_lb_listener *l = spec->listeners[i];
        const char *name = l->name ? l->name : "";
        if (name[0] == '\0' || strlen(name) > 32 ||
            strspn(name, "abcdefghijklmnopqrstuvwxyz"
                         "0123456789-") != strlen(name) ||
            listener_index(spec, name) != (int)i)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "ValidationError",
                                        "load balancer %s: listener \"%s\": name: expected a "
                                        "unique [a-z0-9-] name of at most 32 characters",
                                        lb, name);
        if (l->port < 1 || l->port > 65535)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "ValidationError",
                                        "load balancer %s: listener %s: port %d: expected 1 to "
                                        "65535",
                                        lb, name, l->port);
        if (l->protocol == KUMO_DRIVER_LB_HTTPS)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "ValidationError",
                                        "load balancer %s: listener %s: protocol HTTPS is not "
                                        "supported by the aws driver (the certificate would go "
                                        "to ACM): use TCP or HTTP",
                                        lb, name);
        if (l->protocol != KUMO_DRIVER_LB_TCP && l->protocol != KUMO_DRIVER_LB_HTTP)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "ValidationError",
                                        "load balancer %s: listener %s: protocol %d: expected "
                                        "TCP or HTTP",
                                        lb, name, l->protocol);
        if (l->protocol != spec->listeners[0]->protocol)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "ValidationError",
                                        "load balancer %s: listener %s: an AWS load balancer is "
                                        "either network (all listeners TCP) or application "
                                        "(all HTTP)",
                                        lb, name);
    }
    return KUMO_DRIVER_OK;
}

static kumo_driver_code spec_check(const struct kumo_driver_load_balancer_spec *spec,
                                   struct kumo_driver_diag *diag)
{
    kumo_driver_code rc = listeners_check(spec, diag);
    size_t per[AWS_LB_MAX_LISTENERS] = {0};
    for (size_t i = 0; rc == KUMO_DRIVER_OK && i < spec->target_count; i++) {
        const struct kumo_driver_lb_target *t = spec->targets[i];
        const char *name = t->name ? t->name : "";
        int l = listener_index(spec, t->listener);
        const char *problem =
            l < 0                                   ? "listener: expected one of the listeners"
            : name[0] == '\0' || strlen(name) > 100 ? "name: expected 1 to 100 characters"
            : t->address == NULL || t->address[0] == '\0' || strlen(t->address) > 63
                ? "address: expected an IPv4 address"
            : t->port < 1 || t->port > 65535   ? "port: expected 1 to 65535"
            : t->weight < 0 || t->weight > 256 ? "weight: expected 0 to 256"
            : ++per[l] > AWS_LB_MAX_TARGETS    ? "too many targets for one listener"
                                               : NULL;
        if (problem)
            rc =
                kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "ValidationError",
                                     "load balancer %s: target \"%s\" (listener \"%s\"): %s",
                                     lb_label(spec), name, t->listener ? t->listener : "", problem);
    }
    return rc;
}

/* ---- The targets' instances ------------------------------------------------------------- */

/* Running (or pending) instances with the spec's target addresses, in vpc when given. */
static kumo_driver_code instances_read(struct kumo_driver_conn *c,
                                       const struct kumo_driver_load_balancer_spec *spec,
                                       const char *vpc, int64_t deadline_ns, struct aws_reply *r,
                                       struct kumo_driver_diag *diag)
{
    memset(r, 0, sizeof(*r));
    if (spec->target_count == 0)
        return KUMO_DRIVER_OK;
    struct aws_params p;
    aws_params_init(&p, "DescribeInstances");
    aws_params_add(&p, "Filter.1.Name", "private-ip-address");
    for (size_t i = 0; i < spec->target_count; i++) {
        char key[48];
        snprintf(key, sizeof(key), "Filter.1.Value.%zu", i + 1);
        aws_params_add(&p, key, spec->targets[i]->address);
    }
    aws_params_filter(&p, 2, "instance-state-name", "running");
    aws_params_add(&p, "Filter.2.Value.2", "pending");
    if (vpc && vpc[0])
        aws_params_filter(&p, 3, "vpc-id", vpc);
    kumo_driver_code rc =
        p.failed
            ? kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory")
            : aws_call(c, &p, "instances of the load balancer's targets", deadline_ns, r, diag);
    aws_params_fini(&p);
    return rc;
}

/* The instance (and its VPC) with address in r, or NULL. */
static xmlNodePtr instance_at(const struct aws_reply *r, const char *address)
{
    AWS_XML_ITEMS(res, r->root, "reservationSet")
    AWS_XML_ITEMS(it, res, "instancesSet")
    if (strcmp(aws_xml_text(it, "privateIpAddress"), address) == 0)
        return it;
    return NULL;
}

/* ---- Placement and the balancer --------------------------------------------------------- */

/* vpc: the VPC of the first target's instance, else the region's default VPC. */
static kumo_driver_code vpc_choose(struct kumo_driver_conn *c, const struct aws_reply *instances,
                                   int64_t deadline_ns, char *vpc, size_t size,
                                   struct kumo_driver_diag *diag)
{
    AWS_XML_ITEMS(res, instances->root, "reservationSet")
    AWS_XML_ITEMS(it, res, "instancesSet")
    if (aws_xml_text(it, "vpcId")[0]) {
        snprintf(vpc, size, "%s", aws_xml_text(it, "vpcId"));
        return KUMO_DRIVER_OK;
    }
    struct aws_reply r;
    kumo_driver_code rc = aws_describe_where(c, "DescribeVpcs", "isDefault", "true",
                                             "the default VPC", deadline_ns, &r, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    xmlNodePtr v = aws_xml_child(aws_xml_child(r.root, "vpcSet"), "item");
    snprintf(vpc, size, "%s", v ? aws_xml_text(v, "vpcId") : "");
    aws_reply_free(&r);
    return vpc[0] ? KUMO_DRIVER_OK
                  : kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "InvalidVpcID.NotFound",
                                         "no target is a running instance and region %s has no "
                                         "default VPC to put the load balancer in",
                                         c->region);
}

/* Subnets.member.N: one subnet per zone of vpc (the lowest id of each zone). */
static kumo_driver_code subnets_add(struct kumo_driver_conn *c, const char *vpc,
                                    int64_t deadline_ns, struct aws_params *create,
                                    struct kumo_driver_diag *diag)
{
    struct aws_reply r;
    kumo_driver_code rc =
        aws_describe_where(c, "DescribeSubnets", "vpc-id", vpc, "subnets for the load balancer",
                           deadline_ns, &r, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    int n = 0;
    AWS_XML_ITEMS(s, r.root, "subnetSet")
    {
        const char *zone = aws_xml_text(s, "availabilityZone"), *id = aws_xml_text(s, "subnetId");
        int best = 1;
        AWS_XML_ITEMS(o, r.root, "subnetSet")
        best &= strcmp(aws_xml_text(o, "availabilityZone"), zone) != 0 ||
                strcmp(aws_xml_text(o, "subnetId"), id) >= 0;
        if (best) {
            char key[40];
            snprintf(key, sizeof(key), "Subnets.member.%d", ++n);
            aws_params_add(create, key, id);
        }
    }
    aws_reply_free(&r);
    return n ? KUMO_DRIVER_OK
             : kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "InvalidSubnetID.NotFound",
                                    "VPC %s in %s has no subnet for the load balancer", vpc,
                                    c->region);
}

/* Tags.member.N of the token, the name and the spec's tags, from member n + 1 on. */
static void elb_tags_add(struct aws_params *p, int n, const char *token, const char *name,
                         const struct kumo_driver_tag *tags, size_t tag_count)
{
    char key[48];
    if (token) {
        snprintf(key, sizeof(key), "Tags.member.%d.Key", ++n);
        aws_params_add(p, key, KUMO_DRIVER_TOKEN_TAG);
        snprintf(key, sizeof(key), "Tags.member.%d.Value", n);
        aws_params_add(p, key, token);
    }
    if (name && name[0]) {
        snprintf(key, sizeof(key), "Tags.member.%d.Key", ++n);
        aws_params_add(p, key, "Name");
        snprintf(key, sizeof(key), "Tags.member.%d.Value", n);
        aws_params_add(p, key, name);
    }
    for (size_t i = 0; i < tag_count; i++) {
        if (strcmp(tags[i].key, KUMO_DRIVER_TOKEN_TAG) == 0 || strcmp(tags[i].key, "Name") == 0)
            continue;
        snprintf(key, sizeof(key), "Tags.member.%d.Key", ++n);
        aws_params_add(p, key, tags[i].key);
        snprintf(key, sizeof(key), "Tags.member.%d.Value", n);
        aws_params_add(p, key, tags[i].value);
    }
}

static kumo_driver_code lb_make(struct kumo_driver_conn *c,
                                const struct kumo_driver_load_balancer_spec *spec,
                                const char *token, int64_t deadline_ns,
                                struct kumo_driver_diag *diag)
{
    struct aws_reply instances;
    char vpc[64] = "", name[40];
    kumo_driver_code rc = instances_read(c, spec, NULL, deadline_ns, &instances, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = vpc_choose(c, &instances, deadline_ns, vpc, sizeof(vpc), diag);
    aws_reply_free(&instances);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    aws_lb_name(token, name);
    struct aws_params p;
    aws_params_init_elb(&p, "CreateLoadBalancer");
    aws_params_add(&p, "Name", name);
    aws_params_add(&p, "Type",
                   spec->listeners[0]->protocol == KUMO_DRIVER_LB_TCP ? "network" : "application");
    aws_params_add(&p, "Scheme", "internet-facing");
    elb_tags_add(&p, 0, token, spec->name, spec->tags, spec->tag_count);
    rc = subnets_add(c, vpc, deadline_ns, &p, diag);
    char what[160];
    snprintf(what, sizeof(what), "load balancer %s (%s), token %s", lb_label(spec), name, token);
    if (rc == KUMO_DRIVER_OK)
        return aws_call_plain(c, &p, what, deadline_ns, diag);
    aws_params_fini(&p);
    return rc;
}

/* ---- Converge --------------------------------------------------------------------------- */

/* One converge: the balancer as read, the spec, and the targets' instances in its VPC. */
struct converge {
    struct kumo_driver_conn *c;
    const struct aws_lb_seen *seen;
    const struct kumo_driver_load_balancer_spec *spec;
    const char *token, *arn, *vpc;
    struct aws_reply instances;
    uint32_t fields;
    int64_t deadline_ns;
    struct kumo_driver_diag *diag;
};

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* HealthCheck* of the spec's check, within what ELBv2 accepts. */
static void health_params(struct aws_params *p, const struct kumo_driver_lb_health_check *hc)
{
    int http = hc && hc->protocol == KUMO_DRIVER_LB_HTTP;
    aws_params_add(p, "HealthCheckProtocol", http ? "HTTP" : "TCP");
    if (http)
        aws_params_add(p, "HealthCheckPath", hc->path && hc->path[0] ? hc->path : "/");
    if (hc && hc->port > 0)
        aws_params_addf(p, "HealthCheckPort", "%d", hc->port);
    else
        aws_params_add(p, "HealthCheckPort", "traffic-port");
    int interval = clamp(hc && hc->interval_ms ? (hc->interval_ms + 999) / 1000 : 30, 5, 300);
    aws_params_addf(p, "HealthCheckIntervalSeconds", "%d", interval);
    aws_params_addf(
        p, "HealthCheckTimeoutSeconds", "%d",
        clamp(hc && hc->timeout_ms ? (hc->timeout_ms + 999) / 1000 : 5, 2, interval - 1));
    aws_params_addf(p, "HealthyThresholdCount", "%d",
                    clamp(hc && hc->healthy_threshold ? hc->healthy_threshold : 3, 2, 10));
    aws_params_addf(p, "UnhealthyThresholdCount", "%d",
                    clamp(hc && hc->unhealthy_threshold ? hc->unhealthy_threshold : 3, 2, 10));
}

static const char *protocol_word(int32_t protocol)
{
    return protocol == KUMO_DRIVER_LB_HTTP ? "HTTP" : "TCP";
}

/* The seen member of list `set` whose field equals value, or NULL. */
static xmlNodePtr member_with(const struct aws_reply *r, const char *set, const char *field,
                              const char *value)
{
    AWS_XML_MEMBERS(m, r->root, set)
    if (strcmp(aws_xml_text(m, field), value) == 0)
        return m;
    return NULL;
}

/* The target group of listener l: found by name (attached or left by a crash) or made. */
static kumo_driver_code group_ensure(struct converge *cv, const struct kumo_driver_lb_listener *l,
                                     char *arn, size_t size, int *made)
{
    char name[40];
    aws_lb_group_name(cv->seen->name, l->name, name);
    xmlNodePtr g = member_with(&cv->seen->groups, "TargetGroups", "TargetGroupName", name);
    *made = 0;
    if (g) {
        snprintf(arn, size, "%s", aws_xml_text(g, "TargetGroupArn"));
        return KUMO_DRIVER_OK;
    }
    struct aws_params p;
    struct aws_reply r;
    aws_params_init_elb(&p, "DescribeTargetGroups");
    aws_params_add(&p, "Names.member.1", name);
    kumo_driver_code rc = aws_call(cv->c, &p, name, cv->deadline_ns, &r, cv->diag);
    aws_params_fini(&p);
    if (rc == KUMO_DRIVER_NOT_FOUND) {
        aws_params_init_elb(&p, "CreateTargetGroup");
        aws_params_add(&p, "Name", name);
        aws_params_add(&p, "Protocol", protocol_word(l->protocol));
        aws_params_addf(&p, "Port", "%d", l->port);
        aws_params_add(&p, "VpcId", cv->vpc);
        aws_params_add(&p, "TargetType", "instance");
        health_params(&p, cv->spec->health_check);
        elb_tags_add(&p, 0, cv->token, NULL,
                     (struct kumo_driver_tag[]){{AWS_LB_LISTENER_TAG, l->name}}, 1);
        rc = aws_call(cv->c, &p, name, cv->deadline_ns, &r, cv->diag);
        aws_params_fini(&p);
        *made = 1;
    }
    if (rc != KUMO_DRIVER_OK)
        return rc;
    xmlNodePtr got = aws_xml_child(aws_xml_find(r.root, "TargetGroups"), "member");
    snprintf(arn, size, "%s", got ? aws_xml_text(got, "TargetGroupArn") : "");
    aws_reply_free(&r);
    return arn[0] ? KUMO_DRIVER_OK
                  : kumo_driver_kit_fail(cv->diag, KUMO_DRIVER_INTERNAL, "MalformedReply",
                                         "ELBv2 in %s: target group %s: the reply names no ARN",
                                         cv->c->region, name);
}

/* The listener on l's port, forwarding to group_arn with l's protocol. */
static kumo_driver_code
listener_ensure(struct converge *cv, const struct kumo_driver_lb_listener *l, const char *group_arn)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", l->port);
    xmlNodePtr have = member_with(&cv->seen->listeners, "Listeners", "Port", port);
    xmlNodePtr action = aws_xml_child(aws_xml_child(have, "DefaultActions"), "member");
    if (have && strcmp(aws_xml_text(have, "Protocol"), protocol_word(l->protocol)) == 0 &&
        strcmp(aws_xml_text(action, "TargetGroupArn"), group_arn) == 0)
        return KUMO_DRIVER_OK;
    struct aws_params p;
    aws_params_init_elb(&p, have ? "ModifyListener" : "CreateListener");
    if (have)
        aws_params_add(&p, "ListenerArn", aws_xml_text(have, "ListenerArn"));
    else
        aws_params_add(&p, "LoadBalancerArn", cv->arn);
    aws_params_add(&p, "Protocol", protocol_word(l->protocol));
    aws_params_add(&p, "Port", port);
    aws_params_add(&p, "DefaultActions.member.1.Type", "forward");
    aws_params_add(&p, "DefaultActions.member.1.TargetGroupArn", group_arn);
    char what[96];
    snprintf(what, sizeof(what), "listener %s (port %d)", l->name, l->port);
    return aws_call_plain(cv->c, &p, what, cv->deadline_ns, cv->diag);
}

/* The health reply of the seen group group_arn, or NULL (a group made just now). */
static const struct aws_reply *group_health(const struct aws_lb_seen *seen, const char *group_arn)
{
    size_t i = 0;
    AWS_XML_MEMBERS(g, seen->groups.root, "TargetGroups")
    {
        if (strcmp(aws_xml_text(g, "TargetGroupArn"), group_arn) == 0)
            return &seen->health[i];
        i++;
    }
    return NULL;
}

/* The instance a spec target of l is registered as ("-" when it has none); 1 when it should
 * take traffic. */
static int target_instance(const struct converge *cv, const struct kumo_driver_lb_target *t,
                           char *iid, size_t size)
{
    xmlNodePtr it = instance_at(&cv->instances, t->address);
    snprintf(iid, size, "%s", it ? aws_xml_text(it, "instanceId") : "-");
    return it != NULL && !t->draining && t->weight > 0;
}

/* 1 when the spec wants instance id on port registered in listener l. */
static int wanted(const struct converge *cv, const char *listener, const char *id, int port)
{
    for (size_t i = 0; i < cv->spec->target_count; i++) {
        const struct kumo_driver_lb_target *t = cv->spec->targets[i];
        char iid[32];
        if (strcmp(t->listener, listener) == 0 && t->port == port &&
            target_instance(cv, t, iid, sizeof(iid)) && strcmp(iid, id) == 0)
            return 1;
    }
    return 0;
}

/* RegisterTargets and DeregisterTargets so the group holds exactly the wanted instances. */
static kumo_driver_code targets_sync(struct converge *cv, const char *listener,
                                     const char *group_arn)
{
    const struct aws_reply *health = group_health(cv->seen, group_arn);
    struct aws_params reg, dereg;
    aws_params_init_elb(&reg, "RegisterTargets");
    aws_params_init_elb(&dereg, "DeregisterTargets");
    aws_params_add(&reg, "TargetGroupArn", group_arn);
    aws_params_add(&dereg, "TargetGroupArn", group_arn);
    int nr = 0, nd = 0;
    char key[48];
    for (size_t i = 0; i < cv->spec->target_count; i++) {
        const struct kumo_driver_lb_target *t = cv->spec->targets[i];
        char iid[32];
        if (strcmp(t->listener, listener) != 0 || !target_instance(cv, t, iid, sizeof(iid)))
            continue;
        int registered = 0;
        AWS_XML_MEMBERS(h, health ? health->root : NULL, "TargetHealthDescriptions")
        registered |=
            strcmp(aws_xml_text(aws_xml_child(h, "Target"), "Id"), iid) == 0 &&
            atoi(aws_xml_text(aws_xml_child(h, "Target"), "Port")) == t->port &&
            strcmp(aws_xml_text(aws_xml_child(h, "TargetHealth"), "State"), "draining") != 0;
        if (registered)
            continue;
        snprintf(key, sizeof(key), "Targets.member.%d.Id", ++nr);
        aws_params_add(&reg, key, iid);
        snprintf(key, sizeof(key), "Targets.member.%d.Port", nr);
        aws_params_addf(&reg, key, "%d", t->port);
    }
    AWS_XML_MEMBERS(h, health ? health->root : NULL, "TargetHealthDescriptions")
    {
        xmlNodePtr target = aws_xml_child(h, "Target");
        const char *id = aws_xml_text(target, "Id");
        int port = atoi(aws_xml_text(target, "Port"));
        if (strcmp(aws_xml_text(aws_xml_child(h, "TargetHealth"), "State"), "draining") == 0 ||
            wanted(cv, listener, id, port))
            continue;
        snprintf(key, sizeof(key), "Targets.member.%d.Id", ++nd);
        aws_params_add(&dereg, key, id);
        snprintf(key, sizeof(key), "Targets.member.%d.Port", nd);
        aws_params_addf(&dereg, key, "%d", port);
    }
    kumo_driver_code rc = KUMO_DRIVER_OK;
    if (nr)
        rc = aws_call_plain(cv->c, &reg, listener, cv->deadline_ns, cv->diag);
    else
        aws_params_fini(&reg);
    if (nd && rc == KUMO_DRIVER_OK)
        rc = aws_call_plain(cv->c, &dereg, listener, cv->deadline_ns, cv->diag);
    else
        aws_params_fini(&dereg);
    return rc;
}

/* The group's tags: its listener and one record per target of the listener (AddTags), and no
 * record of a target the spec lost (RemoveTags). */
static kumo_driver_code records_sync(struct converge *cv, const char *listener,
                                     const char *group_arn)
{
    struct aws_params add, rm;
    aws_params_init_elb(&add, "AddTags");
    aws_params_init_elb(&rm, "RemoveTags");
    aws_params_add(&add, "ResourceArns.member.1", group_arn);
    aws_params_add(&rm, "ResourceArns.member.1", group_arn);
    char key[160], value[200];
    int n = 0, nr = 0;
    elb_tags_add(&add, 0, cv->token, NULL,
                 (struct kumo_driver_tag[]){{AWS_LB_LISTENER_TAG, listener}}, 1);
    n = 2;
    for (size_t i = 0; i < cv->spec->target_count; i++) {
        const struct kumo_driver_lb_target *t = cv->spec->targets[i];
        char iid[32];
        if (strcmp(t->listener, listener) != 0)
            continue;
        target_instance(cv, t, iid, sizeof(iid));
        snprintf(key, sizeof(key), "Tags.member.%d.Key", ++n);
        char tag[128];
        snprintf(tag, sizeof(tag), AWS_LB_TARGET_TAG "%s", t->name);
        aws_params_add(&add, key, tag);
        snprintf(key, sizeof(key), "Tags.member.%d.Value", n);
        snprintf(value, sizeof(value), "%s %d %s %d %d %d", t->address, t->port, iid, t->weight,
                 t->backup ? 1 : 0, t->draining ? 1 : 0);
        aws_params_add(&add, key, value);
    }
    size_t prefix = strlen(AWS_LB_TARGET_TAG);
    AWS_XML_MEMBERS(d, cv->seen->tags.root, "TagDescriptions")
    if (strcmp(aws_xml_text(d, "ResourceArn"), group_arn) == 0)
        AWS_XML_MEMBERS(tag, d, "Tags")
        {
            const char *k = aws_xml_text(tag, "Key");
            int keep = strncmp(k, AWS_LB_TARGET_TAG, prefix) != 0;
            for (size_t i = 0; !keep && i < cv->spec->target_count; i++)
                keep = strcmp(cv->spec->targets[i]->listener, listener) == 0 &&
                       strcmp(cv->spec->targets[i]->name, k + prefix) == 0;
            if (keep)
                continue;
            snprintf(key, sizeof(key), "TagKeys.member.%d", ++nr);
            aws_params_add(&rm, key, k);
        }
    kumo_driver_code rc = aws_call_plain(cv->c, &add, listener, cv->deadline_ns, cv->diag);
    if (nr && rc == KUMO_DRIVER_OK)
        rc = aws_call_plain(cv->c, &rm, listener, cv->deadline_ns, cv->diag);
    else
        aws_params_fini(&rm);
    return rc;
}

/* ModifyTargetGroup: the spec's health check on an existing group. */
static kumo_driver_code health_set(struct converge *cv, const char *group_arn)
{
    struct aws_params p;
    aws_params_init_elb(&p, "ModifyTargetGroup");
    aws_params_add(&p, "TargetGroupArn", group_arn);
    health_params(&p, cv->spec->health_check);
    return aws_call_plain(cv->c, &p, "health check", cv->deadline_ns, cv->diag);
}

static kumo_driver_code listener_converge(struct converge *cv,
                                          const struct kumo_driver_lb_listener *l)
{
    char group[256];
    int made = 0;
    kumo_driver_code rc = group_ensure(cv, l, group, sizeof(group), &made);
    if (rc == KUMO_DRIVER_OK)
        rc = listener_ensure(cv, l, group);
    if (rc == KUMO_DRIVER_OK && !made && (cv->fields & KUMO_DRIVER_LOAD_BALANCER_SET_CONFIG))
        rc = health_set(cv, group);
    if (rc == KUMO_DRIVER_OK && (made || (cv->fields & KUMO_DRIVER_LOAD_BALANCER_SET_TARGETS)))
        rc = targets_sync(cv, l->name, group);
    if (rc == KUMO_DRIVER_OK && (made || (cv->fields & KUMO_DRIVER_LOAD_BALANCER_SET_TARGETS)))
        rc = records_sync(cv, l->name, group);
    return rc;
}

/* Deletes the listeners on ports the spec lost, then the groups no listener of it uses. */
static kumo_driver_code obsolete_delete(struct converge *cv)
{
    kumo_driver_code rc = KUMO_DRIVER_OK;
    AWS_XML_MEMBERS(l, cv->seen->listeners.root, "Listeners")
    {
        int port = atoi(aws_xml_text(l, "Port")), keep = 0;
        for (size_t i = 0; i < cv->spec->listener_count; i++)
            keep |= cv->spec->listeners[i]->port == port;
        if (keep || rc != KUMO_DRIVER_OK)
            continue;
        rc = aws_call_one(cv->c, 1, "DeleteListener", "ListenerArn", aws_xml_text(l, "ListenerArn"),
                          "a listener the spec lost", cv->deadline_ns, cv->diag);
    }
    AWS_XML_MEMBERS(g, cv->seen->groups.root, "TargetGroups")
    {
        const char *name = aws_xml_text(g, "TargetGroupName");
        int keep = 0;
        for (size_t i = 0; i < cv->spec->listener_count; i++) {
            char want[40];
            aws_lb_group_name(cv->seen->name, cv->spec->listeners[i]->name, want);
            keep |= strcmp(want, name) == 0;
        }
        if (keep || rc != KUMO_DRIVER_OK)
            continue;
        rc = aws_call_one(cv->c, 1, "DeleteTargetGroup", "TargetGroupArn",
                          aws_xml_text(g, "TargetGroupArn"), name, cv->deadline_ns, cv->diag);
    }
    return rc;
}

/* The balancer's tags: the name and the spec's tags (AddTags), no other but the token. */
static kumo_driver_code lb_tags_sync(struct converge *cv)
{
    struct aws_params add, rm;
    aws_params_init_elb(&add, "AddTags");
    aws_params_init_elb(&rm, "RemoveTags");
    aws_params_add(&add, "ResourceArns.member.1", cv->arn);
    aws_params_add(&rm, "ResourceArns.member.1", cv->arn);
    elb_tags_add(&add, 0, cv->token, cv->spec->name, cv->spec->tags, cv->spec->tag_count);
    int nr = 0;
    AWS_XML_MEMBERS(d, cv->seen->tags.root, "TagDescriptions")
    if (strcmp(aws_xml_text(d, "ResourceArn"), cv->arn) == 0)
        AWS_XML_MEMBERS(tag, d, "Tags")
        {
            const char *k = aws_xml_text(tag, "Key");
            int keep = strcmp(k, KUMO_DRIVER_TOKEN_TAG) == 0 ||
                       (strcmp(k, "Name") == 0 && cv->spec->name && cv->spec->name[0]);
            for (size_t i = 0; !keep && i < cv->spec->tag_count; i++)
                keep = strcmp(cv->spec->tags[i].key, k) == 0;
            if (keep)
                continue;
            char key[40];
            snprintf(key, sizeof(key), "TagKeys.member.%d", ++nr);
            aws_params_add(&rm, key, k);
        }
    kumo_driver_code rc =
        aws_call_plain(cv->c, &add, "load balancer tags", cv->deadline_ns, cv->diag);
    if (nr && rc == KUMO_DRIVER_OK)
        rc = aws_call_plain(cv->c, &rm, "load balancer tags", cv->deadline_ns, cv->diag);
    else
        aws_params_fini(&rm);
    return rc;
}

static kumo_driver_code converge(struct kumo_driver_conn *c, const struct aws_lb_seen *seen,
                                 const struct kumo_driver_load_balancer_spec *spec, uint32_t fields,
                                 int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    const char *arn = aws_xml_text(seen->node, "LoadBalancerArn");
    struct converge cv = {c,           seen,
                          spec,        aws_lb_tag(&seen->tags, arn, KUMO_DRIVER_TOKEN_TAG),
                          arn,         aws_xml_text(seen->node, "VpcId"),
                          {0},         fields,
                          deadline_ns, diag};
    kumo_driver_code rc = instances_read(c, spec, cv.vpc, deadline_ns, &cv.instances, diag);
    for (size_t i = 0; rc == KUMO_DRIVER_OK && i < spec->listener_count; i++)
        rc = listener_converge(&cv, spec->listeners[i]);
    if (rc == KUMO_DRIVER_OK)
        rc = obsolete_delete(&cv);
    if (rc == KUMO_DRIVER_OK && (fields & KUMO_DRIVER_LOAD_BALANCER_SET_TAGS))
        rc = lb_tags_sync(&cv);
    aws_reply_free(&cv.instances);
    return rc;
}

/* Reads ref, converges fields of spec, and reads it again into *out. */
static kumo_driver_code apply(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                              const struct kumo_driver_load_balancer_spec *spec, uint32_t fields,
                              int64_t deadline_ns, struct kumo_driver_load_balancer **out,
                              struct kumo_driver_diag *diag)
{
    struct aws_lb_seen seen;
    kumo_driver_code rc = aws_lb_read(c, ref, deadline_ns, &seen, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    rc = converge(c, &seen, spec, fields, deadline_ns, diag);
    aws_lb_seen_fini(&seen);
    if (rc == KUMO_DRIVER_OK)
        rc = aws_load_balancer_observe(c, ref, deadline_ns, out, diag);
    return rc;
}

kumo_driver_code aws_load_balancer_create(struct kumo_driver_conn *c,
                                          const struct kumo_driver_load_balancer_spec *spec,
                                          const char *token, int64_t deadline_ns,
                                          struct kumo_driver_load_balancer **out,
                                          struct kumo_driver_diag *diag)
{
    *out = NULL;
    if (token == NULL || token[0] == '\0' || strlen(token) > 128)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "ValidationError",
                                    "load balancer %s: the token must have 1 to 128 characters",
                                    lb_label(spec));
    kumo_driver_code rc = spec_check(spec, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct kumo_driver_ref ref = {NULL, token};
    struct aws_lb_seen seen;
    rc = aws_lb_read(c, &ref, deadline_ns, &seen, diag);
    if (rc == KUMO_DRIVER_OK)
        aws_lb_seen_fini(&seen); /* made before (a retry): converge what a crash left out */
    else if (rc == KUMO_DRIVER_NOT_FOUND)
        rc = lb_make(c, spec, token, deadline_ns, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    return apply(c, &ref, spec,
                 KUMO_DRIVER_LOAD_BALANCER_SET_TARGETS | KUMO_DRIVER_LOAD_BALANCER_SET_CONFIG,
                 deadline_ns, out, diag);
}

kumo_driver_code
aws_load_balancer_update(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                         const struct kumo_driver_load_balancer_update *update, int64_t deadline_ns,
                         struct kumo_driver_load_balancer **out, struct kumo_driver_diag *diag)
{
    *out = NULL;
    if (update == NULL || update->spec == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "ValidationError",
                                    "load balancer update: the desired spec is missing");
    kumo_driver_code rc = spec_check(update->spec, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    return apply(c, ref, update->spec, update->fields, deadline_ns, out, diag);
}
