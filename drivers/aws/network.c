/*
 * network.c - Networks are VPCs with their subnets.
 *
 *   create   DescribeVpcs by the token tag first; else CreateVpc with the
 *            token tag, then CreateSubnet for every subnet the spec names
 *            that the VPC lacks (matched by CIDR; a spec without subnets gets
 *            one subnet spanning the VPC, so machines have somewhere to go).
 *            Subnets carry the network's token too, so a crash between the
 *            calls is repaired by the retried create;
 *   update   adds missing subnets and deletes unlisted ones; tags;
 *   delete   refused (CONFLICT, DependencyViolation) while live instances or
 *            security groups other than "default" are in the VPC; else the
 *            subnets, then the VPC.
 * Shared helpers for every resource type (tag replacement, refs) live here too.
 */
#include "drivers/aws/internal.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

kumo_driver_code aws_ref_check(const struct kumo_driver_ref *ref, const char *what,
                               struct kumo_driver_diag *diag)
{
    if (ref == NULL || ((ref->provider_id == NULL || ref->provider_id[0] == '\0') &&
                        (ref->token == NULL || ref->token[0] == '\0')))
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "%s: the reference names neither a provider id nor a token",
                                    what);
    return KUMO_DRIVER_OK;
}

kumo_driver_code aws_tags_replace(struct kumo_driver_conn *c, const char *id, xmlNodePtr current,
                                  const struct kumo_driver_tag *tags, size_t tag_count,
                                  int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    struct aws_params p;
    int n = 0;
    aws_params_init(&p, "DeleteTags");
    aws_params_add(&p, "ResourceId.1", id);
    AWS_XML_ITEMS(it, current, "tagSet")
    {
        const char *k = aws_xml_text(it, "key");
        int keep = strcmp(k, KUMO_DRIVER_TOKEN_TAG) == 0;
        for (size_t i = 0; !keep && i < tag_count; i++)
            keep = strcmp(tags[i].key, k) == 0;
        if (!keep) {
            char key[32];
            snprintf(key, sizeof(key), "Tag.%d.Key", ++n);
            aws_params_add(&p, key, k);
        }
    }
    kumo_driver_code rc = n ? aws_call_plain(c, &p, id, deadline_ns, diag) : KUMO_DRIVER_OK;
    if (!n)
        aws_params_fini(&p);
    n = 0;
    aws_params_init(&p, "CreateTags");
    aws_params_add(&p, "ResourceId.1", id);
    for (size_t i = 0; i < tag_count; i++) {
        if (strcmp(tags[i].key, KUMO_DRIVER_TOKEN_TAG) == 0)
            continue;
        char key[32];
        snprintf(key, sizeof(key), "Tag.%d.Key", ++n);
        aws_params_add(&p, key, tags[i].key);
        snprintf(key, sizeof(key), "Tag.%d.Value", n);
        aws_params_add(&p, key, tags[i].value);
    }
    if (rc == KUMO_DRIVER_OK && n)
        return aws_call_plain(c, &p, id, deadline_ns, diag);
    aws_params_fini(&p);
    return rc;
}

/* ---- Reading ------------------------------------------------------------------------------- */

/* The VPC ref names and its subnets: two replies (free both) and the VPC's node. */
struct vpc {
    struct aws_reply vpcs, subnets;
    xmlNodePtr node;
};

static void vpc_free(struct vpc *v)
{
    aws_reply_free(&v->vpcs);
    aws_reply_free(&v->subnets);
}

static const struct aws_kind vpc_kind = {
    "network", "DescribeVpcs", "VpcId.1", NULL, "vpcSet", "vpcId", "InvalidVpcID.NotFound",
    NULL,      NULL,           NULL,      NULL};

