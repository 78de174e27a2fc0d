/*
 * catalog.c - what an AWS region offers, from the EC2 API itself:
 *
 *   regions         DescribeRegions (+ DescribeAvailabilityZones for the
 *                   connection's region); coordinates and display names come
 *                   from the table below (EC2 does not say where a region is);
 *   instance types  DescribeInstanceTypes, every page: vCPU, memory, GPUs,
 *                   architecture; the price from the connection's price file;
 *   images          DescribeImages once for the image names kumo knows (the
 *                   newest matching AMI per name); a Machine may also name an
 *                   AMI id, used as is.
 */
#include "drivers/aws/internal.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct region_place {
    const char *name;
    const char *display;
    double lat, lon;
};

static const struct region_place places[] = {
    {"us-east-1", "US East (N. Virginia)", 38.9, -77.4},
    {"us-east-2", "US East (Ohio)", 40.0, -83.0},
    {"us-west-1", "US West (N. California)", 37.4, -121.9},
    {"us-west-2", "US West (Oregon)", 45.8, -119.7},
    {"ca-central-1", "Canada (Central)", 45.5, -73.6},
    {"ca-west-1", "Canada West (Calgary)", 51.0, -114.1},
    {"sa-east-1", "South America (Sao Paulo)", -23.5, -46.6},
    {"eu-west-1", "Europe (Ireland)", 53.3, -6.3},
    {"eu-west-2", "Europe (London)", 51.5, -0.1},
    {"eu-west-3", "Europe (Paris)", 48.9, 2.3},
    {"eu-central-1", "Europe (Frankfurt)", 50.1, 8.7},
    {"eu-central-2", "Europe (Zurich)", 47.4, 8.5},
    {"eu-north-1", "Europe (Stockholm)", 59.3, 18.1},
    {"eu-south-1", "Europe (Milan)", 45.5, 9.2},
    {"eu-south-2", "Europe (Spain)", 41.6, -0.9},
    {"me-south-1", "Middle East (Bahrain)", 26.1, 50.6},
    {"me-central-1", "Middle East (UAE)", 24.5, 54.4},
    {"il-central-1", "Israel (Tel Aviv)", 32.1, 34.8},
    {"af-south-1", "Africa (Cape Town)", -33.9, 18.4},
    {"ap-east-1", "Asia Pacific (Hong Kong)", 22.3, 114.2},
    {"ap-south-1", "Asia Pacific (Mumbai)", 19.1, 72.9},
    {"ap-south-2", "Asia Pacific (Hyderabad)", 17.4, 78.5},
    {"ap-northeast-1", "Asia Pacific (Tokyo)", 35.7, 139.7},
    {"ap-northeast-2", "Asia Pacific (Seoul)", 37.6, 127.0},
    {"ap-northeast-3", "Asia Pacific (Osaka)", 34.7, 135.5},
    {"ap-southeast-1", "Asia Pacific (Singapore)", 1.3, 103.8},
    {"ap-southeast-2", "Asia Pacific (Sydney)", -33.9, 151.2},
    {"ap-southeast-3", "Asia Pacific (Jakarta)", -6.2, 106.8},
    {"ap-southeast-4", "Asia Pacific (Melbourne)", -37.8, 145.0},
    {"ap-southeast-5", "Asia Pacific (Malaysia)", 3.1, 101.7},
};

static const struct region_place *place_of(const char *name)
{
    for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++)
        if (strcmp(places[i].name, name) == 0)
            return &places[i];
    return NULL;
}

/* ---- Regions ------------------------------------------------------------------------ */

