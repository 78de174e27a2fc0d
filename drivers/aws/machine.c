/*
 * machine.c - Machines are EC2 instances.
 *
 *   create   DescribeInstances by the token tag first (a create retried after
 *            a crash, a timeout or a lost reply finds the instance it made);
 *            else RunInstances with ClientToken = token and TagSpecifications
 *            carrying kumo:uid (and Name), so the instance is never untagged;
 *   observe  DescribeInstances by id, or filtered on the token tag;
 *   update   StopInstances/StartInstances, ModifyInstanceAttribute (type,
 *            groups), CreateTags/DeleteTags;
 *   delete   TerminateInstances (terminated instances read as NOT_FOUND);
 *   list     DescribeInstances filtered on a tag, every page.
 */
#include "drivers/aws/internal.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Reading instances ----------------------------------------------------------------- */

static kumo_driver_machine_phase phase_of(const char *state)
{
    static const struct {
        const char *word;
        kumo_driver_machine_phase phase;
    } map[] = {{"pending", KUMO_DRIVER_MACHINE_PENDING},
               {"running", KUMO_DRIVER_MACHINE_RUNNING},
               {"stopping", KUMO_DRIVER_MACHINE_STOPPING},
               {"stopped", KUMO_DRIVER_MACHINE_STOPPED},
               {"shutting-down", KUMO_DRIVER_MACHINE_TERMINATING},
               {"terminated", KUMO_DRIVER_MACHINE_TERMINATED}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].word, state) == 0)
            return map[i].phase;
    return KUMO_DRIVER_MACHINE_UNKNOWN;
}

static const char *state_of(xmlNodePtr it)
{
    return aws_xml_text(aws_xml_child(it, "instanceState"), "name");
}

/* Instances of one or more replies (reservationSet or instancesSet), terminated ones skipped. */
struct instances {
    xmlNodePtr *items;
    size_t count, cap;
    int failed;
};

static void instances_add(struct instances *s, xmlNodePtr it)
{
    if (strcmp(state_of(it), "terminated") == 0)
        return;
    if (s->count == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        xmlNodePtr *grown = realloc(s->items, cap * sizeof(*grown));
        if (grown == NULL) {
            s->failed = 1;
            return;
        }
        s->items = grown;
        s->cap = cap;
    }
    s->items[s->count++] = it;
}

static void instances_collect(struct instances *s, xmlNodePtr root)
{
    AWS_XML_ITEMS(r, root, "reservationSet")
    AWS_XML_ITEMS(it, r, "instancesSet")
    instances_add(s, it);
    AWS_XML_ITEMS(it, root, "instancesSet")
    instances_add(s, it);
}

static const void *pack_machine(struct kumo_driver_kit_pack *p, struct kumo_driver_conn *c,
                                xmlNodePtr it)
{
    struct kumo_driver_machine *m =
        kumo_driver_kit_pack_take(p, sizeof(*m), alignof(struct kumo_driver_machine));
    struct kumo_driver_machine v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    struct aws_tags tags;
    if (aws_tags_read(it, &tags) != 0)
        return NULL;
    v.provider_id = kumo_driver_kit_pack_str(p, aws_xml_text(it, "instanceId"));
    v.token = kumo_driver_kit_pack_str(p, tags.token);
    v.name = kumo_driver_kit_pack_str(p, tags.name);
    v.phase = phase_of(state_of(it));
    v.provider_state = kumo_driver_kit_pack_str(p, state_of(it));
    const char *type = aws_xml_text(it, "instanceType");
    v.instance_type = kumo_driver_kit_pack_str(p, type);
    v.image = kumo_driver_kit_pack_str(p, aws_xml_text(it, "imageId"));
    v.region = kumo_driver_kit_pack_str(p, c->region);
    v.zone = kumo_driver_kit_pack_str(
        p, aws_xml_text(aws_xml_child(it, "placement"), "availabilityZone"));
    v.network_id = kumo_driver_kit_pack_str(p, aws_xml_text(it, "vpcId"));
    v.subnet_id = kumo_driver_kit_pack_str(p, aws_xml_text(it, "subnetId"));
    size_t groups = 0;
    AWS_XML_ITEMS(g, it, "groupSet")
    groups++;
    const char **ids = kumo_driver_kit_pack_take(p, (groups + 1) * sizeof(char *), alignof(char *));
    size_t gi = 0;
    AWS_XML_ITEMS(g, it, "groupSet")
    {
        const char *id = kumo_driver_kit_pack_str(p, aws_xml_text(g, "groupId"));
        if (ids)
            ids[gi] = id;
        gi++;
    }
    v.security_group_ids = ids;
    v.security_group_count = groups;
    char key_id[128] = "";
    const char *key_name = aws_xml_text(it, "keyName");
    if (key_name[0])
        aws_cache_get(c, &c->keys, &c->key_count, key_name, 0, key_id, sizeof(key_id));
    v.key_pair_id = kumo_driver_kit_pack_str(p, key_id);
    v.private_ip = kumo_driver_kit_pack_str(p, aws_xml_text(it, "privateIpAddress"));
    v.public_ip = kumo_driver_kit_pack_str(p, aws_xml_text(it, "ipAddress"));
    v.launch_ns = aws_time_ns(aws_xml_text(it, "launchTime"));
    v.created_ns = v.launch_ns;
    const char *currency = "USD";
    v.price_per_hour = aws_price_of(c, type, &currency);
    v.currency = kumo_driver_kit_pack_str(p, currency);
    v.tags = aws_tags_pack(p, &tags, &v.tag_count);
    aws_tags_fini(&tags);
    if (m != NULL)
        *m = v;
    return m;
}