static kumo_driver_code vpc_find(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                 int64_t deadline_ns, struct vpc *v, struct kumo_driver_diag *diag)
{
    memset(v, 0, sizeof(*v));
    kumo_driver_code rc =
        aws_describe_one(c, &vpc_kind, ref, deadline_ns, &v->vpcs, &v->node, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    rc = aws_describe_where(c, "DescribeSubnets", "vpc-id", aws_xml_text(v->node, "vpcId"),
                            "subnets of a network", deadline_ns, &v->subnets, diag);
    if (rc != KUMO_DRIVER_OK)
        vpc_free(v);
    return rc;
}

static void pack_network(struct kumo_driver_kit_pack *p, struct kumo_driver_conn *c,
                         const struct vpc *v, const void **slot)
{
    struct kumo_driver_network *n =
        kumo_driver_kit_pack_take(p, sizeof(*n), alignof(struct kumo_driver_network));
    if (slot != NULL && n != NULL)
        *slot = n;
    size_t count = 0, i = 0;
    const char *vpc_id = aws_xml_text(v->node, "vpcId");
    AWS_XML_ITEMS(it, v->subnets.root, "subnetSet")
    count += strcmp(aws_xml_text(it, "vpcId"), vpc_id) == 0;
    struct kumo_driver_subnet *subnets = kumo_driver_kit_pack_take(
        p, (count + 1) * sizeof(*subnets), alignof(struct kumo_driver_subnet));
    AWS_XML_ITEMS(it, v->subnets.root, "subnetSet")
    {
        if (strcmp(aws_xml_text(it, "vpcId"), vpc_id) != 0)
            continue;
        struct aws_tags t;
        aws_tags_read(it, &t);
        struct kumo_driver_subnet s = {
            kumo_driver_kit_pack_str(p, t.name),
            kumo_driver_kit_pack_str(p, aws_xml_text(it, "cidrBlock")),
            kumo_driver_kit_pack_str(p, aws_xml_text(it, "availabilityZone")),
            kumo_driver_kit_pack_str(p, aws_xml_text(it, "subnetId"))};
        aws_tags_fini(&t);
        if (subnets)
            subnets[i] = s;
        i++;
    }
    struct aws_tags t;
    aws_tags_read(v->node, &t);
    struct kumo_driver_network out;
    memset(&out, 0, sizeof(out));
    out.struct_size = sizeof(out);
    out.provider_id = kumo_driver_kit_pack_str(p, aws_xml_text(v->node, "vpcId"));
    out.token = kumo_driver_kit_pack_str(p, t.token);
    out.name = kumo_driver_kit_pack_str(p, t.name);
    out.region = kumo_driver_kit_pack_str(p, c->region);
    out.cidr = kumo_driver_kit_pack_str(p, aws_xml_text(v->node, "cidrBlock"));
    out.state = kumo_driver_kit_pack_str(p, aws_xml_text(v->node, "state"));
    out.subnets = subnets;
    out.subnet_count = count;
    out.tags = aws_tags_pack(p, &t, &out.tag_count);
    aws_tags_fini(&t);
    if (n != NULL)
        *n = out;
}

static kumo_driver_code out_network(struct kumo_driver_conn *c, const struct vpc *v,
                                    struct kumo_driver_network **out, struct kumo_driver_diag *diag)
{
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(aws_host, block, pk, pack_network(pk, c, v, NULL));
    return AWS_OUT(out, block, diag);
}

kumo_driver_code aws_network_observe(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                     int64_t deadline_ns, struct kumo_driver_network **out,
                                     struct kumo_driver_diag *diag)
{
    *out = NULL;
    struct vpc v;
    kumo_driver_code rc = vpc_find(c, ref, deadline_ns, &v, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    rc = out_network(c, &v, out, diag);
    vpc_free(&v);
    return rc;
}

/* ---- Subnets ------------------------------------------------------------------------------ */

static int has_subnet(const struct vpc *v, const char *cidr)
{
    AWS_XML_ITEMS(it, v->subnets.root, "subnetSet")
    if (strcmp(aws_xml_text(it, "cidrBlock"), cidr) == 0)
        return 1;
    return 0;
}

/* Creates the subnets of `want` that v lacks; deletes v's subnets not in want when prune. */
static kumo_driver_code subnets_sync(struct kumo_driver_conn *c, const struct vpc *v,
                                     const char *token, const struct kumo_driver_subnet *want,
                                     size_t want_count, int prune, int64_t deadline_ns,
                                     struct kumo_driver_diag *diag)
{
    const char *vpc_id = aws_xml_text(v->node, "vpcId");
    kumo_driver_code rc = KUMO_DRIVER_OK;
    for (size_t i = 0; rc == KUMO_DRIVER_OK && i < want_count; i++) {
        if (has_subnet(v, want[i].cidr))
            continue;
        struct aws_params p;
        aws_params_init(&p, "CreateSubnet");
        aws_params_add(&p, "VpcId", vpc_id);
        aws_params_add(&p, "CidrBlock", want[i].cidr);
        if (want[i].zone && want[i].zone[0])
            aws_params_add(&p, "AvailabilityZone", want[i].zone);
        aws_params_tag_spec(&p, "subnet", token, want[i].name, NULL, 0);
        char what[160];
        snprintf(what, sizeof(what), "subnet %s of %s", want[i].cidr, vpc_id);
        rc = aws_call_plain(c, &p, what, deadline_ns, diag);
    }
    AWS_XML_ITEMS(it, v->subnets.root, "subnetSet")
    {
        int wanted = !prune;
        for (size_t i = 0; !wanted && i < want_count; i++)
            wanted = strcmp(want[i].cidr, aws_xml_text(it, "cidrBlock")) == 0;
        if (wanted || rc != KUMO_DRIVER_OK)
            continue;
        const char *id = aws_xml_text(it, "subnetId");
        rc = aws_call_one(c, 0, "DeleteSubnet", "SubnetId", id, id, deadline_ns, diag);
        if (rc == KUMO_DRIVER_NOT_FOUND)
            rc = KUMO_DRIVER_OK;
    }
    return rc;
}

/* The spec's subnets, or one spanning the VPC when it names none. */
static const struct kumo_driver_subnet *wanted_subnets(const struct kumo_driver_subnet *subnets,
                                                       size_t count, const char *cidr,
                                                       struct kumo_driver_subnet *whole,
                                                       size_t *out_count)
{
    if (count > 0) {
        *out_count = count;
        return subnets;
    }
    *whole = (struct kumo_driver_subnet){"default", cidr, NULL, NULL};
    *out_count = 1;
    return whole;
}

/* ---- Create, update, delete, list ----------------------------------------------------------- */

/* 1 when cidr is an IPv4 range a.b.c.d/n with n from 16 to 28 (what a VPC accepts). */
static int cidr_ok(const char *cidr)
{
    unsigned a, b, c, d, n;
    char end;
    return cidr && sscanf(cidr, "%u.%u.%u.%u/%u%c", &a, &b, &c, &d, &n, &end) == 5 && a < 256 &&
           b < 256 && c < 256 && d < 256 && n >= 16 && n <= 28;
}

kumo_driver_code aws_network_create(struct kumo_driver_conn *c,
                                    const struct kumo_driver_network_spec *spec, const char *token,
                                    int64_t deadline_ns, struct kumo_driver_network **out,
                                    struct kumo_driver_diag *diag)
{
    *out = NULL;
    if (token == NULL || token[0] == '\0' || spec->cidr == NULL || spec->cidr[0] == '\0')
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "network %s: %s is required", spec->name ? spec->name : "",
                                    token && token[0] ? "cidr (an IPv4 range /16 to /28)"
                                                      : "a token");
    if (!cidr_ok(spec->cidr))
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidVpc.Range",
                                    "network %s: cidr \"%s\" is not an IPv4 range from /16 to "
                                    "/28 (e.g. 10.0.0.0/16)",
                                    spec->name ? spec->name : "", spec->cidr);
    struct kumo_driver_ref ref = {NULL, token};
    struct vpc v;
    kumo_driver_code rc = vpc_find(c, &ref, deadline_ns, &v, diag);
    if (rc == KUMO_DRIVER_NOT_FOUND) {
        struct aws_params p;
        aws_params_init(&p, "CreateVpc");
        aws_params_add(&p, "CidrBlock", spec->cidr);
        aws_params_tag_spec(&p, "vpc", token, spec->name, spec->tags, spec->tag_count);
        char what[160];
        snprintf(what, sizeof(what), "network %s, token %s", spec->name ? spec->name : "", token);
        rc = aws_call_plain(c, &p, what, deadline_ns, diag);
        if (rc == KUMO_DRIVER_OK)
            rc = vpc_find(c, &ref, deadline_ns, &v, diag);
    }
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct kumo_driver_subnet whole;
    size_t n = 0;
    const struct kumo_driver_subnet *want =
        wanted_subnets(spec->subnets, spec->subnet_count, spec->cidr, &whole, &n);
    size_t missing = 0;
    for (size_t i = 0; i < n; i++)
        missing += !has_subnet(&v, want[i].cidr);
    rc = missing ? subnets_sync(c, &v, token, want, n, 0, deadline_ns, diag) : KUMO_DRIVER_OK;
    if (rc == KUMO_DRIVER_OK && missing) {
        vpc_free(&v);
        rc = vpc_find(c, &ref, deadline_ns, &v, diag);
        if (rc != KUMO_DRIVER_OK)
            return rc;
    }
    if (rc == KUMO_DRIVER_OK && c->public_networks)
        rc = aws_gateway_ensure(c, aws_xml_text(v.node, "vpcId"), token, v.subnets.root,
                                deadline_ns, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = out_network(c, &v, out, diag);
    vpc_free(&v);
    return rc;
}

kumo_driver_code aws_network_update(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                    const struct kumo_driver_network_update *u, int64_t deadline_ns,
                                    struct kumo_driver_network **out, struct kumo_driver_diag *diag)
{
    *out = NULL;
    struct vpc v;
    kumo_driver_code rc = vpc_find(c, ref, deadline_ns, &v, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct aws_tags t;
    aws_tags_read(v.node, &t);
    char token[128], id[64];
    snprintf(token, sizeof(token), "%s", t.token);
    snprintf(id, sizeof(id), "%s", aws_xml_text(v.node, "vpcId"));
    aws_tags_fini(&t);
    if (u->fields & KUMO_DRIVER_NETWORK_SET_SUBNETS) {
        struct kumo_driver_subnet whole;
        size_t n = 0;
        const struct kumo_driver_subnet *want = wanted_subnets(
            u->subnets, u->subnet_count, aws_xml_text(v.node, "cidrBlock"), &whole, &n);
        rc = subnets_sync(c, &v, token, want, n, 1, deadline_ns, diag);
    }
    if (rc == KUMO_DRIVER_OK && (u->fields & KUMO_DRIVER_NETWORK_SET_TAGS))
        rc = aws_tags_replace(c, id, v.node, u->tags, u->tag_count, deadline_ns, diag);
    vpc_free(&v);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct kumo_driver_ref by_id = {id, NULL};
    return aws_network_observe(c, &by_id, deadline_ns, out, diag);
}

/* CONFLICT when live instances or groups other than "default" are in VPC id. */
static kumo_driver_code vpc_in_use(struct kumo_driver_conn *c, const char *id, int64_t deadline_ns,
                                   struct kumo_driver_diag *diag)
{
    struct aws_params p;
    struct aws_reply r;
    aws_params_init(&p, "DescribeInstances");
    aws_params_filter(&p, 1, "vpc-id", id);
    aws_params_live_filter(&p, 2);
    kumo_driver_code rc = aws_call(c, &p, id, deadline_ns, &r, diag);
    aws_params_fini(&p);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    xmlNodePtr inst = aws_xml_find(aws_xml_child(r.root, "reservationSet"), "instanceId");
    if (inst != NULL)
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_CONFLICT, "DependencyViolation",
                                  "network %s in %s still has machines (%s, ...): delete them "
                                  "first",
                                  id, c->region, aws_xml_text(inst, NULL));
    aws_reply_free(&r);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    aws_params_init(&p, "DescribeSecurityGroups");
    aws_params_filter(&p, 1, "vpc-id", id);
    rc = aws_call(c, &p, id, deadline_ns, &r, diag);
    aws_params_fini(&p);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    AWS_XML_ITEMS(it, r.root, "securityGroupInfo")
    if (rc == KUMO_DRIVER_OK && strcmp(aws_xml_text(it, "groupName"), "default") != 0)
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_CONFLICT, "DependencyViolation",
                                  "network %s in %s still has security group %s (%s): delete it "
                                  "first",
                                  id, c->region, aws_xml_text(it, "groupId"),
                                  aws_xml_text(it, "groupName"));
    aws_reply_free(&r);
    return rc;
}

