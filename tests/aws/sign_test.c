/*
 * sign_test.c - the driver's SigV4 signer against botocore's, byte for byte:
 * 24 requests varying method, host and port, path, query parameters with
 * reserved and non-ASCII characters (repeated keys, empty values), headers
 * with blanks to fold, bodies, dates, regions, services and a session token.
 * botocore (tests/aws/botocore_sign.py, run with the machine's python3)
 * signs the same requests; every Authorization header and date must match.
 */
#include "drivers/aws/internal.h"
#include "tests/harness/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUESTS 24

struct request {
    const char *method, *scheme, *host, *path;
    struct kumo_driver_kv query[4];
    size_t query_count;
    struct kumo_driver_kv headers[3];
    size_t header_count;
    const char *body, *region, *service, *token;
    long when;
};

static void build(struct request *r, int i)
{
    static const char *const hosts[] = {"ec2.us-east-1.amazonaws.com", "127.0.0.1:5999",
                                        "elasticloadbalancing.eu-west-1.amazonaws.com",
                                        "localhost:8080"};
    static const char *const paths[] = {"/", "/a/b", "/with space/x~y", "/-_.~!$&'()*+,;=:@"};
    static const char *const values[] = {
        "a b", "x=y&z",     "caf\xc3\xa9",  "*+/~%",
        "",    "100%-pure", "tag:kumo:uid", "ami-0c7217cdde317cfec"};
    static const char *const regions[] = {"us-east-1", "eu-west-1", "ap-northeast-2", "sa-east-1"};
    static const char *const services[] = {"ec2", "elasticloadbalancing", "iam", "ec2"};
    memset(r, 0, sizeof(*r));
    r->method = i % 3 == 0 ? "GET" : "POST";
    r->scheme = i % 4 == 1 ? "http" : "https";
    r->host = hosts[i % 4];
    r->path = paths[(i / 2) % 4];
    r->query_count = (size_t)(i % 5);
    for (size_t q = 0; q < r->query_count; q++) {
        static const char *const keys[] = {"Action", "Filter.1.Value.1", "Action", "k e/y"};
        r->query[q].key = keys[q];
        r->query[q].value = values[(i + q * 3) % 8];
    }
    r->headers[r->header_count].key = "Content-Type";
    r->headers[r->header_count++].value = "application/x-www-form-urlencoded; charset=utf-8";
    if (i % 2 == 0) {
        r->headers[r->header_count].key = "X-Kumo-Test";
        r->headers[r->header_count++].value = "  folded   inner \t blanks  ";
    }
    r->body = i % 3 == 0   ? ""
              : i % 3 == 1 ? "Action=DescribeRegions&Version=2016-11-15"
                           : "{\"json\": \"b\\u00e9\"}";
    r->region = regions[i % 4];
    r->service = services[(i / 4) % 4];
    r->token =
        i % 4 == 2 ? "FQoGZXIvYXdzEJr//////////wEaDPAjdBbo+/token=with/reserved+chars" : NULL;
    r->when = 1700000000L + (long)i * 86399L;
}