static void pack_machines(struct kumo_driver_kit_pack *p, struct kumo_driver_conn *c,
                          const struct instances *s)
{
    const void **slots = kumo_driver_kit_pack_list(p, s->count);
    for (size_t i = 0; i < s->count; i++) {
        const void *m = pack_machine(p, c, s->items[i]);
        if (slots)
            slots[i] = m;
    }
}

static kumo_driver_code out_machine(struct kumo_driver_conn *c, xmlNodePtr it,
                                    struct kumo_driver_machine **out, struct kumo_driver_diag *diag)
{
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(aws_host, block, pk, pack_machine(pk, c, it));
    return AWS_OUT(out, block, diag);
}

/* ---- Finding one instance ---------------------------------------------------------------- */

/* The live instance ref names (a batched DescribeInstances); release *found. A terminated
 * instance is NOT_FOUND. */
static kumo_driver_code instance_find(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                      int64_t deadline_ns, struct aws_found *found,
                                      struct kumo_driver_diag *diag)
{
    memset(found, 0, sizeof(*found));
    kumo_driver_code rc = aws_ref_check(ref, "machine", diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    int by_id = ref->provider_id && ref->provider_id[0];
    return aws_batch_lookup(c, by_id, by_id ? ref->provider_id : ref->token, deadline_ns, found,
                            diag);
}

kumo_driver_code aws_machine_observe(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                     int64_t deadline_ns, struct kumo_driver_machine **out,
                                     struct kumo_driver_diag *diag)
{
    *out = NULL;
    struct aws_found f;
    kumo_driver_code rc = instance_find(c, ref, deadline_ns, &f, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    rc = out_machine(c, f.it, out, diag);
    aws_found_release(c, &f);
    return rc;
}

/* ---- Create ---------------------------------------------------------------------------- */

/* The first subnet of VPC network_id, into subnet. */
static kumo_driver_code first_subnet(struct kumo_driver_conn *c, const char *network_id,
                                     const char *zone, int64_t deadline_ns, char *subnet,
                                     size_t size, struct kumo_driver_diag *diag)
{
    struct aws_params p;
    struct aws_reply r;
    aws_params_init(&p, "DescribeSubnets");
    aws_params_filter(&p, 1, "vpc-id", network_id);
    if (zone && zone[0])
        aws_params_filter(&p, 2, "availability-zone", zone);
    kumo_driver_code rc =
        aws_call(c, &p, "subnets of the machine's network", deadline_ns, &r, diag);
    aws_params_fini(&p);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    const char *best = NULL;
    AWS_XML_ITEMS(it, r.root, "subnetSet")
    if (best == NULL || strcmp(aws_xml_text(it, "subnetId"), best) < 0)
        best = aws_xml_text(it, "subnetId");
    if (best)
        snprintf(subnet, size, "%s", best);
    else
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "InvalidSubnetID.NotFound",
                                  "network %s has no subnet%s%s in %s to place the machine in",
                                  network_id, zone && zone[0] ? " in zone " : "", zone ? zone : "",
                                  c->region);
    aws_reply_free(&r);
    return rc;
}

/* What RunInstances needs beyond the spec: the AMI, the key's name, the subnet, the
 * image's root device (when a root disk is given) and the UserData (base64, or NULL). */
struct run_refs {
    char ami[128], key_name[256], subnet[128], root_device[64];
    char *user_data;
};

static void run_refs_fini(struct run_refs *refs)
{
    if (refs->user_data)
        memset(refs->user_data, 0, strlen(refs->user_data)); /* may hold an agent's key */
    free(refs->user_data);
    refs->user_data = NULL;
}

static kumo_driver_code run_refs_resolve(struct kumo_driver_conn *c,
                                         const struct kumo_driver_machine_spec *spec,
                                         int64_t deadline_ns, struct run_refs *refs,
                                         struct kumo_driver_diag *diag)
{
    kumo_driver_code rc =
        aws_image_resolve(c, spec->image, deadline_ns, refs->ami, sizeof(refs->ami), diag);
    if (rc == KUMO_DRIVER_OK && spec->root_disk_gib > 0)
        rc = aws_image_root_device(c, refs->ami, deadline_ns, refs->root_device,
                                   sizeof(refs->root_device), diag);
    if (rc == KUMO_DRIVER_OK && spec->key_pair_id && spec->key_pair_id[0])
        rc = aws_key_name(c, spec->key_pair_id, deadline_ns, refs->key_name, sizeof(refs->key_name),
                          diag);
    if (rc == KUMO_DRIVER_OK && spec->subnet_id && spec->subnet_id[0])
        snprintf(refs->subnet, sizeof(refs->subnet), "%s", spec->subnet_id);
    else if (rc == KUMO_DRIVER_OK && spec->network_id && spec->network_id[0])
        rc = first_subnet(c, spec->network_id, spec->zone, deadline_ns, refs->subnet,
                          sizeof(refs->subnet), diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    const char *agent =
        KUMO_DRIVER_HAS_FIELD(spec, struct kumo_driver_machine_spec, agent_bootstrap)
            ? spec->agent_bootstrap
            : NULL;
    int made = aws_user_data(spec->user_data, agent, &refs->user_data);
    if (made == -2)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "machine %s: userData with the kumo-agent bootstrap is "
                                    "longer than 16 KiB",
                                    spec->name ? spec->name : "");
    return made == 0 ? KUMO_DRIVER_OK
                     : kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory");
}

/* The RunInstances parameters of spec (image and key already resolved). */
static kumo_driver_code run_params(struct kumo_driver_conn *c,
                                   const struct kumo_driver_machine_spec *spec, const char *token,
                                   const struct run_refs *refs, struct aws_params *p)
{
    const char *ami = refs->ami, *key_name = refs->key_name, *subnet = refs->subnet;
    aws_params_init(p, "RunInstances");
    aws_params_add(p, "ImageId", ami);
    aws_params_add(p, "InstanceType", spec->instance_type);
    aws_params_add(p, "MinCount", "1");
    aws_params_add(p, "MaxCount", "1");
    aws_params_add(p, "ClientToken", token);
    if (subnet[0])
        aws_params_add(p, "SubnetId", subnet);
    const char *zone = spec->zone && spec->zone[0] ? spec->zone : c->zone;
    if (!subnet[0] && zone[0])
        aws_params_add(p, "Placement.AvailabilityZone", zone);
    for (size_t i = 0; i < spec->security_group_count; i++) {
        char key[40];
        snprintf(key, sizeof(key), "SecurityGroupId.%zu", i + 1);
        aws_params_add(p, key, spec->security_group_ids[i]);
    }
    if (key_name[0])
        aws_params_add(p, "KeyName", key_name);
    if (refs->user_data)
        aws_params_add(p, "UserData", refs->user_data);
    if (spec->root_disk_gib > 0) {
        aws_params_add(p, "BlockDeviceMapping.1.DeviceName", refs->root_device);
        aws_params_addf(p, "BlockDeviceMapping.1.Ebs.VolumeSize", "%u", spec->root_disk_gib);
        if (spec->root_disk_type && spec->root_disk_type[0])
            aws_params_add(p, "BlockDeviceMapping.1.Ebs.VolumeType", spec->root_disk_type);
    }
    aws_params_tag_spec(p, "instance", token, spec->name, spec->tags, spec->tag_count);
    return p->failed ? KUMO_DRIVER_NOMEM : KUMO_DRIVER_OK;
}

static kumo_driver_code spec_check(const struct kumo_driver_machine_spec *spec, const char *token,
                                   struct kumo_driver_diag *diag)
{
    if (token == NULL || token[0] == '\0' || strlen(token) > 64)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "machine %s: the token must have 1 to 64 characters (it is "
                                    "the EC2 ClientToken)",
                                    spec->name ? spec->name : "");
    if (spec->instance_type == NULL || spec->instance_type[0] == '\0')
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "machine %s: instanceType is required (e.g. t3.micro)",
                                    spec->name ? spec->name : "");
    if (spec->image == NULL || spec->image[0] == '\0')
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "machine %s: image is required (a catalog name such as "
                                    "amazon-linux-2023, or an AMI id)",
                                    spec->name ? spec->name : "");
    if (spec->user_data && strlen(spec->user_data) > AWS_USER_DATA_MAX)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "machine %s: userData is longer than 16 KiB",
                                    spec->name ? spec->name : "");
    return KUMO_DRIVER_OK;
}

