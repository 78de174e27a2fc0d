/*
 * group.c - SecurityGroups are EC2 security groups; KeyPairs are imported
 * EC2 key pairs.
 *
 *   security group create  DescribeSecurityGroups by the token tag first; else
 *                          CreateSecurityGroup with the token tag; then the
 *                          rules are synced (Authorize/Revoke Ingress/Egress
 *                          for the difference), also when the group was found,
 *                          so a crash between the calls is repaired. A spec
 *                          with outbound rules replaces AWS's default
 *                          allow-all egress rule; one without keeps it;
 *   security group delete  refused (CONFLICT) while live instances use it;
 *   key pair create        DescribeKeyPairs by the token tag first; else
 *                          ImportKeyPair with the token tag.
 */
#include "drivers/aws/internal.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* ---- Rules ----------------------------------------------------------------------------------- */

static const char *protocol_word(int protocol)
{
    switch (protocol) {
    case KUMO_DRIVER_TCP:
        return "tcp";
    case KUMO_DRIVER_UDP:
        return "udp";
    case KUMO_DRIVER_ICMP:
        return "icmp";
    default:
        return "-1";
    }
}

static int protocol_of(const char *word)
{
    if (strcmp(word, "tcp") == 0 || strcmp(word, "6") == 0)
        return KUMO_DRIVER_TCP;
    if (strcmp(word, "udp") == 0 || strcmp(word, "17") == 0)
        return KUMO_DRIVER_UDP;
    if (strcmp(word, "icmp") == 0 || strcmp(word, "1") == 0)
        return KUMO_DRIVER_ICMP;
    return KUMO_DRIVER_ALL_PROTOCOLS;
}

/* A rule as both sides compare it (ports are -1 for ICMP and all protocols). */
struct rule {
    int direction, protocol, from, to;
    const char *cidr;
    const char *description;
};

static struct rule rule_of_spec(const struct kumo_driver_rule *r)
{
    int ports = r->protocol == KUMO_DRIVER_TCP || r->protocol == KUMO_DRIVER_UDP;
    return (struct rule){r->direction,
                         r->protocol,
                         ports ? r->from_port : -1,
                         ports ? r->to_port : -1,
                         r->cidr ? r->cidr : "0.0.0.0/0",
                         r->description ? r->description : ""};
}

static int rule_same(const struct rule *a, const struct rule *b)
{
    return a->direction == b->direction && a->protocol == b->protocol && a->from == b->from &&
           a->to == b->to && strcmp(a->cidr, b->cidr) == 0;
}

/* The rules of a securityGroupInfo item, both directions (malloc'd; strings borrowed). */
static size_t rules_read(xmlNodePtr group, struct rule **out)
{
    static const char *const sets[2] = {"ipPermissions", "ipPermissionsEgress"};
    size_t n = 0;
    struct rule *rules = NULL;
    for (int d = 0; d < 2; d++)
        AWS_XML_ITEMS(perm, group, sets[d])
        {
            int protocol = protocol_of(aws_xml_text(perm, "ipProtocol"));
            int ports = protocol == KUMO_DRIVER_TCP || protocol == KUMO_DRIVER_UDP;
            const char *from = aws_xml_text(perm, "fromPort"), *to = aws_xml_text(perm, "toPort");
            AWS_XML_ITEMS(range, perm, "ipRanges")
            {
                struct rule *grown = realloc(rules, (n + 1) * sizeof(*grown));
                if (grown == NULL)
                    break;
                rules = grown;
                rules[n++] = (struct rule){d == 0 ? KUMO_DRIVER_INBOUND : KUMO_DRIVER_OUTBOUND,
                                           protocol,
                                           ports && from[0] ? (int)strtol(from, NULL, 10) : -1,
                                           ports && to[0] ? (int)strtol(to, NULL, 10) : -1,
                                           aws_xml_text(range, "cidrIp"),
                                           aws_xml_text(range, "description")};
            }
        }
    *out = rules;
    return n;
}