static void pack_regions(struct kumo_driver_kit_pack *p, xmlNodePtr regions, xmlNodePtr zones,
                         const char *own)
{
    size_t n = 0, z = 0;
    AWS_XML_ITEMS(it, regions, "regionInfo")
    n++;
    AWS_XML_ITEMS(it, zones, "availabilityZoneInfo")
    z++;
    const void **slots = kumo_driver_kit_pack_list(p, n);
    const char **zone_names =
        kumo_driver_kit_pack_take(p, (z + 1) * sizeof(char *), alignof(char *));
    size_t i = 0, j = 0;
    AWS_XML_ITEMS(it, zones, "availabilityZoneInfo")
    {
        const char *name = kumo_driver_kit_pack_str(p, aws_xml_text(it, "zoneName"));
        if (zone_names)
            zone_names[j] = name;
        j++;
    }
    AWS_XML_ITEMS(it, regions, "regionInfo")
    {
        struct kumo_driver_region *r =
            kumo_driver_kit_pack_take(p, sizeof(*r), alignof(struct kumo_driver_region));
        const char *name = aws_xml_text(it, "regionName");
        const struct region_place *place = place_of(name);
        int mine = strcmp(name, own) == 0;
        struct kumo_driver_region v = {sizeof(v),
                                       kumo_driver_kit_pack_str(p, name),
                                       kumo_driver_kit_pack_str(p, place ? place->display : name),
                                       place ? place->lat : 0,
                                       place ? place->lon : 0,
                                       mine ? zone_names : NULL,
                                       mine ? z : 0};
        if (r != NULL) {
            *r = v;
            if (v.zones == NULL)
                r->zones = zone_names; /* an empty, valid array */
            slots[i] = r;
        }
        i++;
    }
}

kumo_driver_code aws_catalog_regions(struct kumo_driver_conn *c, int64_t deadline_ns,
                                     struct kumo_driver_region_list **out,
                                     struct kumo_driver_diag *diag)
{
    *out = NULL;
    struct aws_params p;
    struct aws_reply regions, zones;
    aws_params_init(&p, "DescribeRegions");
    kumo_driver_code rc = aws_call(c, &p, "regions", deadline_ns, &regions, diag);
    aws_params_fini(&p);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    aws_params_init(&p, "DescribeAvailabilityZones");
    rc = aws_call(c, &p, "zones", deadline_ns, &zones, diag);
    aws_params_fini(&p);
    if (rc == KUMO_DRIVER_OK) {
        void *block = NULL;
        KUMO_DRIVER_KIT_PACK_TWICE(aws_host, block, pk,
                                   pack_regions(pk, regions.root, zones.root, c->region));
        rc = AWS_OUT(out, block, diag);
        aws_reply_free(&zones);
    }
    aws_reply_free(&regions);
    return rc;
}

/* ---- Instance types ---------------------------------------------------------------- */

static int32_t int_of(const char *s)
{
    long v = strtol(s, NULL, 10);
    return v < 0 || v > INT32_MAX ? 0 : (int32_t)v;
}

/* The rows of all pages, as borrowed nodes of the kept documents. */
struct type_pages {
    struct aws_reply *pages;
    size_t count;
};

static void pack_type(struct kumo_driver_kit_pack *p, const struct kumo_driver_conn *c,
                      xmlNodePtr it, const void **slot)
{
    struct kumo_driver_instance_type *t =
        kumo_driver_kit_pack_take(p, sizeof(*t), alignof(struct kumo_driver_instance_type));
    struct kumo_driver_instance_type v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    const char *name = aws_xml_text(it, "instanceType");
    v.name = kumo_driver_kit_pack_str(p, name);
    v.vcpu = int_of(aws_xml_text(aws_xml_child(it, "vCpuInfo"), "defaultVCpus"));
    v.memory_mib = int_of(aws_xml_text(aws_xml_child(it, "memoryInfo"), "sizeInMiB"));
    xmlNodePtr gpus = aws_xml_child(it, "gpuInfo");
    xmlNodePtr gpu = gpus ? aws_xml_child(aws_xml_child(gpus, "gpus"), "item") : NULL;
    v.gpu_count = gpu ? int_of(aws_xml_text(gpu, "count")) : 0;
    v.gpu_memory_mib =
        gpu ? int_of(aws_xml_text(aws_xml_child(gpu, "memoryInfo"), "sizeInMiB")) : 0;
    v.gpu_model = kumo_driver_kit_pack_str(p, gpu ? aws_xml_text(gpu, "name") : "");
    xmlNodePtr arch = aws_xml_child(aws_xml_child(it, "processorInfo"), "supportedArchitectures");
    const char *a = arch ? aws_xml_text(aws_xml_child(arch, "item"), NULL) : "";
    v.arch = kumo_driver_kit_pack_str(p, strcmp(a, "arm64") == 0 ? "arm64" : "x86_64");
    const char *currency = "USD";
    v.price_per_hour = aws_price_of(c, name, &currency);
    v.currency = kumo_driver_kit_pack_str(p, currency);
    if (t != NULL) {
        *t = v;
        *slot = t;
    }
}

