/*
 * rules_test.c - validation rules, one table per kind: each row is a small
 * manifest (YAML flow style) and the exact cause it must produce. Every row
 * is checked both after defaulting and without it (a zero value where a
 * default exists is valid, so the verdict must not depend on defaulting).
 */
#include <stdlib.h>
#include <string.h>

#include "tests/harness/test.h"
#include "tests/object/helpers.h"

typedef struct rule_row {
    const char *manifest;
    const char *cause; /* NULL: the manifest must be valid */
} rule_row;

#define OBJ(kind, spec)                                                                            \
    "{apiVersion: kumo.dev/v1alpha1, kind: " kind ", metadata: {name: web}, spec: " spec "}"
#define META(meta)                                                                                 \
    "{apiVersion: kumo.dev/v1alpha1, kind: KeyPair, metadata: " meta ", spec: {connection: c}}"
#define GROUP             "name: a, connection: c, instanceType: t, image: i"
#define INFRA(group)      OBJ("Infra", "{groups: [{" group "}]}")
#define PLACED(placement) INFRA("name: a, size: 2, image: i, placement: " placement)
#define RULE(rule)        INFRA(GROUP ", securityRules: [" rule "]")
#define COMPONENT         "name: web, command: [run]"
#define APP(component)    OBJ("App", "{infraRef: {name: shop}, components: [{" component "}]}")
#define LISTENER          "{name: http, port: 80}"
#define BACKEND           "{name: b, addresses: [10.0.0.1], port: 8080}"
#define LB(listeners, backends, more)                                                              \
    OBJ("LoadBalancer", "{listeners: [" listeners "], backends: [" backends "]" more "}")
#define MIGRATION(more)                                                                            \
    OBJ("Migration",                                                                               \
        "{source: {appRef: {name: shop}}, target: {connection: c, instanceType: t}" more "}")

static void run_rows(const rule_row *rows, size_t count)
{
    char causes[8192];
    for (size_t i = 0; i < count; i++) {
        for (int defaults = 1; defaults >= 0; defaults--) {
            ProtobufCMessage *object = test_load(rows[i].manifest);
            kumo_diag diag;
            kumo_diag_init(&diag);
            kumo_error err = test_check(object, defaults, &diag);
            if (rows[i].cause == NULL) {
                KUMO_CHECK_(0, err == KUMO_ERROR_OK, "row %zu (defaults %d) should be valid: %s%s",
                            i, defaults, rows[i].manifest,
                            test_causes_text(&diag, causes, sizeof(causes)));
            } else {
                KUMO_CHECK_(0, err == KUMO_ERROR_INVALID && test_has_cause(&diag, rows[i].cause),
                            "row %zu (defaults %d): %s\n  wanted: %s\n  got:%s", i, defaults,
                            rows[i].manifest, rows[i].cause,
                            test_causes_text(&diag, causes, sizeof(causes)));
            }
            kumo_diag_fini(&diag);
            kumo_object_destroy(object);
        }
    }
}

#define RUN(rows) run_rows(rows, sizeof(rows) / sizeof(rows[0]))

KUMO_TEST(rules_metadata)
{
    static const rule_row rows[] = {
        {META("{name: Web}"), "metadata.name: Invalid value: \"Web\": must consist of lower case "
                              "alphanumeric characters or '-', and must start and end with an "
                              "alphanumeric character (e.g. 'my-name' or '123-abc')"},
        {META("{name: web.shop}"), "metadata.name: Invalid value: \"web.shop\": must consist of "
                                   "lower case alphanumeric characters or '-', and must start and "
                                   "end with an alphanumeric character (e.g. 'my-name' or "
                                   "'123-abc')"},
        {META("{name: web-}"), "metadata.name: Invalid value: \"web-\": must consist of lower case "
                               "alphanumeric characters or '-', and must start and end with an "
                               "alphanumeric character (e.g. 'my-name' or '123-abc')"},
        {META("{namespace: team}"), "metadata.name: Required value"},
        {META("{name: web, namespace: Team_A}"),
         "metadata.namespace: Invalid value: \"Team_A\": must consist of lower case alphanumeric "
         "characters or '-', and must start and end with an alphanumeric character (e.g. "
         "'my-name' or '123-abc')"},
        {META("{name: web, labels: {-bad: x}}"),
         "metadata.labels: Invalid value: \"-bad\": name part must consist of alphanumeric "
         "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
         "(e.g. 'MyName', 'my.name' or '123-abc')"},
        {META("{name: web, labels: {Example.com/x: y}}"),
         "metadata.labels: Invalid value: \"Example.com/x\": prefix part must be a lowercase "
         "DNS-1123 subdomain of at most 253 characters (e.g. 'example.com')"},
        {META("{name: web, labels: {a/b/c: y}}"),
         "metadata.labels: Invalid value: \"a/b/c\": a qualified name may contain at most one '/' "
         "(e.g. 'example.com/MyName')"},
        {META("{name: web, labels: {app/x: bad value}}"),
         "metadata.labels[\"app/x\"]: Invalid value: \"bad value\": a valid label must be an empty "
         "string or consist of alphanumeric characters, '-', '_' or '.', and must start and end "
         "with an alphanumeric character"},
        {META("{name: web, labels: {x: "
              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}}"),
         "metadata.labels[\"x\"]: Invalid value: "
         "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": must be no more "
         "than "
         "63 characters"},
        {META("{name: web, annotations: {a b: x}}"),
         "metadata.annotations: Invalid value: \"a b\": name part must consist of alphanumeric "
         "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
         "(e.g. 'MyName', 'my.name' or '123-abc')"},
        {META("{name: web, finalizers: [kumo.dev/a, kumo.dev/a]}"),
         "metadata.finalizers[1]: Duplicate value: \"kumo.dev/a\""},
        {META("{name: web, finalizers: [a/b/c]}"),
         "metadata.finalizers[0]: Invalid value: \"a/b/c\": a qualified name may contain at most "
         "one '/' (e.g. 'example.com/MyName')"},
        {META("{name: web, ownerReferences: [{apiVersion: kumo.dev/v1alpha1, kind: Infra, name: "
              "x}]}"),
         "metadata.ownerReferences[0].uid: Required value"},
        {META(
             "{name: web, ownerReferences: [{apiVersion: a, kind: Infra, name: x, uid: u1, "
             "controller: true}, {apiVersion: a, kind: App, name: y, uid: u2, controller: true}]}"),
         "metadata.ownerReferences[1].controller: Forbidden: only one owner reference may be the "
         "controller (ownerReferences[0] already is)"},
        /* valid: empty label value, prefixed keys, kumo.dev keys, one controller */
        {META("{name: web-1, namespace: team-a, labels: {kumo.dev/infra: shop, "
              "app.kubernetes.io/part-of: "
              "'', A_b.c: X-1}, annotations: {note: 'any value at all: {}'}, finalizers: "
              "[kumo.dev/protect], ownerReferences: [{apiVersion: a, kind: Infra, name: x, uid: u, "
              "controller: true}]}"),
         NULL},
    };
    RUN(rows);
}