/* One Authorize or Revoke call for rule r on group id. */
static kumo_driver_code rule_call(struct kumo_driver_conn *c, const char *id, const struct rule *r,
                                  int authorize, int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    struct aws_params p;
    int in = r->direction == KUMO_DRIVER_INBOUND;
    aws_params_init(
        &p, authorize ? (in ? "AuthorizeSecurityGroupIngress" : "AuthorizeSecurityGroupEgress")
                      : (in ? "RevokeSecurityGroupIngress" : "RevokeSecurityGroupEgress"));
    aws_params_add(&p, "GroupId", id);
    aws_params_add(&p, "IpPermissions.1.IpProtocol", protocol_word(r->protocol));
    if (r->from >= 0) {
        aws_params_addf(&p, "IpPermissions.1.FromPort", "%d", r->from);
        aws_params_addf(&p, "IpPermissions.1.ToPort", "%d", r->to);
    }
    aws_params_add(&p, "IpPermissions.1.IpRanges.1.CidrIp", r->cidr);
    if (authorize && r->description[0])
        aws_params_add(&p, "IpPermissions.1.IpRanges.1.Description", r->description);
    char what[160];
    snprintf(what, sizeof(what), "security group %s rule %s %s %d-%d", id,
             protocol_word(r->protocol), r->cidr, r->from, r->to);
    struct aws_reply reply;
    kumo_driver_code rc =
        p.failed ? KUMO_DRIVER_NOMEM : aws_call(c, &p, what, deadline_ns, &reply, diag);
    aws_params_fini(&p);
    if (rc == KUMO_DRIVER_OK)
        aws_reply_free(&reply);
    /* Already there (authorize) or already gone (revoke): the wanted state. */
    if ((authorize && rc == KUMO_DRIVER_ALREADY_EXISTS) ||
        (!authorize && rc == KUMO_DRIVER_NOT_FOUND))
        rc = KUMO_DRIVER_OK;
    return rc;
}

/* Makes group's rules equal to want (AWS's default egress kept when want has no outbound rule). */
static kumo_driver_code rules_sync(struct kumo_driver_conn *c, xmlNodePtr group,
                                   const struct kumo_driver_rule *want, size_t want_count,
                                   int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    const char *id = aws_xml_text(group, "groupId");
    struct rule *have = NULL;
    size_t n = rules_read(group, &have);
    int outbound = 0;
    for (size_t i = 0; i < want_count; i++)
        outbound |= want[i].direction == KUMO_DRIVER_OUTBOUND;
    kumo_driver_code rc = KUMO_DRIVER_OK;
    for (size_t i = 0; rc == KUMO_DRIVER_OK && i < want_count; i++) {
        struct rule w = rule_of_spec(&want[i]);
        int found = 0;
        for (size_t j = 0; !found && j < n; j++)
            found = rule_same(&w, &have[j]);
        if (!found)
            rc = rule_call(c, id, &w, 1, deadline_ns, diag);
    }
    for (size_t j = 0; rc == KUMO_DRIVER_OK && j < n; j++) {
        int found = !outbound && have[j].direction == KUMO_DRIVER_OUTBOUND &&
                    have[j].protocol == KUMO_DRIVER_ALL_PROTOCOLS &&
                    strcmp(have[j].cidr, "0.0.0.0/0") == 0;
        for (size_t i = 0; !found && i < want_count; i++) {
            struct rule w = rule_of_spec(&want[i]);
            found = rule_same(&w, &have[j]);
        }
        if (!found)
            rc = rule_call(c, id, &have[j], 0, deadline_ns, diag);
    }
    free(have);
    return rc;
}

/* ---- Security groups ------------------------------------------------------------------------- */

static void pack_group(struct kumo_driver_kit_pack *p, struct kumo_driver_conn *c, xmlNodePtr g,
                       const void **slot);