kumo_driver_code aws_machine_create(struct kumo_driver_conn *c,
                                    const struct kumo_driver_machine_spec *spec, const char *token,
                                    int64_t deadline_ns, struct kumo_driver_machine **out,
                                    struct kumo_driver_diag *diag)
{
    *out = NULL;
    kumo_driver_code rc = spec_check(spec, token, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct kumo_driver_ref ref = {NULL, token};
    rc = aws_machine_observe(c, &ref, deadline_ns, out, diag);
    if (rc != KUMO_DRIVER_NOT_FOUND)
        return rc; /* found (OK), or the lookup failed: never create blindly */
    struct run_refs refs = {.key_name = "", .subnet = "", .root_device = ""};
    rc = run_refs_resolve(c, spec, deadline_ns, &refs, diag);
    struct aws_params p = {0};
    struct aws_reply r;
    char what[320];
    snprintf(what, sizeof(what), "machine %s, type %s, image %s%s%s, token %s",
             spec->name ? spec->name : "", spec->instance_type, spec->image,
             refs.subnet[0] ? ", subnet " : "", refs.subnet, token);
    if (rc == KUMO_DRIVER_OK && run_params(c, spec, token, &refs, &p) != KUMO_DRIVER_OK)
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory");
    else if (rc == KUMO_DRIVER_OK)
        rc = aws_call(c, &p, what, deadline_ns, &r, diag);
    aws_params_fini(&p);
    run_refs_fini(&refs);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    xmlNodePtr it = aws_xml_child(aws_xml_child(r.root, "instancesSet"), "item");
    rc = it ? out_machine(c, it, out, diag)
            : kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "MalformedReply",
                                   "EC2 RunInstances in %s (%s): the reply names no instance",
                                   c->region, what);
    aws_reply_free(&r);
    return rc;
}