KUMO_TEST(rules_credential)
{
    static const rule_row rows[] = {
        {OBJ("Credential", "{data: {k: v}}"), "spec.type: Required value"},
        {OBJ("Credential", "{type: aws}"), "spec.data: Required value: at least one entry"},
        {OBJ("Credential", "{type: AWS, data: {k: v}}"),
         "spec.type: Invalid value: \"AWS\": must consist of lower case alphanumeric characters or "
         "'-', and must start and end with an alphanumeric character (e.g. 'my-name' or "
         "'123-abc')"},
        {OBJ("Credential", "{type: aws, data: {bad key: v}}"),
         "spec.data: Invalid value: \"bad key\": a valid data key must have 1 to 253 alphanumeric "
         "characters, '-', '_' or '.'"},
        {OBJ("Credential", "{type: tls, data: {tls.crt: x}}"),
         "spec.data[\"tls.key\"]: Required value: for a Credential of type \"tls\""},
        {OBJ("Credential", "{type: ssh, data: {key: x}}"),
         "spec.data[\"privateKey\"]: Required value: for a Credential of type \"ssh\""},
        {OBJ("Credential", "{type: tls, data: {tls.crt: x, tls.key: y}}"), NULL},
    };
    RUN(rows);
}

KUMO_TEST(rules_connection)
{
    static const rule_row rows[] = {
        {OBJ("Connection", "{region: us-east-1}"), "spec.driver: Required value"},
        {OBJ("Connection", "{driver: sim}"), "spec.region: Required value"},
        {OBJ("Connection", "{driver: sim, region: US_East}"),
         "spec.region: Invalid value: \"US_East\": must consist of lower case alphanumeric "
         "characters or '-'"},
        {OBJ("Connection", "{driver: aws, region: us-east-1}"),
         "spec.credentialRef: Required value: every driver except sim and local needs a "
         "Credential"},
        {OBJ("Connection", "{driver: aws, region: us-east-1, credentialRef: {}}"),
         "spec.credentialRef.name: Required value"},
        {OBJ("Connection", "{driver: sim, region: r, endpoint: 'ftp://x'}"),
         "spec.endpoint: Invalid value: \"ftp://x\": must be a URL starting with \"http://\" or "
         "\"https://\", without spaces"},
        {OBJ("Connection", "{driver: sim, region: r, rateLimit: {qps: -1}}"),
         "spec.rateLimit.qps: Invalid value: -1: must be greater than 0"},
        {OBJ("Connection", "{driver: sim, region: r, rateLimit: {qps: 20000}}"),
         "spec.rateLimit.qps: Invalid value: 20000: must be less than or equal to 10000"},
        {OBJ("Connection", "{driver: sim, region: r, rateLimit: {burst: -5}}"),
         "spec.rateLimit.burst: Invalid value: -5: must be greater than or equal to 1"},
        {OBJ("Connection", "{driver: sim, region: r, rateLimit: {maxInFlight: 10001}}"),
         "spec.rateLimit.maxInFlight: Invalid value: 10001: must be less than or equal to 10000"},
        {OBJ("Connection", "{driver: sim, region: r, config: {'': x}}"),
         "spec.config: Invalid value: \"\": keys must be non-empty"},
        {OBJ("Connection", "{driver: local, region: lab, endpoint: 'https://api.example.com/v1', "
                           "rateLimit: {qps: 0.5}}"),
         NULL},
    };
    RUN(rows);
}