static void write_json(FILE *f, const struct request *r)
{
    struct kumo_driver_kit_buf b;
    kumo_driver_kit_buf_init(&b);
    kumo_driver_kit_buf_str(&b, "{\"method\":");
    kumo_driver_kit_buf_json_str(&b, r->method);
    kumo_driver_kit_buf_printf(&b, ",\"url\":");
    char url[256];
    snprintf(url, sizeof(url), "%s://%s%s", r->scheme, r->host, r->path);
    kumo_driver_kit_buf_json_str(&b, url);
    kumo_driver_kit_buf_str(&b, ",\"params\":[");
    for (size_t q = 0; q < r->query_count; q++) {
        kumo_driver_kit_buf_str(&b, q ? ",[" : "[");
        kumo_driver_kit_buf_json_str(&b, r->query[q].key);
        kumo_driver_kit_buf_str(&b, ",");
        kumo_driver_kit_buf_json_str(&b, r->query[q].value);
        kumo_driver_kit_buf_str(&b, "]");
    }
    kumo_driver_kit_buf_str(&b, "],\"headers\":{");
    for (size_t h = 0; h < r->header_count; h++) {
        kumo_driver_kit_buf_json_key(&b, r->headers[h].key, h == 0);
        kumo_driver_kit_buf_json_str(&b, r->headers[h].value);
    }
    kumo_driver_kit_buf_str(&b, "},\"body\":");
    kumo_driver_kit_buf_json_str(&b, r->body);
    kumo_driver_kit_buf_str(&b, ",\"region\":");
    kumo_driver_kit_buf_json_str(&b, r->region);
    kumo_driver_kit_buf_str(&b, ",\"service\":");
    kumo_driver_kit_buf_json_str(&b, r->service);
    kumo_driver_kit_buf_str(&b, ",\"key\":\"AKIDEXAMPLE\",\"secret\":");
    kumo_driver_kit_buf_json_str(&b, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    kumo_driver_kit_buf_str(&b, ",\"token\":");
    kumo_driver_kit_buf_json_str(&b, r->token ? r->token : "");
    kumo_driver_kit_buf_printf(&b, ",\"when\":%ld}\n", r->when);
    fputs(b.data, f);
    kumo_driver_kit_buf_fini(&b);
}

/* The driver's Authorization header and date for r. */
static void sign(const struct request *r, char *auth, size_t size, char date[17])
{
    struct aws_sign_input in = {r->method,
                                r->host,
                                r->path,
                                r->query,
                                r->query_count,
                                r->headers,
                                r->header_count,
                                r->body,
                                strlen(r->body),
                                r->region,
                                r->service,
                                "AKIDEXAMPLE",
                                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                r->token,
                                (time_t)r->when};
    KUMO_REQUIRE_INT_EQ(aws_sigv4_sign(&in, date, auth, size), 0);
}

KUMO_TEST(sigv4_matches_botocore)
{
    char script[512], input[512], command[1200];
    KUMO_REQUIRE(kumo_test_source_path("tests/aws/botocore_sign.py", script, sizeof(script)));
    if (system("python3 -c 'import botocore' 2>/dev/null") != 0)
        kumo_test_skip("python3 cannot import botocore");
    snprintf(input, sizeof(input), "%s/requests.jsonl", kumo_test_tmpdir());
    FILE *f = fopen(input, "w");
    KUMO_REQUIRE(f != NULL);
    struct request r[REQUESTS];
    for (int i = 0; i < REQUESTS; i++) {
        build(&r[i], i);
        write_json(f, &r[i]);
    }
    fclose(f);
    snprintf(command, sizeof(command), "python3 %s < %s", script, input);
    FILE *p = popen(command, "r");
    KUMO_REQUIRE(p != NULL);
    char line[2048];
    int compared = 0, tokens = 0, reserved = 0;
    for (int i = 0; i < REQUESTS && fgets(line, sizeof(line), p) != NULL; i++) {
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        KUMO_REQUIRE(tab != NULL);
        *tab = '\0';
        char mine[1024], date[17];
        sign(&r[i], mine, sizeof(mine), date);
        KUMO_EXPECT_STR_EQ(mine, line);
        KUMO_EXPECT_STR_EQ(date, tab + 1);
        compared++;
        tokens += r[i].token != NULL;
        for (size_t q = 0; q < r[i].query_count; q++)
            reserved += strpbrk(r[i].query[q].value, " =&*+/%:\xc3") != NULL;
    }
    KUMO_EXPECT_INT_EQ(pclose(p), 0);
    KUMO_EXPECT_INT_EQ(compared, REQUESTS);
    KUMO_EXPECT_INT_GE(tokens, 5);
    KUMO_EXPECT_INT_GE(reserved, 10);
}

/* A change of any input changes the signature (the comparison above could not pass by luck). */
KUMO_TEST(sigv4_depends_on_every_input)
{
    struct request base;
    build(&base, 2);
    char a[1024], b[1024], date[17];
    sign(&base, a, sizeof(a), date);
    struct request changed = base;
    changed.body = "Action=DescribeRegions&Version=2016-11-16";
    sign(&changed, b, sizeof(b), date);
    KUMO_EXPECT(strcmp(a, b) != 0);
    changed = base;
    changed.when++;
    sign(&changed, b, sizeof(b), date);
    KUMO_EXPECT(strcmp(a, b) != 0);
    changed = base;
    changed.token = "another";
    sign(&changed, b, sizeof(b), date);
    KUMO_EXPECT(strcmp(a, b) != 0);
    changed = base;
    changed.query[0].value = "a%20b";
    sign(&changed, b, sizeof(b), date);
    KUMO_EXPECT(strcmp(a, b) != 0);
}