/* ---- Update ----------------------------------------------------------------------------- */

/* One call on instance id with no interesting reply. */
static kumo_driver_code instance_call(struct kumo_driver_conn *c, struct aws_params *p,
                                      const char *id, int64_t deadline_ns,
                                      struct kumo_driver_diag *diag)
{
    char what[96];
    snprintf(what, sizeof(what), "instance %s", id);
    return aws_call_plain(c, p, what, deadline_ns, diag);
}

static kumo_driver_code power_set(struct kumo_driver_conn *c, xmlNodePtr it, int power,
                                  int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    kumo_driver_machine_phase phase = phase_of(state_of(it));
    int want_running = power == KUMO_DRIVER_POWER_RUNNING;
    if ((want_running &&
         (phase == KUMO_DRIVER_MACHINE_RUNNING || phase == KUMO_DRIVER_MACHINE_PENDING)) ||
        (!want_running &&
         (phase == KUMO_DRIVER_MACHINE_STOPPED || phase == KUMO_DRIVER_MACHINE_STOPPING)))
        return KUMO_DRIVER_OK;
    struct aws_params p;
    aws_params_init(&p, want_running ? "StartInstances" : "StopInstances");
    aws_params_add(&p, "InstanceId.1", aws_xml_text(it, "instanceId"));
    return instance_call(c, &p, aws_xml_text(it, "instanceId"), deadline_ns, diag);
}

