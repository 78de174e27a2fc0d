/*
 * machine_test.c - what a Machine's RunInstances carries, read back with the
 * AWS CLI from a real moto server: the kumo-agent bootstrap and the user's own
 * user data in UserData (a cloud-init multipart document, base64), and the
 * root disk on the image's own root device (DescribeImages rootDeviceName).
 */
#include "tests/aws/moto.h"
#include "tests/harness/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* ubuntu-trusty-14.04 in moto's images of every region: its root device is /dev/sda1. */
#define SDA1_IMAGE "ami-1e749f67"

/* The text of the first JSON string field `"field": "..."` of json, decoded from base64
 * (malloc'd), or NULL. */
static char *base64_field(const char *json, const char *field)
{
    char key[64];
    snprintf(key, sizeof(key), "\"%s\": \"", field);
    const char *at = json ? strstr(json, key) : NULL;
    if (at == NULL)
        return NULL;
    at += strlen(key);
    size_t n = strcspn(at, "\"");
    unsigned char *out = calloc(1, n + 4);
    if (out == NULL)
        return NULL;
    int got = EVP_DecodeBlock(out, (const unsigned char *)at, (int)n);
    if (got < 0) {
        free(out);
        return NULL;
    }
    return (char *)out;
}

static struct kumo_driver_machine *make(moto *m, struct kumo_driver_conn *conn,
                                        struct kumo_driver_machine_spec *spec, const char *token)
{
    struct kumo_driver_machine *vm = NULL;
    struct kumo_driver_diag diag;
    memset(&diag, 0, sizeof(diag));
    kumo_driver_code rc =
        m->drv->machine_create(conn, spec, token, moto_deadline(m, 30), &vm, &diag);
    if (rc != KUMO_DRIVER_OK)
        fprintf(stderr, "machine_create %s: %s\n", token, diag.message);
    return vm;
}

KUMO_TEST(moto_agent_bootstrap_in_user_data)
{
    moto m;
    moto_start(&m);
    KUMO_REQUIRE(m.drv->capabilities & KUMO_DRIVER_CAP_AGENTS);
    struct kumo_driver_conn *conn = NULL;
    struct kumo_driver_diag diag;
    KUMO_REQUIRE_INT_EQ(moto_open(&m, "us-east-1", NULL, NULL, &conn, &diag), KUMO_DRIVER_OK);
    static const char bootstrap[] = "{\"machineUid\":\"ud-1\",\"key\":\"c2VjcmV0LWtleQ==\"}";
    static const char script[] = "#!/bin/sh\necho kumo-user-script > /tmp/ran\n";
    struct kumo_driver_machine_spec spec;
    memset(&spec, 0, sizeof(spec));
    spec.struct_size = sizeof(spec);
    spec.name = "agent";
    spec.instance_type = "t3.micro";
    spec.image = "amazon-linux-2023";
    spec.user_data = script;
    spec.agent_bootstrap = bootstrap;
    struct kumo_driver_machine *vm = make(&m, conn, &spec, "agent-ud-1");
    KUMO_REQUIRE(vm != NULL);
    char args[160];
    snprintf(args, sizeof(args),
             "ec2 describe-instance-attribute --instance-id %s "
             "--attribute userData",
             vm->provider_id);
    char *out = moto_cli(&m, "us-east-1", args);
    char *doc = base64_field(out, "Value");
    KUMO_REQUIRE(doc != NULL);
    /* cloud-init's multipart: the agent's cloud-config part, then the user's script. */
    KUMO_EXPECT_CONTAINS(doc, "Content-Type: multipart/mixed; boundary=");
    KUMO_EXPECT_CONTAINS(doc, "Content-Type: text/cloud-config");
    KUMO_EXPECT_CONTAINS(doc, "path: /etc/kumo/agent-bootstrap.json");
    KUMO_EXPECT_CONTAINS(doc, "permissions: '0600'");
    KUMO_EXPECT_CONTAINS(doc, "KUMO_AGENT_BOOTSTRAP_FILE=/etc/kumo/agent-bootstrap.json");
    KUMO_EXPECT_CONTAINS(doc, script);
    KUMO_EXPECT(strstr(doc, "machineUid") == NULL); /* the bootstrap only as base64 content */
    const char *c = strstr(doc, "content: ");
    KUMO_REQUIRE(c != NULL);
    c += strlen("content: ");
    char b64[256];
    snprintf(b64, sizeof(b64), "%.*s", (int)strcspn(c, "\n"), c);
    unsigned char back[256] = {0};
    KUMO_EXPECT(EVP_DecodeBlock(back, (const unsigned char *)b64, (int)strlen(b64)) > 0);
    KUMO_EXPECT_STR_EQ((const char *)back, bootstrap);
    free(doc);
    free(out);
    kumo_driver_free(m.host, vm);

    /* Without a bootstrap, UserData is the user's data as is. */
    spec.agent_bootstrap = NULL;
    vm = make(&m, conn, &spec, "agent-ud-2");
    KUMO_REQUIRE(vm != NULL);
    snprintf(args, sizeof(args),
             "ec2 describe-instance-attribute --instance-id %s "
             "--attribute userData",
             vm->provider_id);
    out = moto_cli(&m, "us-east-1", args);
    doc = base64_field(out, "Value");
    KUMO_EXPECT(doc != NULL && strcmp(doc, script) == 0);
    free(doc);
    free(out);
    kumo_driver_free(m.host, vm);

    /* A user data that leaves no room for the bootstrap is refused, naming the machine. */
    char *big = malloc(16384);
    KUMO_REQUIRE(big != NULL);
    memset(big, 'x', 16383);
    big[16383] = '\0';
    spec.user_data = big;
    spec.agent_bootstrap = bootstrap;
    vm = NULL;
    KUMO_EXPECT_INT_EQ(
        m.drv->machine_create(conn, &spec, "agent-ud-3", moto_deadline(&m, 30), &vm, &diag),
        KUMO_DRIVER_INVALID);
    KUMO_EXPECT_CONTAINS(diag.message, "machine agent");
    KUMO_EXPECT_CONTAINS(diag.message, "16 KiB");
    free(big);
    m.drv->close(conn);
    moto_stop(&m);
}