static const struct aws_kind group_kind = {"security group",
                                           "DescribeSecurityGroups",
                                           "GroupId.1",
                                           NULL,
                                           "securityGroupInfo",
                                           "groupId",
                                           "InvalidGroup.NotFound",
                                           NULL,
                                           NULL,
                                           pack_group,
                                           NULL};

static kumo_driver_code group_find(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                   int64_t deadline_ns, struct aws_reply *r, xmlNodePtr *group,
                                   struct kumo_driver_diag *diag)
{
    return aws_describe_one(c, &group_kind, ref, deadline_ns, r, group, diag);
}

static void pack_group(struct kumo_driver_kit_pack *p, struct kumo_driver_conn *c, xmlNodePtr g,
                       const void **slot)
{
    struct kumo_driver_security_group *out =
        kumo_driver_kit_pack_take(p, sizeof(*out), alignof(struct kumo_driver_security_group));
    struct rule *rules = NULL;
    size_t n = rules_read(g, &rules);
    struct kumo_driver_rule *packed =
        kumo_driver_kit_pack_take(p, (n + 1) * sizeof(*packed), alignof(struct kumo_driver_rule));
    for (size_t i = 0; i < n; i++) {
        struct kumo_driver_rule r = {rules[i].direction,
                                     rules[i].protocol,
                                     rules[i].from < 0 ? 0 : rules[i].from,
                                     rules[i].to < 0 ? 0 : rules[i].to,
                                     kumo_driver_kit_pack_str(p, rules[i].cidr),
                                     kumo_driver_kit_pack_str(p, rules[i].description)};
        if (packed)
            packed[i] = r;
    }
    free(rules);
    struct aws_tags t;
    aws_tags_read(g, &t);
    struct kumo_driver_security_group v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = kumo_driver_kit_pack_str(p, aws_xml_text(g, "groupId"));
    v.token = kumo_driver_kit_pack_str(p, t.token);
    v.name = kumo_driver_kit_pack_str(p, aws_xml_text(g, "groupName"));
    v.region = kumo_driver_kit_pack_str(p, c->region);
    v.network_id = kumo_driver_kit_pack_str(p, aws_xml_text(g, "vpcId"));
    v.rules = packed;
    v.rule_count = n;
    v.tags = aws_tags_pack(p, &t, &v.tag_count);
    aws_tags_fini(&t);
    if (out != NULL) {
        *out = v;
        if (slot)
            *slot = out;
    }
}

static kumo_driver_code group_out(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                  int64_t deadline_ns, struct kumo_driver_security_group **out,
                                  struct kumo_driver_diag *diag)
{
    return aws_kind_out(c, &group_kind, ref, deadline_ns, (void **)out, diag);
}

kumo_driver_code aws_security_group_observe(struct kumo_driver_conn *c,
                                            const struct kumo_driver_ref *ref, int64_t deadline_ns,
                                            struct kumo_driver_security_group **out,
                                            struct kumo_driver_diag *diag)
{
    *out = NULL;
    return group_out(c, ref, deadline_ns, out, diag);
}