static void pack_types(struct kumo_driver_kit_pack *p, const struct kumo_driver_conn *c,
                       const struct type_pages *tp)
{
    size_t n = 0, i = 0;
    for (size_t k = 0; k < tp->count; k++)
        AWS_XML_ITEMS(it, tp->pages[k].root, "instanceTypeSet")
    n++;
    const void **slots = kumo_driver_kit_pack_list(p, n);
    for (size_t k = 0; k < tp->count; k++)
        AWS_XML_ITEMS(it, tp->pages[k].root, "instanceTypeSet")
        {
            const void *ignored;
            pack_type(p, c, it, slots ? &slots[i] : &ignored);
            i++;
        }
}

/* One DescribeInstanceTypes page: all types (next token) or the priced types from `first`. */
static kumo_driver_code types_page(struct kumo_driver_conn *c, const char *next, size_t first,
                                   int64_t deadline_ns, struct aws_reply *r,
                                   struct kumo_driver_diag *diag)
{
    struct aws_params p;
    aws_params_init(&p, "DescribeInstanceTypes");
    if (c->price_count == 0) {
        aws_params_add(&p, "MaxResults", "100");
        if (next[0])
            aws_params_add(&p, "NextToken", next);
    }
    for (size_t i = first; i < c->price_count && i < first + 100; i++) {
        char key[40];
        snprintf(key, sizeof(key), "InstanceType.%zu", i - first + 1);
        aws_params_add(&p, key, c->prices[i].type);
    }
    kumo_driver_code rc = aws_call(c, &p, "instance types", deadline_ns, r, diag);
    aws_params_fini(&p);
    return rc;
}

/*
 * With a price file for the region, the catalog is the priced types (one
 * call per 100 of them): a type without a price cannot be ranked by cost.
 * Without one, every type the region offers, priced 0.
 */
kumo_driver_code aws_catalog_instance_types(struct kumo_driver_conn *c, int64_t deadline_ns,
                                            struct kumo_driver_instance_type_list **out,
                                            struct kumo_driver_diag *diag)
{
    *out = NULL;
    struct type_pages tp = {NULL, 0};
    char next[2048] = "";
    size_t first = 0;
    kumo_driver_code rc = KUMO_DRIVER_OK;
    do {
        struct aws_reply *grown = realloc(tp.pages, (tp.count + 1) * sizeof(*grown));
        if (grown == NULL) {
            rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory");
            break;
        }
        tp.pages = grown;
        rc = types_page(c, next, first, deadline_ns, &tp.pages[tp.count], diag);
        if (rc != KUMO_DRIVER_OK)
            break;
        snprintf(next, sizeof(next), "%s", aws_xml_text(tp.pages[tp.count].root, "nextToken"));
        tp.count++;
        first += 100;
    } while (tp.count < 100 && (c->price_count ? first < c->price_count : next[0] != '\0'));
    if (rc == KUMO_DRIVER_OK) {
        void *block = NULL;
        KUMO_DRIVER_KIT_PACK_TWICE(aws_host, block, pk, pack_types(pk, c, &tp));
        rc = AWS_OUT(out, block, diag);
    }
    for (size_t k = 0; k < tp.count; k++)
        aws_reply_free(&tp.pages[k]);
    free(tp.pages);
    return rc;
}

/* ---- Images ------------------------------------------------------------------------ */

/* The image names kumo knows, the AMI name pattern and owner that publish them. */
struct known_image {
    const char *name;
    const char *pattern; /* DescribeImages name filter (wildcards) */
    const char *owner;
    const char *os;
    const char *arch;
};