KUMO_TEST(rules_infra)
{
    static const rule_row rows[] = {
        {OBJ("Infra", "{}"), "spec.groups: Required value"},
        {OBJ("Infra", "{groups: [{" GROUP "}, {name: b, size: -1, connection: c, instanceType: t, "
                      "image: i}]}"),
         "spec.groups[1].size: Invalid value: -1: must be greater than or equal to 0"},
        {INFRA(GROUP ", size: 10001"),
         "spec.groups[0].size: Invalid value: 10001: must be less than or equal to 10000"},
        {OBJ("Infra", "{groups: [{" GROUP "}, {" GROUP "}]}"),
         "spec.groups[1].name: Duplicate value: \"a\""},
        {INFRA("connection: c, instanceType: t, image: i"), "spec.groups[0].name: Required value"},
        {INFRA("name: a, connection: c, instanceType: t"), "spec.groups[0].image: Required value"},
        {INFRA(GROUP ", placement: {vcpuMin: 2}"),
         "spec.groups[0].placement: Forbidden: may not be set together with connection and "
         "instanceType"},
        {INFRA("name: a, image: i"),
         "spec.groups[0]: Required value: either connection and instanceType, or placement"},
        {INFRA("name: a, connection: c, image: i"),
         "spec.groups[0].instanceType: Required value: with connection"},
        {INFRA("name: a, instanceType: t, image: i"),
         "spec.groups[0].connection: Required value: with instanceType"},
        {INFRA("name: Bad_Name, connection: c, instanceType: t, image: i"),
         "spec.groups[0].name: Invalid value: \"Bad_Name\": must consist of lower case "
         "alphanumeric "
         "characters or '-', and must start and end with an alphanumeric character (e.g. "
         "'my-name' or '123-abc')"},
        {INFRA(GROUP ", rootDisk: {sizeGib: -1}"),
         "spec.groups[0].rootDisk.sizeGib: Invalid value: -1: must be greater than or equal to 1"},
        {INFRA(GROUP ", labels: {'bad key': x}"),
         "spec.groups[0].labels: Invalid value: \"bad key\": name part must consist of "
         "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
         "character (e.g. 'MyName', 'my.name' or '123-abc')"},
        {OBJ("Infra", "{groups: [{" GROUP "}], networkCidr: 10.0.0.0/30}"),
         "spec.networkCidr: Invalid value: \"10.0.0.0/30\": prefix length must be between /8 and "
         "/28"},
        {OBJ("Infra", "{groups: [{" GROUP "}], networkCidr: 10.0.0/16}"),
         "spec.networkCidr: Invalid value: \"10.0.0/16\": must be a valid IPv4 CIDR (e.g. "
         "\"10.0.0.0/16\")"},
        {OBJ("Infra", "{groups: [{" GROUP "}], networkCidr: 10.0.0.1/16}"),
         "spec.networkCidr: Invalid value: \"10.0.0.1/16\": must be a network address without "
         "host bits (did you mean \"10.0.0.0/16\"?)"},
        {OBJ("Infra", "{groups: [{" GROUP "}], networkCidr: 010.0.0.0/16}"),
         "spec.networkCidr: Invalid value: \"010.0.0.0/16\": must be a valid IPv4 CIDR (e.g. "
         "\"10.0.0.0/16\")"},
        {OBJ("Infra", "{groups: [{" GROUP "}], sshPublicKey: not a key}"),
         "spec.sshPublicKey: Invalid value: \"not a key\": must be an OpenSSH public key: "
         "\"ssh-ed25519 \", \"ssh-rsa \" or \"ecdsa-sha2-nistp256/384/521 \" followed by the "
         "base64 key"},
        {OBJ("Infra", "{groups: [{" GROUP ", size: 0}], networkCidr: 172.16.0.0/12, sshPublicKey: "
                      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEmr979b me@host}"),
         NULL},
    };
    RUN(rows);
}