KUMO_TEST(moto_root_device_from_image)
{
    moto m;
    moto_start(&m);
    struct kumo_driver_conn *conn = NULL;
    struct kumo_driver_diag diag;
    KUMO_REQUIRE_INT_EQ(moto_open(&m, "us-east-1", NULL, NULL, &conn, &diag), KUMO_DRIVER_OK);
    char *out = moto_cli(&m, "us-east-1", "ec2 describe-images --image-ids " SDA1_IMAGE);
    KUMO_REQUIRE(out != NULL);
    KUMO_EXPECT_CONTAINS(out, "\"RootDeviceName\": \"/dev/sda1\"");
    free(out);
    static const struct {
        const char *image, *token, *device;
    } cases[] = {{SDA1_IMAGE, "root-sda1", "/dev/sda1"},
                 {"amazon-linux-2023", "root-xvda", "/dev/xvda"}};
    for (size_t i = 0; i < 2; i++) {
        struct kumo_driver_machine_spec spec;
        memset(&spec, 0, sizeof(spec));
        spec.struct_size = sizeof(spec);
        spec.name = cases[i].token;
        spec.instance_type = "t3.micro";
        spec.image = cases[i].image;
        spec.root_disk_gib = 24;
        spec.root_disk_type = "gp3";
        struct kumo_driver_machine *vm = make(&m, conn, &spec, cases[i].token);
        KUMO_REQUIRE(vm != NULL);
        char args[160];
        snprintf(args, sizeof(args), "ec2 describe-instances --instance-ids %s", vm->provider_id);
        out = moto_cli(&m, "us-east-1", args);
        char want[64];
        snprintf(want, sizeof(want), "\"DeviceName\": \"%s\"", cases[i].device);
        KUMO_EXPECT_CONTAINS(out, want);
        snprintf(want, sizeof(want), "\"RootDeviceName\": \"%s\"", cases[i].device);
        KUMO_EXPECT_CONTAINS(out, want);
        free(out);
        /* The volume has the spec's size. */
        snprintf(args, sizeof(args),
                 "ec2 describe-volumes --filters Name=attachment.instance-id,Values=%s",
                 vm->provider_id);
        out = moto_cli(&m, "us-east-1", args);
        KUMO_EXPECT_CONTAINS(out, "\"Size\": 24");
        free(out);
        kumo_driver_free(m.host, vm);
    }
    m.drv->close(conn);
    moto_stop(&m);
}
