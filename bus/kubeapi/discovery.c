/*
 * discovery.c - the documents a Kubernetes client reads before anything
 * else, built once at start from the kind registry:
 *
 *   /version                 the Kubernetes version kumo answers as
 *   /api, /api/v1            core/v1: namespaces and events (resources.c)
 *   /apis                    APIGroupList, or APIGroupDiscoveryList
 *                            (apidiscovery.k8s.io/v2) when Accept asks for it
 *   /apis/kumo.dev[/v1alpha1] APIGroup, APIResourceList
 */
#include "bus/kubeapi/internal.h"

#include <string.h>

#define KUBEAPI_MAJOR   "1"
#define KUBEAPI_MINOR   "32"
#define AGGREGATED_TYPE "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

static const char verbs_json[] =
    "[\"create\",\"delete\",\"get\",\"list\",\"patch\",\"update\",\"watch\"]";

static void short_names(kumo_codec_buffer *b, const kumo_object_kind *k)
{
    kubeapi_json_raw(b, "[");
    for (const char *const *n = k->short_names; n != NULL && *n != NULL; n++) {
        if (n != k->short_names)
            kubeapi_json_raw(b, ",");
        kubeapi_json_string(b, *n);
    }
    kubeapi_json_raw(b, "]");
}

static void build_group_resources(kumo_kubeapi *s)
{
    kumo_codec_buffer *b = &s->group_resources;
    kubeapi_json_format(b,
                        "{\"kind\":\"APIResourceList\",\"apiVersion\":\"v1\","
                        "\"groupVersion\":\"%s\",\"resources\":[",
                        KUMO_API_VERSION);
    for (size_t i = 0; i < kumo_object_kind_count(); i++) {
        const kumo_object_kind *k = kumo_object_kind_at(i);
        kubeapi_json_format(b,
                            "%s{\"name\":\"%s\",\"singularName\":\"%s\",\"namespaced\":true,"
                            "\"kind\":\"%s\",\"verbs\":%s,\"shortNames\":",
                            i ? "," : "", k->plural, k->singular, k->kind, verbs_json);
        short_names(b, k);
        kubeapi_json_format(b,
                            ",\"categories\":[\"kumo\"]},{\"name\":\"%s/status\",\"singularName\":"
                            "\"\",\"namespaced\":true,\"kind\":\"%s\",\"verbs\":[\"get\","
                            "\"patch\",\"update\"]}",
                            k->plural, k->kind);
    }
    kubeapi_json_raw(b, "]}");
}

static void build_aggregated(kumo_kubeapi *s)
{
    kumo_codec_buffer *b = &s->apis_aggregated;
    kubeapi_json_format(b,
                        "{\"kind\":\"APIGroupDiscoveryList\",\"apiVersion\":"
                        "\"apidiscovery.k8s.io/v2\",\"metadata\":{},\"items\":[{\"metadata\":"
                        "{\"name\":\"%s\"},\"versions\":[{\"version\":\"v1alpha1\",\"freshness\":"
                        "\"Current\",\"resources\":[",
                        KUMO_API_GROUP);
    for (size_t i = 0; i < kumo_object_kind_count(); i++) {
        const kumo_object_kind *k = kumo_object_kind_at(i);
        kubeapi_json_format(b,
                            "%s{\"resource\":\"%s\",\"responseKind\":{\"group\":\"%s\","
                            "\"version\":\"v1alpha1\",\"kind\":\"%s\"},\"scope\":\"Namespaced\","
                            "\"singularResource\":\"%s\",\"verbs\":%s,\"shortNames\":",
                            i ? "," : "", k->plural, KUMO_API_GROUP, k->kind, k->singular,
                            verbs_json);
        short_names(b, k);
        kubeapi_json_format(b,
                            ",\"categories\":[\"kumo\"],\"subresources\":[{\"subresource\":"
                            "\"status\",\"responseKind\":{\"group\":\"%s\",\"version\":"
                            "\"v1alpha1\",\"kind\":\"%s\"},\"verbs\":[\"get\",\"patch\","
                            "\"update\"]}]}",
                            KUMO_API_GROUP, k->kind);
    }
    kubeapi_json_raw(b, "]}]}]}");
}