KUMO_TEST(rules_placement)
{
    static const rule_row rows[] = {
        {PLACED("{vcpuMin: 8, vcpuMax: 4}"),
         "spec.groups[0].placement.vcpuMax: Invalid value: 4: must be greater than or equal to "
         "vcpuMin (8)"},
        {PLACED("{memoryMibMin: -1}"),
         "spec.groups[0].placement.memoryMibMin: Invalid value: -1: must be greater than or equal "
         "to 0"},
        {PLACED("{gpuCount: 17}"),
         "spec.groups[0].placement.gpuCount: Invalid value: 17: must be less than or equal to 16"},
        {PLACED("{gpuModel: T4}"),
         "spec.groups[0].placement.gpuModel: Forbidden: may only be set when gpuCount is at least "
         "1"},
        {PLACED("{maxPricePerHour: -0.5}"),
         "spec.groups[0].placement.maxPricePerHour: Invalid value: -0.5: must be greater than 0"},
        {PLACED("{spreadConnections: 3}"),
         "spec.groups[0].placement.spreadConnections: Invalid value: 3: must be less than or "
         "equal to the group's size (2)"},
        {PLACED("{spreadConnections: 33}"),
         "spec.groups[0].placement.spreadConnections: Invalid value: 33: must be less than or "
         "equal to 32"},
        {PLACED("{userLocations: [{region: r, latitude: 1, longitude: 2}]}"),
         "spec.groups[0].placement.userLocations[0].latitude: Forbidden: may not be set together "
         "with region"},
        {PLACED("{userLocations: [{name: office}]}"),
         "spec.groups[0].placement.userLocations[0]: Required value: either region, or latitude "
         "and longitude"},
        {PLACED("{userLocations: [{latitude: 10}]}"),
         "spec.groups[0].placement.userLocations[0].longitude: Required value: with latitude"},
        {PLACED("{userLocations: [{latitude: 0, longitude: 200}]}"),
         "spec.groups[0].placement.userLocations[0].longitude: Invalid value: 200: must be less "
         "than or equal to 180"},
        {PLACED("{userLocations: [{latitude: -91, longitude: 0}]}"),
         "spec.groups[0].placement.userLocations[0].latitude: Invalid value: -91: must be greater "
         "than or equal to -90"},
        {PLACED("{userLocations: [{region: r, weight: 2000}]}"),
         "spec.groups[0].placement.userLocations[0].weight: Invalid value: 2000: must be less than "
         "or equal to 1000"},
        {PLACED("{userLocations: [{name: o, region: r}, {name: o, region: s}]}"),
         "spec.groups[0].placement.userLocations[1].name: Duplicate value: \"o\""},
        {PLACED("{providers: [aws, aws]}"),
         "spec.groups[0].placement.providers[1]: Duplicate value: \"aws\""},
        {PLACED("{regions: ['']}"), "spec.groups[0].placement.regions[0]: Required value"},
        {PLACED("{connectionSelector: {matchExpressions: [{key: tier}]}}"),
         "spec.groups[0].placement.connectionSelector.matchExpressions[0].operator: Required "
         "value"},
        {PLACED("{connectionSelector: {matchExpressions: [{key: tier, operator: In}]}}"),
         "spec.groups[0].placement.connectionSelector.matchExpressions[0].values: Required value: "
         "for operators In and NotIn"},
        {PLACED("{connectionSelector: {matchExpressions: [{key: tier, operator: Exists, values: "
                "[a]}]}}"),
         "spec.groups[0].placement.connectionSelector.matchExpressions[0].values: Forbidden: may "
         "not be set when operator is Exists or DoesNotExist"},
        {PLACED("{connectionSelector: {matchLabels: {tier: 'a b'}}}"),
         "spec.groups[0].placement.connectionSelector.matchLabels[\"tier\"]: Invalid value: \"a "
         "b\": a valid label must be an empty string or consist of alphanumeric characters, '-', "
         "'_' or '.', and must start and end with an alphanumeric character"},
        /* valid: 0 is a coordinate; region-only; Exists without values; size 0 skips spread */
        {PLACED("{userLocations: [{latitude: 0, longitude: 0}, {region: europe-west1}], "
                "spreadConnections: 2, connectionSelector: {matchExpressions: [{key: tier, "
                "operator: Exists}]}}"),
         NULL},
    };
    RUN(rows);
}

KUMO_TEST(rules_security_rules)
{
    static const rule_row rows[] = {
        {RULE("{protocol: TCP}"), "spec.groups[0].securityRules[0].fromPort: Required value"},
        {RULE("{fromPort: 90, toPort: 80}"),
         "spec.groups[0].securityRules[0].toPort: Invalid value: 80: must be greater than or "
         "equal to fromPort (90)"},
        {RULE("{fromPort: 70000}"),
         "spec.groups[0].securityRules[0].fromPort: Invalid value: 70000: must be less than or "
         "equal to 65535"},
        {RULE("{protocol: ICMP, fromPort: 8}"),
         "spec.groups[0].securityRules[0].fromPort: Forbidden: may only be set for TCP and UDP "
         "rules"},
        {RULE("{fromPort: 22, cidr: 10.0.0.0/33}"),
         "spec.groups[0].securityRules[0].cidr: Invalid value: \"10.0.0.0/33\": must be a valid "
         "IPv4 CIDR (e.g. \"10.0.0.0/16\")"},
        {RULE("{fromPort: 22, cidr: 1.2.3.4/0}"),
         "spec.groups[0].securityRules[0].cidr: Invalid value: \"1.2.3.4/0\": must be a network "
         "address without host bits (did you mean \"0.0.0.0/0\"?)"},
        {OBJ("SecurityGroup", "{connection: c, rules: [{protocol: UDP}]}"),
         "spec.rules[0].fromPort: Required value"},
        {OBJ("SecurityGroup", "{rules: [{protocol: All}]}"), "spec.connection: Required value"},
        {OBJ("SecurityGroup", "{connection: c, rules: [{protocol: All, direction: Outbound}, "
                              "{fromPort: 443}, {protocol: UDP, fromPort: 53, toPort: 53, cidr: "
                              "10.1.2.3/32}]}"),
         NULL},
    };
    RUN(rows);
}