kumo_driver_code aws_security_group_create(struct kumo_driver_conn *c,
                                           const struct kumo_driver_security_group_spec *spec,
                                           const char *token, int64_t deadline_ns,
                                           struct kumo_driver_security_group **out,
                                           struct kumo_driver_diag *diag)
{
    *out = NULL;
    if (token == NULL || token[0] == '\0')
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "security group %s: a token is required",
                                    spec->name ? spec->name : "");
    struct kumo_driver_ref ref = {NULL, token};
    struct aws_reply r;
    xmlNodePtr g;
    kumo_driver_code rc = group_find(c, &ref, deadline_ns, &r, &g, diag);
    if (rc == KUMO_DRIVER_NOT_FOUND) {
        struct aws_params p;
        const char *name = spec->name && spec->name[0] ? spec->name : token;
        aws_params_init(&p, "CreateSecurityGroup");
        aws_params_add(&p, "GroupName", name);
        aws_params_addf(&p, "GroupDescription", "kumo security group %s", name);
        if (spec->network_id && spec->network_id[0])
            aws_params_add(&p, "VpcId", spec->network_id);
        aws_params_tag_spec(&p, "security-group", token, NULL, spec->tags, spec->tag_count);
        char what[160];
        snprintf(what, sizeof(what), "security group %s, token %s", name, token);
        rc = p.failed ? KUMO_DRIVER_NOMEM : aws_call(c, &p, what, deadline_ns, &r, diag);
        aws_params_fini(&p);
        if (rc != KUMO_DRIVER_OK)
            return rc;
        aws_reply_free(&r);
        rc = group_find(c, &ref, deadline_ns, &r, &g, diag);
    }
    if (rc != KUMO_DRIVER_OK)
        return rc;
    char id[64];
    snprintf(id, sizeof(id), "%s", aws_xml_text(g, "groupId"));
    rc = rules_sync(c, g, spec->rules, spec->rule_count, deadline_ns, diag);
    aws_reply_free(&r);
    struct kumo_driver_ref by_id = {id, NULL};
    return rc == KUMO_DRIVER_OK ? group_out(c, &by_id, deadline_ns, out, diag) : rc;
}

kumo_driver_code
aws_security_group_update(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                          const struct kumo_driver_security_group_update *u, int64_t deadline_ns,
                          struct kumo_driver_security_group **out, struct kumo_driver_diag *diag)
{
    *out = NULL;
    struct aws_reply r;
    xmlNodePtr g;
    kumo_driver_code rc = group_find(c, ref, deadline_ns, &r, &g, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    char id[64];
    snprintf(id, sizeof(id), "%s", aws_xml_text(g, "groupId"));
    if (u->fields & KUMO_DRIVER_SECURITY_GROUP_SET_RULES)
        rc = rules_sync(c, g, u->rules, u->rule_count, deadline_ns, diag);
    if (rc == KUMO_DRIVER_OK && (u->fields & KUMO_DRIVER_SECURITY_GROUP_SET_TAGS))
        rc = aws_tags_replace(c, id, g, u->tags, u->tag_count, deadline_ns, diag);
    aws_reply_free(&r);
    struct kumo_driver_ref by_id = {id, NULL};
    return rc == KUMO_DRIVER_OK ? group_out(c, &by_id, deadline_ns, out, diag) : rc;
}

kumo_driver_code aws_security_group_delete(struct kumo_driver_conn *c,
                                           const struct kumo_driver_ref *ref, int64_t deadline_ns,
                                           struct kumo_driver_diag *diag)
{
    struct aws_reply r;
    xmlNodePtr g;
    kumo_driver_code rc = group_find(c, ref, deadline_ns, &r, &g, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    char id[64];
    snprintf(id, sizeof(id), "%s", aws_xml_text(g, "groupId"));
    aws_reply_free(&r);
    struct aws_params p;
    aws_params_init(&p, "DescribeInstances");
    aws_params_filter(&p, 1, "instance.group-id", id);
    aws_params_live_filter(&p, 2);
    rc = aws_call(c, &p, id, deadline_ns, &r, diag);
    aws_params_fini(&p);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    xmlNodePtr used = aws_xml_find(aws_xml_child(r.root, "reservationSet"), "instanceId");
    if (used != NULL)
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_CONFLICT, "DependencyViolation",
                                  "security group %s in %s is still used by machine %s", id,
                                  c->region, aws_xml_text(used, NULL));
    aws_reply_free(&r);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    return aws_call_one(c, 0, "DeleteSecurityGroup", "GroupId", id, id, deadline_ns, diag);
}

kumo_driver_code aws_security_group_list(struct kumo_driver_conn *c,
                                         const struct kumo_driver_filter *filter,
                                         int64_t deadline_ns,
                                         struct kumo_driver_security_group_list **out,
                                         struct kumo_driver_diag *diag)
{
    return aws_kind_list(c, &group_kind, filter, deadline_ns, (void **)out, diag);
}
