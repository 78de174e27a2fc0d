/* agentbus.c - see agentbus.h. */
#include "tests/agentbus/agentbus.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness/test.h"

static char *authorization(const unsigned char *key, const char *const *uids, size_t count,
                           const char *password)
{
    char *text = NULL;
    size_t len = 0;
    KUMO_REQUIRE(kumo_agent_authorization(key, NULL, AGENTBUS_USER, password, uids, count, &text,
                                          &len) == 0);
    return text;
}

void agentbus_start(const unsigned char key[KUMO_AGENT_KEY_SIZE], const char *const *uids,
                    size_t count, const char *password, int port, kumo_natsd **bus,
                    natsConnection **admin)
{
    char *auth = authorization(key, uids, count, password);
    kumo_natsd_options o = {.config_text = auth, .port = port};
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_natsd_start(&o, bus, &d);
    free(auth);
    if (e != KUMO_ERROR_OK)
        fprintf(stderr, "agent bus: %s\n", d.message);
    kumo_diag_fini(&d);
    KUMO_REQUIRE_INT_EQ(e, KUMO_ERROR_OK);
    natsOptions *opts = NULL;
    KUMO_REQUIRE(natsOptions_Create(&opts) == NATS_OK);
    natsOptions_SetURL(opts, kumo_natsd_url(*bus));
    natsOptions_SetUserInfo(opts, AGENTBUS_USER, password);
    natsStatus s = natsConnection_Connect(admin, opts);
    natsOptions_Destroy(opts);
    KUMO_REQUIRE(s == NATS_OK);
}

void agentbus_reload(kumo_natsd *bus, const unsigned char key[KUMO_AGENT_KEY_SIZE],
                     const char *const *uids, size_t count, const char *password)
{
    char *auth = authorization(key, uids, count, password);
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_natsd_reload(bus, auth, &d);
    free(auth);
    kumo_diag_fini(&d);
    KUMO_REQUIRE_INT_EQ(e, KUMO_ERROR_OK);
    struct timespec pause = {0, 200 * 1000 * 1000}; /* the server applies a reload asynchronously */
    nanosleep(&pause, NULL);
}

char *agentbus_http_get(const char *ip, int port, const char *path, int *code)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    *code = 0;
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
        return NULL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char req[512];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, ip);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || write(fd, req, (size_t)n) != n) {
        close(fd);
        return NULL;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while (buf && len + 1 < cap && (r = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    close(fd);
    if (buf == NULL)
        return NULL;
    buf[len] = '\0';
    sscanf(buf, "HTTP/%*d.%*d %d", code);
    char *body = strstr(buf, "\r\n\r\n");
    char *out = strdup(body ? body + 4 : "");
    free(buf);
    return out;
}