kumo_driver_code aws_network_delete(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                    int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    struct vpc v;
    kumo_driver_code rc = vpc_find(c, ref, deadline_ns, &v, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    char id[64];
    snprintf(id, sizeof(id), "%s", aws_xml_text(v.node, "vpcId"));
    struct aws_tags t;
    aws_tags_read(v.node, &t);
    char token[128];
    snprintf(token, sizeof(token), "%s", t.token);
    aws_tags_fini(&t);
    rc = vpc_in_use(c, id, deadline_ns, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = aws_gateway_remove(c, id, token, deadline_ns, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = subnets_sync(c, &v, "", NULL, 0, 1, deadline_ns, diag);
    vpc_free(&v);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct aws_params p;
    aws_params_init(&p, "DeleteVpc");
    aws_params_add(&p, "VpcId", id);
    char what[96];
    snprintf(what, sizeof(what), "network %s", id);
    return aws_call_plain(c, &p, what, deadline_ns, diag);
}

static void pack_networks(struct kumo_driver_kit_pack *p, struct kumo_driver_conn *c,
                          const struct vpc *all)
{
    size_t n = 0, i = 0;
    AWS_XML_ITEMS(it, all->vpcs.root, "vpcSet")
    n++;
    const void **slots = kumo_driver_kit_pack_list(p, n);
    AWS_XML_ITEMS(it, all->vpcs.root, "vpcSet")
    {
        struct vpc one = *all;
        one.node = it;
        pack_network(p, c, &one, slots ? &slots[i] : NULL);
        i++;
    }
}

kumo_driver_code aws_network_list(struct kumo_driver_conn *c,
                                  const struct kumo_driver_filter *filter, int64_t deadline_ns,
                                  struct kumo_driver_network_list **out,
                                  struct kumo_driver_diag *diag)
{
    *out = NULL;
    struct vpc all;
    memset(&all, 0, sizeof(all));
    struct aws_params p;
    aws_params_init(&p, "DescribeVpcs");
    aws_params_tag_filter(&p, 1, filter);
    kumo_driver_code rc = aws_call(c, &p, "networks", deadline_ns, &all.vpcs, diag);
    aws_params_fini(&p);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    aws_params_init(&p, "DescribeSubnets");
    int v = 0;
    AWS_XML_ITEMS(it, all.vpcs.root, "vpcSet")
    {
        char key[40];
        snprintf(key, sizeof(key), "Filter.1.Value.%d", ++v);
        aws_params_add(&p, key, aws_xml_text(it, "vpcId"));
    }
    aws_params_add(&p, "Filter.1.Name", "vpc-id");
    if (v > 0)
        rc = aws_call(c, &p, "subnets of networks", deadline_ns, &all.subnets, diag);
    aws_params_fini(&p);
    if (rc == KUMO_DRIVER_OK) {
        void *block = NULL;
        KUMO_DRIVER_KIT_PACK_TWICE(aws_host, block, pk, pack_networks(pk, c, &all));
        rc = AWS_OUT(out, block, diag);
    }
    vpc_free(&all);
    return rc;
}