KUMO_TEST(rules_machine_network_keypair)
{
    static const rule_row rows[] = {
        {OBJ("Machine", "{}"), "spec.connection: Required value"},
        {OBJ("Machine", "{connection: c}"), "spec.instanceType: Required value"},
        {OBJ("Machine", "{connection: c, instanceType: t}"), "spec.image: Required value"},
        {OBJ("Machine", "{connection: c, instanceType: t, image: i, subnet: a}"),
         "spec.subnet: Forbidden: may only be set together with networkRef"},
        {OBJ("Machine",
             "{connection: c, instanceType: t, image: i, securityGroupRefs: [{name: sg}, "
             "{name: sg}]}"),
         "spec.securityGroupRefs[1].name: Duplicate value: \"sg\""},
        {OBJ("Machine", "{connection: c, instanceType: t, image: i, keyPairRef: {name: Bad}}"),
         "spec.keyPairRef.name: Invalid value: \"Bad\": must consist of lower case alphanumeric "
         "characters or '-', and must start and end with an alphanumeric character (e.g. "
         "'my-name' or '123-abc')"},
        {OBJ("Network", "{connection: c}"), "spec.cidr: Required value"},
        {OBJ("Network", "{connection: c, cidr: 10.0.0.0/16, subnets: [{name: a, cidr: "
                        "10.1.0.0/24}]}"),
         "spec.subnets[0].cidr: Invalid value: \"10.1.0.0/24\": must be inside spec.cidr "
         "(10.0.0.0/16)"},
        {OBJ("Network", "{connection: c, cidr: 10.0.0.0/16, subnets: [{name: a, cidr: "
                        "10.0.1.0/24}, {name: b, cidr: 10.0.0.0/23}]}"),
         "spec.subnets[1].cidr: Invalid value: \"10.0.0.0/23\": overlaps spec.subnets[0].cidr "
         "(10.0.1.0/24)"},
        {OBJ("Network", "{connection: c, cidr: 10.0.0.0/16, subnets: [{name: a, cidr: "
                        "10.0.1.0/24}, {name: a, cidr: 10.0.2.0/24}]}"),
         "spec.subnets[1].name: Duplicate value: \"a\""},
        {OBJ("Network", "{connection: c, cidr: 10.0.0.0/16, subnets: [{name: a}]}"),
         "spec.subnets[0].cidr: Required value"},
        {OBJ("KeyPair", "{}"), "spec.connection: Required value"},
        {OBJ("KeyPair", "{connection: c, publicKey: ssh-rsa}"),
         "spec.publicKey: Invalid value: \"ssh-rsa\": must be an OpenSSH public key: "
         "\"ssh-ed25519 \", \"ssh-rsa \" or \"ecdsa-sha2-nistp256/384/521 \" followed by the "
         "base64 key"},
        {OBJ("KeyPair", "{connection: c, publicKey: 'ecdsa-sha2-nistp384 AAAAE2VjZHNh'}"), NULL},
        {OBJ("Network", "{connection: c, cidr: 10.0.0.0/16, subnets: [{name: a, cidr: "
                        "10.0.0.0/24, zone: us-east-1a}, {name: b, cidr: 10.0.1.0/24}]}"),
         NULL},
    };
    RUN(rows);
}