kumo_error kubeapi_discovery_build(kumo_kubeapi *s, kumo_diag *diag)
{
    (void)diag;
    kubeapi_json_format(&s->version_doc,
                        "{\"major\":\"%s\",\"minor\":\"%s\",\"gitVersion\":\"v%s.%s.0-kumo\","
                        "\"gitCommit\":\"\",\"gitTreeState\":\"clean\",\"buildDate\":"
                        "\"1970-01-01T00:00:00Z\",\"goVersion\":\"none (C)\",\"compiler\":"
                        "\"gcc\",\"platform\":\"linux/amd64\"}",
                        KUBEAPI_MAJOR, KUBEAPI_MINOR, KUBEAPI_MAJOR, KUBEAPI_MINOR);
    kubeapi_json_raw(&s->api_doc, "{\"kind\":\"APIVersions\",\"versions\":[\"v1\"],"
                                  "\"serverAddressByClientCIDRs\":[{\"clientCIDR\":\"0.0.0.0/0\","
                                  "\"serverAddress\":\"\"}]}");
    kubeapi_json_raw(
        &s->core_resources,
        "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":["
        "{\"name\":\"namespaces\",\"singularName\":\"namespace\",\"namespaced\":"
        "false,\"kind\":\"Namespace\",\"verbs\":[\"get\",\"list\"],\"shortNames\":"
        "[\"ns\"]},{\"name\":\"events\",\"singularName\":\"event\",\"namespaced\":"
        "true,\"kind\":\"Event\",\"verbs\":[\"list\",\"watch\"],\"shortNames\":[\"ev\"]}]}");
    const char *group_fmt = "{\"name\":\"%s\",\"versions\":[{\"groupVersion\":\"%s\",\"version\":"
                            "\"v1alpha1\"}],\"preferredVersion\":{\"groupVersion\":\"%s\","
                            "\"version\":\"v1alpha1\"}}";
    kubeapi_json_raw(&s->apis_legacy, "{\"kind\":\"APIGroupList\",\"apiVersion\":\"v1\","
                                      "\"groups\":[");
    kubeapi_json_format(&s->apis_legacy, group_fmt, KUMO_API_GROUP, KUMO_API_VERSION,
                        KUMO_API_VERSION);
    kubeapi_json_raw(&s->apis_legacy, "]}");
    kubeapi_json_raw(&s->group_doc, "{\"kind\":\"APIGroup\",\"apiVersion\":\"v1\",");
    kubeapi_json_format(&s->group_doc, group_fmt + 1, KUMO_API_GROUP, KUMO_API_VERSION,
                        KUMO_API_VERSION);
    build_group_resources(s);
    build_aggregated(s);
    return KUMO_ERROR_OK;
}

/* 1 when Accept asks for aggregated discovery v2 (client-go's AcceptV2). */
static int wants_aggregated(const char *accept)
{
    return accept != NULL && strstr(accept, "g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
}

static void send_doc(struct evhttp_request *req, const kumo_codec_buffer *doc, const char *type)
{
    kubeapi_send(req, 200, type, doc->data, doc->len);
}

int kubeapi_discovery_serve(kumo_kubeapi *s, struct evhttp_request *req, const char *path,
                            const char *accept)
{
    static const char json[] = "application/json";
    char group_path[64], version_path[64];
    snprintf(group_path, sizeof(group_path), "/apis/%s", KUMO_API_GROUP);
    snprintf(version_path, sizeof(version_path), "/apis/%s", KUMO_API_VERSION);
    if (strcmp(path, "/version") == 0 || strcmp(path, "/version/") == 0)
        send_doc(req, &s->version_doc, json);
    else if (strcmp(path, "/api") == 0 || strcmp(path, "/api/") == 0)
        send_doc(req, &s->api_doc, json);
    else if (strcmp(path, "/api/v1") == 0)
        send_doc(req, &s->core_resources, json);
    else if ((strcmp(path, "/apis") == 0 || strcmp(path, "/apis/") == 0) &&
             wants_aggregated(accept))
        send_doc(req, &s->apis_aggregated, AGGREGATED_TYPE);
    else if (strcmp(path, "/apis") == 0 || strcmp(path, "/apis/") == 0)
        send_doc(req, &s->apis_legacy, json);
    else if (strcmp(path, group_path) == 0)
        send_doc(req, &s->group_doc, json);
    else if (strcmp(path, version_path) == 0)
        send_doc(req, &s->group_resources, json);
    else if (strcmp(path, "/openapi/v3") == 0)
        send_doc(req, &s->openapi_root, json);
    else if (strcmp(path, "/openapi/v3/apis/" KUMO_API_VERSION) == 0)
        send_doc(req, &s->openapi_group, json);
    else if (strcmp(path, "/openapi/v2") == 0)
        /* kubectl asks for it only when v3 is missing or incomplete; NotFound makes it go on */
        kubeapi_send_error(req, KUMO_ERROR_NOT_FOUND,
                           "OpenAPI v2 is not served: kumo publishes OpenAPI v3 (/openapi/v3)");
    else
        return 0;
    return 1;
}