static const struct known_image known_images[] = {
    {"amazon-linux-2023", "al2023-ami-2023.*-x86_64", "137112412989", "linux", "x86_64"},
    {"amazon-linux-2023-arm64", "al2023-ami-2023.*-arm64", "137112412989", "linux", "arm64"},
    {"amazon-linux-2", "amzn2-ami-hvm-2.0.*-x86_64-gp2", "137112412989", "linux", "x86_64"},
    {"ubuntu-22.04", "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*", "099720109477",
     "linux", "x86_64"},
    {"ubuntu-24.04", "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*", "099720109477",
     "linux", "x86_64"},
    {"debian-12", "debian-12-amd64-*", "136693071363", "linux", "x86_64"},
};
#define KNOWN_IMAGES (sizeof(known_images) / sizeof(known_images[0]))

/* 1 when name matches a pattern whose only wildcard is '*'. */
static int glob_match(const char *pattern, const char *name)
{
    if (*pattern == '\0')
        return *name == '\0';
    if (*pattern == '*')
        return glob_match(pattern + 1, name) || (*name && glob_match(pattern, name + 1));
    return *name == *pattern && glob_match(pattern + 1, name + 1);
}

/* The newest image (by creationDate, then name) of the reply matching known image k. */
static xmlNodePtr newest_of(xmlNodePtr root, const struct known_image *k)
{
    xmlNodePtr best = NULL;
    AWS_XML_ITEMS(it, root, "imagesSet")
    {
        if (!glob_match(k->pattern, aws_xml_text(it, "name")) ||
            strcmp(aws_xml_text(it, "imageOwnerId"), k->owner) != 0)
            continue;
        if (best == NULL)
            best = it;
        else {
            int d = strcmp(aws_xml_text(it, "creationDate"), aws_xml_text(best, "creationDate"));
            if (d > 0 ||
                (d == 0 && strcmp(aws_xml_text(it, "name"), aws_xml_text(best, "name")) > 0))
                best = it;
        }
    }
    return best;
}

static void pack_images(struct kumo_driver_kit_pack *p, xmlNodePtr root)
{
    size_t n = 0, i = 0;
    for (size_t k = 0; k < KNOWN_IMAGES; k++)
        n += newest_of(root, &known_images[k]) != NULL;
    const void **slots = kumo_driver_kit_pack_list(p, n);
    for (size_t k = 0; k < KNOWN_IMAGES; k++) {
        xmlNodePtr it = newest_of(root, &known_images[k]);
        if (it == NULL)
            continue;
        struct kumo_driver_image *m =
            kumo_driver_kit_pack_take(p, sizeof(*m), alignof(struct kumo_driver_image));
        struct kumo_driver_image v = {sizeof(v),
                                      kumo_driver_kit_pack_str(p, known_images[k].name),
                                      kumo_driver_kit_pack_str(p, known_images[k].os),
                                      kumo_driver_kit_pack_str(p, known_images[k].arch),
                                      kumo_driver_kit_pack_str(p, aws_xml_text(it, "imageId")),
                                      kumo_driver_kit_pack_str(p, aws_xml_text(it, "name"))};
        if (m != NULL) {
            *m = v;
            slots[i] = m;
        }
        i++;
    }
}

/* One DescribeImages for every known name (or only `only`); fills the connection's cache. */
static kumo_driver_code images_describe(struct kumo_driver_conn *c, const struct known_image *only,
                                        int64_t deadline_ns, struct aws_reply *reply,
                                        struct kumo_driver_diag *diag)
{
    struct aws_params p;
    aws_params_init(&p, "DescribeImages");
    aws_params_add(&p, "Filter.1.Name", "name");
    int v = 1, o = 1;
    for (size_t k = 0; k < KNOWN_IMAGES; k++) {
        const struct known_image *ki = &known_images[k];
        if (only != NULL && ki != only)
            continue;
        char key[48];
        snprintf(key, sizeof(key), "Filter.1.Value.%d", v++);
        aws_params_add(&p, key, ki->pattern);
        int seen = 0;
        for (size_t j = 0; j < k; j++)
            seen |= (only == NULL && strcmp(known_images[j].owner, ki->owner) == 0);
        if (!seen) {
            snprintf(key, sizeof(key), "Owner.%d", o++);
            aws_params_add(&p, key, ki->owner);
        }
    }
    aws_params_add(&p, "Filter.2.Name", "state");
    aws_params_add(&p, "Filter.2.Value.1", "available");
    kumo_driver_code rc = aws_call(c, &p, "images", deadline_ns, reply, diag);
    aws_params_fini(&p);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    for (size_t k = 0; k < KNOWN_IMAGES; k++) {
        xmlNodePtr it = newest_of(reply->root, &known_images[k]);
        if (it != NULL)
            aws_cache_put(c, &c->images, &c->image_count, known_images[k].name,
                          aws_xml_text(it, "imageId"));
    }
    return KUMO_DRIVER_OK;
}