KUMO_TEST(rules_app)
{
    static const rule_row rows[] = {
        {OBJ("App", "{components: [{" COMPONENT "}]}"), "spec.infraRef: Required value"},
        {OBJ("App", "{infraRef: {name: shop}}"), "spec.components: Required value"},
        {OBJ("App", "{infraRef: {name: shop}, target: {group: web, selector: {}}, components: "
                    "[{" COMPONENT "}]}"),
         "spec.target.selector: Forbidden: may not be set together with group"},
        {APP("name: web"), "spec.components[0].command: Required value"},
        {APP("name: web, command: ['']"),
         "spec.components[0].command[0]: Required value: the program to run"},
        {OBJ("App", "{infraRef: {name: shop}, components: [{" COMPONENT "}, {" COMPONENT "}]}"),
         "spec.components[1].name: Duplicate value: \"web\""},
        {APP(COMPONENT ", ports: [{port: 8080}, {name: b, port: 8080, protocol: TCP}]"),
         "spec.components[0].ports[1]: Duplicate value: \"8080/TCP\""},
        {APP(COMPONENT ", ports: [{name: http}]"),
         "spec.components[0].ports[0].port: Required value"},
        {APP(COMPONENT ", ports: [{name: a, port: 1}, {name: a, port: 2}]"),
         "spec.components[0].ports[1].name: Duplicate value: \"a\""},
        {APP(COMPONENT ", env: [{name: 1BAD}]"),
         "spec.components[0].env[0].name: Invalid value: \"1BAD\": must consist of letters, "
         "digits and '_', and must not start with a digit (regex '[A-Za-z_][A-Za-z0-9_]*')"},
        {APP(COMPONENT ", env: [{name: A}, {name: A}]"),
         "spec.components[0].env[1].name: Duplicate value: \"A\""},
        {APP(COMPONENT ", files: [{path: ../x}]"),
         "spec.components[0].files[0].path: Invalid value: \"../x\": must not contain a '..' "
         "segment"},
        {APP(COMPONENT ", files: [{path: a, mode: '999'}]"),
         "spec.components[0].files[0].mode: Invalid value: \"999\": must be an octal mode like "
         "\"0644\""},
        {APP(COMPONENT ", files: [{path: a}, {path: a}]"),
         "spec.components[0].files[1].path: Duplicate value: \"a\""},
        {APP(COMPONENT ", artifact: {url: 'ftp://x'}"),
         "spec.components[0].artifact.url: Invalid value: \"ftp://x\": must be a URL starting "
         "with \"http://\", \"https://\" or \"file://\", without spaces"},
        {APP(COMPONENT ", artifact: {sha256: abc}"),
         "spec.components[0].artifact.url: Required value"},
        {APP(COMPONENT ", artifact: {url: 'https://x/a.tgz', sha256: abc}"),
         "spec.components[0].artifact.sha256: Invalid value: \"abc\": must be 64 hexadecimal "
         "characters"},
        {APP(COMPONENT ", workingDir: opt/x"),
         "spec.components[0].workingDir: Invalid value: \"opt/x\": must be an absolute path"},
        {APP(COMPONENT ", replicas: 65"),
         "spec.components[0].replicas: Invalid value: 65: must be less than or equal to 64"},
        {APP(COMPONENT ", resources: {cpuMillis: -1}"),
         "spec.components[0].resources.cpuMillis: Invalid value: -1: must be greater than or "
         "equal to 0"},
        {OBJ("App", "{infraRef: {name: shop}, rollingUpdate: {maxUnavailable: 0%}, components: "
                    "[{" COMPONENT "}]}"),
         "spec.rollingUpdate.maxUnavailable: Invalid value: \"0%\": must be an integer of at least "
         "1 (e.g. \"1\") or a percentage from \"1%\" to \"100%\""},
        {OBJ("App", "{infraRef: {name: shop}, rollingUpdate: {maxUnavailable: 101%}, components: "
                    "[{" COMPONENT "}]}"),
         "spec.rollingUpdate.maxUnavailable: Invalid value: \"101%\": must be an integer of at "
         "least 1 (e.g. \"1\") or a percentage from \"1%\" to \"100%\""},
        {OBJ("App", "{infraRef: {name: shop}, rollingUpdate: {maxUnavailable: '0'}, components: "
                    "[{" COMPONENT "}]}"),
         "spec.rollingUpdate.maxUnavailable: Invalid value: \"0\": must be an integer of at least "
         "1 (e.g. \"1\") or a percentage from \"1%\" to \"100%\""},
        /* valid: replicas 0, percent 100%, UDP and TCP on one port, selector target, file:// */
        {OBJ("App", "{infraRef: {name: shop}, target: {selector: {matchLabels: {role: web}}}, "
                    "rollingUpdate: {maxUnavailable: 100%}, components: [{" COMPONENT
                    ", replicas: 0, ports: [{port: 53, protocol: UDP}, {port: 53}], files: [{path: "
                    "/etc/x.conf, mode: '755'}], artifact: {url: 'file:///srv/a.tgz'}}]}"),
         NULL},
    };
    RUN(rows);
}

KUMO_TEST(rules_health_check)
{
    static const rule_row rows[] = {
        {APP(COMPONENT ", healthCheck: {type: HTTP}"),
         "spec.components[0].healthCheck.port: Required value"},
        {APP(COMPONENT ", healthCheck: {type: Command}"),
         "spec.components[0].healthCheck.command: Required value"},
        {APP(COMPONENT ", healthCheck: {port: 80}"),
         "spec.components[0].healthCheck.type: Required value"},
        {APP(COMPONENT ", healthCheck: {type: TCP, port: 80, path: /x}"),
         "spec.components[0].healthCheck.path: Forbidden: may only be set for HTTP checks"},
        {APP(COMPONENT ", healthCheck: {type: HTTP, port: 80, path: x}"),
         "spec.components[0].healthCheck.path: Invalid value: \"x\": must start with '/'"},
        {APP(COMPONENT ", healthCheck: {type: Command, command: [x], port: 80}"),
         "spec.components[0].healthCheck.port: Forbidden: may only be set for HTTP and TCP "
         "checks"},
        {APP(COMPONENT ", healthCheck: {type: TCP, port: 80, command: [x]}"),
         "spec.components[0].healthCheck.command: Forbidden: may only be set for Command checks"},
        {APP(COMPONENT
             ", healthCheck: {type: TCP, port: 80, intervalSeconds: 5, timeoutSeconds: 6}"),
         "spec.components[0].healthCheck.timeoutSeconds: Invalid value: 6: must be less than or "
         "equal to intervalSeconds (5)"},
        {APP(COMPONENT ", healthCheck: {type: TCP, port: 80, intervalSeconds: 3601}"),
         "spec.components[0].healthCheck.intervalSeconds: Invalid value: 3601: must be less than "
         "or equal to 3600"},
        {APP(COMPONENT ", healthCheck: {type: TCP, port: 80, failureThreshold: 101}"),
         "spec.components[0].healthCheck.failureThreshold: Invalid value: 101: must be less than "
         "or equal to 100"},
        {APP(COMPONENT ", healthCheck: {type: TCP, port: 80, initialDelaySeconds: -1}"),
         "spec.components[0].healthCheck.initialDelaySeconds: Invalid value: -1: must be greater "
         "than or equal to 0"},
        {APP(COMPONENT ", healthCheck: {type: TCP, port: 80, timeoutSeconds: 11}"),
         "spec.components[0].healthCheck.timeoutSeconds: Invalid value: 11: must be less than or "
         "equal to intervalSeconds (10)"},
        /* valid: a 1 s interval (the default timeout follows it down) */
        {APP(COMPONENT ", healthCheck: {type: HTTP, port: 80, intervalSeconds: 1}"), NULL},
    };
    RUN(rows);
}

