/*
 * keypair.c - KeyPairs are EC2 key pairs imported from kumo's OpenSSH public
 * key (ImportKeyPair with the token tag; DescribeKeyPairs by the token tag
 * first, so a retried create finds the key it imported). Key names are
 * unique per region: a name taken by another key is ALREADY_EXISTS
 * (InvalidKeyPair.Duplicate). Every key read fills the connection's id ->
 * name cache that RunInstances (KeyName) needs.
 */
#include "drivers/aws/internal.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static void remember(struct kumo_driver_conn *c, xmlNodePtr root)
{
    AWS_XML_ITEMS(k, root, "keySet")
    aws_cache_put(c, &c->keys, &c->key_count, aws_xml_text(k, "keyName"),
                  aws_xml_text(k, "keyPairId"));
}

static void pack_key(struct kumo_driver_kit_pack *p, struct kumo_driver_conn *c, xmlNodePtr k,
                     const void **slot);

static const struct aws_kind key_kind = {"key pair",
                                         "DescribeKeyPairs",
                                         NULL,
                                         "key-pair-id",
                                         "keySet",
                                         "keyPairId",
                                         "InvalidKeyPair.NotFound",
                                         "IncludePublicKey",
                                         "true",
                                         pack_key,
                                         remember};

static kumo_driver_code key_find(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                 int64_t deadline_ns, struct aws_reply *r, xmlNodePtr *key,
                                 struct kumo_driver_diag *diag)
{
    return aws_describe_one(c, &key_kind, ref, deadline_ns, r, key, diag);
}

kumo_driver_code aws_key_name(struct kumo_driver_conn *c, const char *key_id, int64_t deadline_ns,
                              char *name, size_t size, struct kumo_driver_diag *diag)
{
    if (aws_cache_get(c, &c->keys, &c->key_count, key_id, 1, name, size))
        return KUMO_DRIVER_OK;
    struct kumo_driver_ref ref = {key_id, NULL};
    struct aws_reply r;
    xmlNodePtr k;
    kumo_driver_code rc = key_find(c, &ref, deadline_ns, &r, &k, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    snprintf(name, size, "%s", aws_xml_text(k, "keyName"));
    aws_reply_free(&r);
    return KUMO_DRIVER_OK;
}

static void pack_key(struct kumo_driver_kit_pack *p, struct kumo_driver_conn *c, xmlNodePtr k,
                     const void **slot)
{
    struct kumo_driver_key_pair *out =
        kumo_driver_kit_pack_take(p, sizeof(*out), alignof(struct kumo_driver_key_pair));
    struct aws_tags t;
    aws_tags_read(k, &t);
    struct kumo_driver_key_pair v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = kumo_driver_kit_pack_str(p, aws_xml_text(k, "keyPairId"));
    v.token = kumo_driver_kit_pack_str(p, t.token);
    v.name = kumo_driver_kit_pack_str(p, aws_xml_text(k, "keyName"));
    v.region = kumo_driver_kit_pack_str(p, c->region);
    v.fingerprint = kumo_driver_kit_pack_str(p, aws_xml_text(k, "keyFingerprint"));
    v.public_key = kumo_driver_kit_pack_str(p, aws_xml_text(k, "publicKey"));
    v.created_ns = aws_time_ns(aws_xml_text(k, "createTime"));
    v.tags = aws_tags_pack(p, &t, &v.tag_count);
    aws_tags_fini(&t);
    if (out != NULL) {
        *out = v;
        if (slot)
            *slot = out;
    }
}

static kumo_driver_code key_out(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                int64_t deadline_ns, struct kumo_driver_key_pair **out,
                                struct kumo_driver_diag *diag)
{
    return aws_kind_out(c, &key_kind, ref, deadline_ns, (void **)out, diag);
}

kumo_driver_code aws_key_pair_observe(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                      int64_t deadline_ns, struct kumo_driver_key_pair **out,
                                      struct kumo_driver_diag *diag)
{
    return key_out(c, ref, deadline_ns, out, diag);
}

kumo_driver_code aws_key_pair_create(struct kumo_driver_conn *c,
                                     const struct kumo_driver_key_pair_spec *spec,
                                     const char *token, int64_t deadline_ns,
                                     struct kumo_driver_key_pair **out,
                                     struct kumo_driver_diag *diag)
{
    *out = NULL;
    if (token == NULL || token[0] == '\0' || spec->public_key == NULL ||
        (strncmp(spec->public_key, "ssh-", 4) != 0 && strncmp(spec->public_key, "ecdsa-", 6) != 0))
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidKey.Format",
                                    "key pair %s: %s", spec->name ? spec->name : "",
                                    token && token[0] ? "publicKey must be an OpenSSH public key "
                                                        "(ssh-ed25519 ..., ssh-rsa ...)"
                                                      : "a token is required");
    struct kumo_driver_ref ref = {NULL, token};
    kumo_driver_code rc = key_out(c, &ref, deadline_ns, out, diag);
    if (rc != KUMO_DRIVER_NOT_FOUND)
        return rc;
    size_t n = strlen(spec->public_key);
    char *b64 = malloc(4 * ((n + 2) / 3) + 1);
    if (b64 == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory");
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)spec->public_key, (int)n);
    const char *name = spec->name && spec->name[0] ? spec->name : token;
    struct aws_params p;
    aws_params_init(&p, "ImportKeyPair");
    aws_params_add(&p, "KeyName", name);
    aws_params_add(&p, "PublicKeyMaterial", b64);
    aws_params_tag_spec(&p, "key-pair", token, NULL, spec->tags, spec->tag_count);
    free(b64);
    char what[160];
    snprintf(what, sizeof(what), "key pair %s, token %s", name, token);
    rc = aws_call_plain(c, &p, what, deadline_ns, diag);
    return rc == KUMO_DRIVER_OK ? key_out(c, &ref, deadline_ns, out, diag) : rc;
}