kumo_driver_code aws_catalog_images(struct kumo_driver_conn *c, int64_t deadline_ns,
                                    struct kumo_driver_image_list **out,
                                    struct kumo_driver_diag *diag)
{
    *out = NULL;
    struct aws_reply r;
    kumo_driver_code rc = images_describe(c, NULL, deadline_ns, &r, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(aws_host, block, pk, pack_images(pk, r.root));
    aws_reply_free(&r);
    return AWS_OUT(out, block, diag);
}

kumo_driver_code aws_image_resolve(struct kumo_driver_conn *c, const char *image,
                                   int64_t deadline_ns, char *ami, size_t size,
                                   struct kumo_driver_diag *diag)
{
    if (strncmp(image, "ami-", 4) == 0) {
        snprintf(ami, size, "%s", image);
        return KUMO_DRIVER_OK;
    }
    if (aws_cache_get(c, &c->images, &c->image_count, image, 0, ami, size))
        return KUMO_DRIVER_OK;
    const struct known_image *k = NULL;
    for (size_t i = 0; i < KNOWN_IMAGES; i++)
        if (strcmp(known_images[i].name, image) == 0)
            k = &known_images[i];
    if (k == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidAMIID.Unknown",
                                    "image \"%s\" is unknown to the aws driver: give an AMI id "
                                    "(ami-...) or one of amazon-linux-2023, "
                                    "amazon-linux-2023-arm64, amazon-linux-2, ubuntu-22.04, "
                                    "ubuntu-24.04, debian-12",
                                    image);
    struct aws_reply r;
    kumo_driver_code rc = images_describe(c, k, deadline_ns, &r, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    aws_reply_free(&r);
    if (aws_cache_get(c, &c->images, &c->image_count, image, 0, ami, size))
        return KUMO_DRIVER_OK;
    return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidAMIID.NotFound",
                                "image \"%s\": region %s has no AMI named like \"%s\" from "
                                "owner %s",
                                image, c->region, k->pattern, k->owner);
}

kumo_driver_code aws_image_root_device(struct kumo_driver_conn *c, const char *ami,
                                       int64_t deadline_ns, char *device, size_t size,
                                       struct kumo_driver_diag *diag)
{
    if (aws_cache_get(c, &c->roots, &c->root_count, ami, 0, device, size))
        return KUMO_DRIVER_OK;
    struct aws_params p;
    struct aws_reply r;
    aws_params_init(&p, "DescribeImages");
    aws_params_add(&p, "ImageId.1", ami);
    char what[160];
    snprintf(what, sizeof(what), "root device of image %s", ami);
    kumo_driver_code rc = p.failed
                              ? kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory")
                              : aws_call(c, &p, what, deadline_ns, &r, diag);
    aws_params_fini(&p);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    const char *root = "";
    AWS_XML_ITEMS(it, r.root, "imagesSet")
    if (strcmp(aws_xml_text(it, "imageId"), ami) == 0)
        root = aws_xml_text(it, "rootDeviceName");
    if (root[0]) {
        snprintf(device, size, "%s", root);
        aws_cache_put(c, &c->roots, &c->root_count, ami, root);
    } else
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidAMIID.NotFound",
                                  "image %s: region %s has no such AMI (or it names no root "
                                  "device)",
                                  ami, c->region);
    aws_reply_free(&r);
    return rc;
}
