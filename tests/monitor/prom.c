/* prom.c - see prom.h. */
#define _GNU_SOURCE
#include "tests/monitor/prom.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "tests/harness/test.h"

extern char **environ;

static size_t collect(char *data, size_t size, size_t count, void *context)
{
    kumo_codec_buffer *b = context;
    return kumo_codec_buffer_append(b, data, size * count) == KUMO_ERROR_OK ? size * count : 0;
}

char *prom_http_get(int port, const char *path, int *code)
{
    char url[2400];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    kumo_codec_buffer b;
    kumo_codec_buffer_init(&b);
    CURL *curl = curl_easy_init();
    long status = 0;
    *code = 0;
    if (curl == NULL)
        return NULL;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) { /* nothing answered (yet): the callers poll or report */
        kumo_codec_buffer_fini(&b);
        return NULL;
    }
    *code = (int)status;
    return kumo_codec_buffer_take(&b, NULL);
}

int prom_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

int prom_start(prom *p, const char *dir, int target_port, int interval_s)
{
    memset(p, 0, sizeof(*p));
    if (access("/usr/bin/prometheus", X_OK) != 0)
        kumo_test_skip("prometheus is not installed (hack/deps.sh installs it)");
    snprintf(p->dir, sizeof(p->dir), "%s", dir);
    char config[600], data[600], log[600], listen[64], config_flag[700], data_flag[700];
    snprintf(config, sizeof(config), "%s/prometheus.yml", dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log, sizeof(log), "%s/prometheus.log", dir);
    FILE *f = fopen(config, "w");
    KUMO_REQUIRE(f != NULL);
    fprintf(f,
            "global:\n  scrape_interval: %ds\n  evaluation_interval: %ds\n"
            "scrape_configs:\n  - job_name: kumod\n    static_configs:\n"
            "      - targets: ['127.0.0.1:%d']\n",
            interval_s, interval_s, target_port);
    fclose(f);
    p->port = prom_free_port();
    snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", p->port);
    snprintf(config_flag, sizeof(config_flag), "--config.file=%s", config);
    snprintf(data_flag, sizeof(data_flag), "--storage.tsdb.path=%s", data);
    const char *argv[] = {"/usr/bin/prometheus", config_flag, data_flag, listen,
                          "--log.level=warn",    NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawn(&p->pid, argv[0], &actions, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    KUMO_REQUIRE_INT_EQ(rc, 0);
    for (double deadline = kumo_test_now() + 90; kumo_test_now() < deadline;) {
        int code = 0;
        char *body = prom_http_get(p->port, "/-/ready", &code);
        free(body);
        if (code == 200)
            return 0;
        usleep(200 * 1000);
    }
    char command[700];
    snprintf(command, sizeof(command), "tail -n 20 %s >&2", log);
    if (system(command) != 0)
        fprintf(stderr, "(no log at %s)\n", log);
    return -1;
}

void prom_stop(prom *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGTERM);
    int status;
    for (int i = 0; i < 200 && waitpid(p->pid, &status, WNOHANG) == 0; i++)
        usleep(50 * 1000);
    if (waitpid(p->pid, &status, WNOHANG) == 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &status, 0);
    }
    p->pid = 0;
}

/* Percent-encodes a query string value. */
static void url_encode(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (; *in && n + 4 < size; in++) {
        unsigned char c = (unsigned char)*in;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-_.~", c))
            out[n++] = (char)c;
        else
            n += (size_t)snprintf(out + n, size - n, "%%%02X", c);
    }
    out[n] = '\0';
}

const kumo_value *prom_query(prom *p, const char *promql, kumo_value **root)
{
    char encoded[2048], path[2200];
    url_encode(promql, encoded, sizeof(encoded));
    snprintf(path, sizeof(path), "/api/v1/query?query=%s", encoded);
    int code = 0;
    char *body = prom_http_get(p->port, path, &code);
    *root = NULL;
    if (body == NULL || code != 200) {
        fprintf(stderr, "PromQL %s: HTTP %d %s\n", promql, code, body ? body : "");
        free(body);
        return NULL;
    }
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_codec_value_parse_json(body, strlen(body), NULL, root, &d);
    kumo_diag_fini(&d);
    free(body);
    const kumo_value *data = e == KUMO_ERROR_OK ? kumo_codec_value_get(*root, "data") : NULL;
    const kumo_value *result = data ? kumo_codec_value_get(data, "result") : NULL;
    return result && result->type == KUMO_VALUE_ARRAY ? result : NULL;
}

int prom_count(prom *p, const char *promql)
{
    kumo_value *root = NULL;
    const kumo_value *result = prom_query(p, promql, &root);
    int n = result ? (int)result->count : -1;
    kumo_codec_value_destroy(root);
    return n;
}

double prom_value(prom *p, const char *promql)
{
    kumo_value *root = NULL;
    const kumo_value *result = prom_query(p, promql, &root);
    double v = -1;
    if (result && result->count > 0) {
        const kumo_value *pair = kumo_codec_value_get(result->items[0], "value");
        if (pair && pair->type == KUMO_VALUE_ARRAY && pair->count == 2 && pair->items[1]->text)
            v = strtod(pair->items[1]->text, NULL);
    }
    kumo_codec_value_destroy(root);
    return v;
}