kumo_driver_code aws_key_pair_update(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                     const struct kumo_driver_key_pair_update *u,
                                     int64_t deadline_ns, struct kumo_driver_key_pair **out,
                                     struct kumo_driver_diag *diag)
{
    *out = NULL;
    struct aws_reply r;
    xmlNodePtr k;
    kumo_driver_code rc = key_find(c, ref, deadline_ns, &r, &k, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    char id[64];
    snprintf(id, sizeof(id), "%s", aws_xml_text(k, "keyPairId"));
    if (u->fields & KUMO_DRIVER_KEY_PAIR_SET_TAGS)
        rc = aws_tags_replace(c, id, k, u->tags, u->tag_count, deadline_ns, diag);
    aws_reply_free(&r);
    struct kumo_driver_ref by_id = {id, NULL};
    return rc == KUMO_DRIVER_OK ? key_out(c, &by_id, deadline_ns, out, diag) : rc;
}

kumo_driver_code aws_key_pair_delete(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                     int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    struct aws_reply r;
    xmlNodePtr k;
    kumo_driver_code rc = key_find(c, ref, deadline_ns, &r, &k, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    char what[96], name[256];
    snprintf(what, sizeof(what), "key pair %s", aws_xml_text(k, "keyPairId"));
    snprintf(name, sizeof(name), "%s", aws_xml_text(k, "keyName"));
    aws_reply_free(&r);
    /* by name: every EC2 (and moto) takes KeyName */
    return aws_call_one(c, 0, "DeleteKeyPair", "KeyName", name, what, deadline_ns, diag);
}

kumo_driver_code aws_key_pair_list(struct kumo_driver_conn *c,
                                   const struct kumo_driver_filter *filter, int64_t deadline_ns,
                                   struct kumo_driver_key_pair_list **out,
                                   struct kumo_driver_diag *diag)
{
    return aws_kind_list(c, &key_kind, filter, deadline_ns, (void **)out, diag);
}
