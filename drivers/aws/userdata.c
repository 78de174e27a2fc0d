/*
 * userdata.c - a machine's RunInstances UserData: the spec's own user data,
 * and, when kumod gives the machine a kumo-agent bootstrap, a cloud-init
 * multipart document that also writes the bootstrap to
 * /etc/kumo/agent-bootstrap.json (mode 0600) and starts kumo-agent when the
 * image has it. The whole document goes base64 into UserData, as cloud-init
 * and the EC2 API expect.
 */
#include "drivers/aws/internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define BOUNDARY "==kumo-agent-bootstrap=="

/* base64 of n bytes of data (malloc'd), NULL when out of memory. */
static char *base64_of(const char *data, size_t n)
{
    char *b64 = malloc(4 * ((n + 2) / 3) + 1);
    if (b64 != NULL)
        EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)data, (int)n);
    return b64;
}

/* The cloud-config part that installs the bootstrap and starts the agent. */
static void agent_part(struct kumo_driver_kit_buf *b, const char *bootstrap)
{
    char *b64 = base64_of(bootstrap, strlen(bootstrap));
    if (b64 == NULL) {
        b->failed = 1;
        return;
    }
    kumo_driver_kit_buf_printf(b,
                               "--" BOUNDARY "\r\n"
                               "Content-Type: text/cloud-config; charset=\"us-ascii\"\r\n"
                               "MIME-Version: 1.0\r\n"
                               "Content-Transfer-Encoding: 7bit\r\n"
                               "Content-Disposition: attachment; filename=\"kumo-agent.cfg\"\r\n"
                               "\r\n"
                               "#cloud-config\n"
                               "write_files:\n"
                               "  - path: " AWS_AGENT_BOOTSTRAP_PATH "\n"
                               "    permissions: '0600'\n"
                               "    owner: root:root\n"
                               "    encoding: b64\n"
                               "    content: %s\n"
                               "runcmd:\n"
                               "  - [sh, -c, 'if command -v kumo-agent >/dev/null 2>&1; then "
                               "KUMO_AGENT_BOOTSTRAP_FILE=" AWS_AGENT_BOOTSTRAP_PATH
                               " nohup kumo-agent >>/var/log/kumo-agent.log 2>&1 & fi']\n"
                               "\r\n",
                               b64);
    memset(b64, 0, strlen(b64)); /* the bootstrap holds the machine's key */
    free(b64);
}

int aws_user_data(const char *user_data, const char *agent_bootstrap, char **out)
{
    *out = NULL;
    int own = user_data && user_data[0], agent = agent_bootstrap && agent_bootstrap[0];
    if (!own && !agent)
        return 0;
    if (!agent) {
        *out = base64_of(user_data, strlen(user_data));
        return *out ? 0 : -1;
    }
    struct kumo_driver_kit_buf b;
    kumo_driver_kit_buf_init(&b);
    kumo_driver_kit_buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"" BOUNDARY "\"\r\n"
                                   "MIME-Version: 1.0\r\n"
                                   "\r\n");
    agent_part(&b, agent_bootstrap);
    /* text/plain: cloud-init finds the part's type from its first line (#!, #cloud-config). */
    if (own)
        kumo_driver_kit_buf_printf(&b,
                                   "--" BOUNDARY "\r\n"
                                   "Content-Type: text/plain; charset=\"utf-8\"\r\n"
                                   "MIME-Version: 1.0\r\n"
                                   "Content-Disposition: attachment; filename=\"user-data\"\r\n"
                                   "\r\n"
                                   "%s\r\n",
                                   user_data);
    kumo_driver_kit_buf_printf(&b, "--" BOUNDARY "--\r\n");
    if (!b.failed && b.len > AWS_USER_DATA_MAX)
        b.failed = 2;
    int failed = b.failed;
    if (!failed)
        *out = base64_of(b.data, b.len);
    if (b.data)
        memset(b.data, 0, b.len);
    kumo_driver_kit_buf_fini(&b);
    if (failed == 2)
        return -2;
    return *out ? 0 : -1;
}