KUMO_TEST(rules_loadbalancer)
{
    static const rule_row rows[] = {
        {OBJ("LoadBalancer", "{backends: [" BACKEND "]}"), "spec.listeners: Required value"},
        {OBJ("LoadBalancer", "{listeners: [" LISTENER "]}"), "spec.backends: Required value"},
        {LB(LISTENER ", {name: web, port: 80}", BACKEND, ""),
         "spec.listeners[1].port: Duplicate value: 80"},
        {LB(LISTENER ", {name: http, port: 81}", BACKEND, ""),
         "spec.listeners[1].name: Duplicate value: \"http\""},
        {LB("{name: https, port: 443, protocol: HTTPS}", BACKEND, ""),
         "spec.listeners[0].tlsCredentialRef: Required value: HTTPS listeners need a Credential "
         "of type tls"},
        {LB("{name: tcp, port: 443, tlsCredentialRef: {name: tls}}", BACKEND, ""),
         "spec.listeners[0].tlsCredentialRef: Forbidden: may only be set for HTTPS listeners"},
        {LB(LISTENER, "{name: b, port: 80}", ""),
         "spec.backends[0]: Required value: either appRef or addresses"},
        {LB(LISTENER, "{name: b, appRef: {name: shop}, component: web, addresses: [10.0.0.1]}", ""),
         "spec.backends[0].addresses: Forbidden: may not be set together with appRef"},
        {LB(LISTENER, "{name: b, appRef: {name: shop}}", ""),
         "spec.backends[0].component: Required value"},
        {LB(LISTENER, "{name: b, addresses: [10.0.0.1], component: web, port: 80}", ""),
         "spec.backends[0].component: Forbidden: may only be set together with appRef"},
        {LB(LISTENER, "{name: b, addresses: [10.0.0.1]}", ""),
         "spec.backends[0].port: Required value"},
        {LB(LISTENER, "{name: b, addresses: [300.1.1.1], port: 80}", ""),
         "spec.backends[0].addresses[0]: Invalid value: \"300.1.1.1\": must be an IPv4 address or "
         "a DNS host name"},
        {LB(LISTENER, "{name: b, addresses: [a.example.com, a.example.com], port: 80}", ""),
         "spec.backends[0].addresses[1]: Duplicate value: \"a.example.com\""},
        {LB(LISTENER, "{name: b, addresses: [10.0.0.1], port: 80, listeners: [nope]}", ""),
         "spec.backends[0].listeners[0]: Not found: \"nope\": must name a listener in "
         "spec.listeners"},
        {LB(LISTENER, "{name: b, addresses: [10.0.0.1], port: 80, weight: 1001}", ""),
         "spec.backends[0].weight: Invalid value: 1001: must be less than or equal to 1000"},
        {LB(LISTENER, BACKEND ", " BACKEND, ""), "spec.backends[1].name: Duplicate value: \"b\""},
        {LB(LISTENER, BACKEND, ", healthCheck: {type: Command, command: [x]}"),
         "spec.healthCheck.type: Unsupported value: \"Command\": supported values: \"HTTP\", "
         "\"TCP\""},
        {LB(LISTENER, BACKEND, ", sessionAffinity: {type: Cookie}"),
         "spec.sessionAffinity.type: Invalid value: \"Cookie\": needs every listener to be HTTP or "
         "HTTPS (spec.listeners[0] is TCP)"},
        {LB(LISTENER, BACKEND, ", sessionAffinity: {type: ClientIP, cookieName: c}"),
         "spec.sessionAffinity.cookieName: Forbidden: may only be set for Cookie affinity"},
        {LB(LISTENER, BACKEND, ", sessionAffinity: {type: ClientIP, timeoutSeconds: 100000}"),
         "spec.sessionAffinity.timeoutSeconds: Invalid value: 100000: must be less than or equal "
         "to 86400"},
        {LB("{name: http, port: 80, protocol: HTTP}", BACKEND,
            ", sessionAffinity: {type: Cookie, cookieName: 'a b'}"),
         "spec.sessionAffinity.cookieName: Invalid value: \"a b\": must consist of alphanumeric "
         "characters, '-' or '_'"},
        /* valid: weight 0 drains; cookie with HTTP listeners; host names; listener subset */
        {LB("{name: http, port: 80, protocol: HTTP}, {name: https, port: 443, protocol: HTTPS, "
            "tlsCredentialRef: {name: tls}}",
            "{name: b, addresses: [10.0.0.1, api.Example.com], port: 80, weight: 0, listeners: "
            "[https]}",
            ", policy: Weighted, sessionAffinity: {type: Cookie}, healthCheck: {type: HTTP}"),
         NULL},
    };
    RUN(rows);
}