static kumo_driver_code apply_update(struct kumo_driver_conn *c, xmlNodePtr it,
                                     const struct kumo_driver_machine_update *u,
                                     int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    const char *id = aws_xml_text(it, "instanceId");
    kumo_driver_code rc = KUMO_DRIVER_OK;
    struct aws_params p;
    if ((u->fields & KUMO_DRIVER_MACHINE_SET_INSTANCE_TYPE) && u->instance_type &&
        strcmp(u->instance_type, aws_xml_text(it, "instanceType")) != 0) {
        aws_params_init(&p, "ModifyInstanceAttribute");
        aws_params_add(&p, "InstanceId", id);
        aws_params_add(&p, "InstanceType.Value", u->instance_type);
        rc = instance_call(c, &p, id, deadline_ns, diag);
    }
    if (rc == KUMO_DRIVER_OK && (u->fields & KUMO_DRIVER_MACHINE_SET_SECURITY_GROUPS)) {
        aws_params_init(&p, "ModifyInstanceAttribute");
        aws_params_add(&p, "InstanceId", id);
        for (size_t i = 0; i < u->security_group_count; i++) {
            char key[32];
            snprintf(key, sizeof(key), "GroupId.%zu", i + 1);
            aws_params_add(&p, key, u->security_group_ids[i]);
        }
        rc = instance_call(c, &p, id, deadline_ns, diag);
    }
    if (rc == KUMO_DRIVER_OK && (u->fields & KUMO_DRIVER_MACHINE_SET_TAGS))
        rc = aws_tags_replace(c, id, it, u->tags, u->tag_count, deadline_ns, diag);
    if (rc == KUMO_DRIVER_OK && (u->fields & KUMO_DRIVER_MACHINE_SET_POWER))
        rc = power_set(c, it, u->power, deadline_ns, diag);
    return rc;
}

kumo_driver_code aws_machine_update(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                    const struct kumo_driver_machine_update *update,
                                    int64_t deadline_ns, struct kumo_driver_machine **out,
                                    struct kumo_driver_diag *diag)
{
    *out = NULL;
    struct aws_found f;
    kumo_driver_code rc = instance_find(c, ref, deadline_ns, &f, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    char id[64];
    snprintf(id, sizeof(id), "%s", aws_xml_text(f.it, "instanceId"));
    rc = apply_update(c, f.it, update, deadline_ns, diag);
    aws_found_release(c, &f);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct kumo_driver_ref by_id = {id, NULL};
    return aws_machine_observe(c, &by_id, deadline_ns, out, diag);
}

/* ---- Delete and list ---------------------------------------------------------------------- */

kumo_driver_code aws_machine_delete(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                    int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    struct aws_found f;
    kumo_driver_code rc = instance_find(c, ref, deadline_ns, &f, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    char id[64];
    snprintf(id, sizeof(id), "%s", aws_xml_text(f.it, "instanceId"));
    int going = strcmp(state_of(f.it), "shutting-down") == 0;
    aws_found_release(c, &f);
    if (going)
        return KUMO_DRIVER_OK;
    struct aws_params p;
    aws_params_init(&p, "TerminateInstances");
    aws_params_add(&p, "InstanceId.1", id);
    return instance_call(c, &p, id, deadline_ns, diag);
}

kumo_driver_code aws_machine_list(struct kumo_driver_conn *c,
                                  const struct kumo_driver_filter *filter, int64_t deadline_ns,
                                  struct kumo_driver_machine_list **out,
                                  struct kumo_driver_diag *diag)
{
    *out = NULL;
    struct aws_reply *pages = NULL;
    size_t n_pages = 0;
    struct instances s = {0};
    char next[2048] = "";
    kumo_driver_code rc = KUMO_DRIVER_OK;
    do {
        struct aws_reply *grown = realloc(pages, (n_pages + 1) * sizeof(*grown));
        if (grown == NULL) {
            rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory");
            break;
        }
        pages = grown;
        struct aws_params p;
        aws_params_init(&p, "DescribeInstances");
        int f = 1;
        f += aws_params_tag_filter(&p, f, filter);
        aws_params_live_filter(&p, f);
        aws_params_add(&p, "MaxResults", "1000");
        if (next[0])
            aws_params_add(&p, "NextToken", next);
        rc = aws_call(c, &p, "machines", deadline_ns, &pages[n_pages], diag);
        aws_params_fini(&p);
        if (rc != KUMO_DRIVER_OK)
            break;
        instances_collect(&s, pages[n_pages].root);
        snprintf(next, sizeof(next), "%s", aws_xml_text(pages[n_pages].root, "nextToken"));
        n_pages++;
    } while (next[0]);
    if (rc == KUMO_DRIVER_OK && s.failed)
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory");
    if (rc == KUMO_DRIVER_OK) {
        void *block = NULL;
        KUMO_DRIVER_KIT_PACK_TWICE(aws_host, block, pk, pack_machines(pk, c, &s));
        rc = AWS_OUT(out, block, diag);
    }
    free(s.items);
    for (size_t i = 0; i < n_pages; i++)
        aws_reply_free(&pages[i]);
    free(pages);
    return rc;
}