KUMO_TEST(rules_migration)
{
    static const rule_row rows[] = {
        {OBJ("Migration", "{target: {connection: c, instanceType: t}}"),
         "spec.source: Required value: either infraRef and group, or appRef"},
        {OBJ("Migration", "{source: {appRef: {name: shop}}}"),
         "spec.target: Required value: either connection and instanceType, or placement"},
        {OBJ("Migration", "{source: {infraRef: {name: shop}, group: web, appRef: {name: shop}}, "
                          "target: {connection: c, instanceType: t}}"),
         "spec.source.appRef: Forbidden: may not be set together with infraRef and group"},
        {OBJ("Migration", "{source: {infraRef: {name: shop}}, target: {connection: c, "
                          "instanceType: t}}"),
         "spec.source.group: Required value"},
        {OBJ("Migration", "{source: {group: web}, target: {connection: c, instanceType: t}}"),
         "spec.source.infraRef: Required value"},
        {OBJ("Migration", "{source: {}, target: {connection: c, instanceType: t}}"),
         "spec.source: Required value: either infraRef and group, or appRef"},
        {OBJ("Migration", "{source: {appRef: {name: shop}}, target: {connection: c, instanceType: "
                          "t, placement: {}}}"),
         "spec.target.placement: Forbidden: may not be set together with connection and "
         "instanceType"},
        {OBJ("Migration", "{source: {appRef: {name: shop}}, target: {image: i}}"),
         "spec.target: Required value: either connection and instanceType, or placement"},
        {MIGRATION(", cutover: {steps: [{weight: 100}]}"),
         "spec.cutover.steps: Forbidden: may only be set together with loadBalancerRef"},
        {MIGRATION(", cutover: {loadBalancerRef: {name: lb}, steps: [{weight: 50}, {weight: 50}, "
                   "{weight: 100}]}"),
         "spec.cutover.steps[1].weight: Invalid value: 50: must be greater than the previous "
         "step's weight (50)"},
        {MIGRATION(", cutover: {loadBalancerRef: {name: lb}, steps: [{weight: 10}, {weight: 50}]}"),
         "spec.cutover.steps[1].weight: Invalid value: 50: the last step must have weight 100"},
        {MIGRATION(", cutover: {loadBalancerRef: {name: lb}, steps: [{pauseSeconds: 5}, {weight: "
                   "100}]}"),
         "spec.cutover.steps[0].weight: Invalid value: 0: must be greater than or equal to 1"},
        {MIGRATION(", cutover: {loadBalancerRef: {name: lb}, steps: [{weight: 100, pauseSeconds: "
                   "-1}]}"),
         "spec.cutover.steps[0].pauseSeconds: Invalid value: -1: must be greater than or equal to "
         "0"},
        {MIGRATION(", timeouts: {provisionSeconds: 100000}"),
         "spec.timeouts.provisionSeconds: Invalid value: 100000: must be less than or equal to "
         "86400"},
        {MIGRATION(", timeouts: {drainSeconds: -1}"),
         "spec.timeouts.drainSeconds: Invalid value: -1: must be greater than or equal to 1"},
        {MIGRATION(", timeouts: {stepSeconds: -5}"),
         "spec.timeouts.stepSeconds: Invalid value: -5: must be greater than or equal to 1"},
        /* valid: placement target; lb without steps (defaulted to [100]); rollback false */
        {OBJ("Migration", "{source: {infraRef: {name: shop}, group: web}, target: {placement: "
                          "{vcpuMin: 2, spreadConnections: 5}}, strategy: Rolling, "
                          "rollbackOnFailure: false, cutover: {loadBalancerRef: {name: lb}}}"),
         NULL},
    };
    RUN(rows);
}

#define EVENT(fields)                                                                              \
    "{apiVersion: kumo.dev/v1alpha1, kind: Event, metadata: {name: e1}, " fields "}"
#define INVOLVED "involvedObject: {kind: Machine, name: m1}"

KUMO_TEST(rules_event)
{
    static const rule_row rows[] = {
        {EVENT("type: Warning, reason: InvalidSpec"),
         "involvedObject: Required value: the object the event is about"},
        {EVENT(INVOLVED ", reason: InvalidSpec"), "type: Required value: Normal or Warning"},
        {EVENT(INVOLVED ", type: Error, reason: X"),
         "type: Unsupported value: \"Error\": supported values: \"Normal\", \"Warning\""},
        {EVENT(INVOLVED ", type: Normal"), "reason: Required value"},
        {EVENT("involvedObject: {kind: Machine}, type: Normal, reason: X"),
         "involvedObject.name: Required value"},
        {EVENT(INVOLVED ", type: Normal, reason: X, count: -1"),
         "count: Invalid value: -1: must be greater than or equal to 0"},
        {EVENT(INVOLVED ", type: Warning, reason: InvalidSpec, message: no, count: 2"), NULL},
    };
    RUN(rows);
}
