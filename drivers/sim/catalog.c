/*
 * catalog.c - the sim's built-in catalog: real provider regions with their
 * coordinates, instance types with realistic shapes and on-demand prices,
 * and images.
 *
 * The facts are public (provider documentation and price lists, region
 * coordinates as published by Cloud-Barista's cloudinfo); they live in the
 * code so the sim runs anywhere. Prices are a base (the provider's cheapest
 * US region) times a per-region factor, rounded to 4 decimals — close to the
 * real lists, not a copy of them.
 */
#include "drivers/sim/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const struct sim_region sim_regions[] = {
    /* AWS */
    {"aws", "us-east-1", "US East (N. Virginia)", 38.13, -78.45, 1.00},
    {"aws", "us-east-2", "US East (Ohio)", 39.96, -83.0, 1.00},
    {"aws", "us-west-1", "US West (N. California)", 37.35, -121.96, 1.167},
    {"aws", "us-west-2", "US West (Oregon)", 46.15, -123.88, 1.00},
    {"aws", "ca-central-1", "Canada (Central)", 45.5, -73.6, 1.115},
    {"aws", "sa-east-1", "South America (Sao Paulo)", -23.34, -46.38, 1.594},
    {"aws", "eu-west-1", "Europe (Ireland)", 53.0, -8.0, 1.115},
    {"aws", "eu-west-2", "Europe (London)", 51.0, -0.1, 1.156},
    {"aws", "eu-central-1", "Europe (Frankfurt)", 50.0, 8.0, 1.198},
    {"aws", "eu-north-1", "Europe (Stockholm)", 64.6, 14.2, 1.063},
    {"aws", "ap-northeast-1", "Asia Pacific (Tokyo)", 35.41, 139.42, 1.292},
    {"aws", "ap-northeast-2", "Asia Pacific (Seoul)", 37.36, 126.78, 1.229},
    {"aws", "ap-southeast-1", "Asia Pacific (Singapore)", 1.37, 103.8, 1.25},
    {"aws", "ap-southeast-2", "Asia Pacific (Sydney)", -33.86, 151.2, 1.25},
    {"aws", "ap-south-1", "Asia Pacific (Mumbai)", 19.08, 72.88, 1.052},
    /* Google Cloud */
    {"gcp", "us-central1", "Council Bluffs, Iowa, USA", 41.2522, -95.8575, 1.00},
    {"gcp", "us-east1", "Moncks Corner, South Carolina, USA", 33.1913, -80.004, 1.00},
    {"gcp", "us-east4", "Ashburn, Virginia, USA", 39.0403, -77.4852, 1.126},
    {"gcp", "us-west1", "The Dalles, Oregon, USA", 45.5946, -121.1787, 1.00},
    {"gcp", "europe-west1", "St. Ghislain, Belgium", 50.4482, 3.8189, 1.10},
    {"gcp", "europe-west2", "London, UK", 51.5099, -0.1181, 1.288},
    {"gcp", "europe-west3", "Frankfurt, Germany", 50.1109, 8.6831, 1.288},
    {"gcp", "asia-northeast1", "Tokyo, Japan", 35.6896, 139.6917, 1.288},
    {"gcp", "asia-northeast3", "Seoul, South Korea", 37.2, 127.0, 1.288},
    {"gcp", "asia-southeast1", "Jurong West, Singapore", 1.3409, 103.7041, 1.233},
    {"gcp", "australia-southeast1", "Sydney, Australia", -33.8651, 151.2099, 1.417},
    {"gcp", "southamerica-east1", "Osasco, Sao Paulo, Brazil", -23.5325, -46.7917, 1.588},
    /* Microsoft Azure */
    {"azure", "eastus", "East US", 37.3719, -79.8164, 1.00},
    {"azure", "eastus2", "East US 2", 36.6681, -78.3889, 1.00},
    {"azure", "centralus", "Central US", 41.5908, -93.6208, 1.09},
    {"azure", "westus2", "West US 2", 47.233, -119.852, 1.00},
    {"azure", "northeurope", "North Europe", 53.3478, -6.2597, 1.07},
    {"azure", "westeurope", "West Europe", 52.3667, 4.9, 1.146},
    {"azure", "uksouth", "UK South", 50.941, -0.799, 1.156},
    {"azure", "germanywestcentral", "Germany West Central", 50.1109, 8.6821, 1.146},
    {"azure", "japaneast", "Japan East", 35.68, 139.77, 1.292},
    {"azure", "koreacentral", "Korea Central", 37.5665, 126.978, 1.229},
    {"azure", "southeastasia", "Southeast Asia", 1.283, 103.833, 1.198},
    {"azure", "australiaeast", "Australia East", -33.86, 151.2094, 1.302},
    {"azure", "brazilsouth", "Brazil South", -23.55, -46.633, 1.594},
};
const size_t sim_region_count = sizeof(sim_regions) / sizeof(sim_regions[0]);

const struct sim_type sim_types[] = {
    /* AWS: burstable, general purpose, compute, memory, Graviton, GPU */
    {"aws", "t3.micro", 2, 1024, 0, 0, "", "x86_64", 0.0104},
    {"aws", "t3.small", 2, 2048, 0, 0, "", "x86_64", 0.0208},
    {"aws", "t3.medium", 2, 4096, 0, 0, "", "x86_64", 0.0416},
    {"aws", "t3.large", 2, 8192, 0, 0, "", "x86_64", 0.0832},
    {"aws", "t3.xlarge", 4, 16384, 0, 0, "", "x86_64", 0.1664},
    {"aws", "m5.large", 2, 8192, 0, 0, "", "x86_64", 0.096},
    {"aws", "m5.xlarge", 4, 16384, 0, 0, "", "x86_64", 0.192},
    {"aws", "m5.2xlarge", 8, 32768, 0, 0, "", "x86_64", 0.384},
    {"aws", "m5.4xlarge", 16, 65536, 0, 0, "", "x86_64", 0.768},
    {"aws", "c5.large", 2, 4096, 0, 0, "", "x86_64", 0.085},
    {"aws", "c5.xlarge", 4, 8192, 0, 0, "", "x86_64", 0.17},
    {"aws", "c5.2xlarge", 8, 16384, 0, 0, "", "x86_64", 0.34},
    {"aws", "c5.4xlarge", 16, 32768, 0, 0, "", "x86_64", 0.68},
    {"aws", "r5.large", 2, 16384, 0, 0, "", "x86_64", 0.126},
    {"aws", "r5.xlarge", 4, 32768, 0, 0, "", "x86_64", 0.252},
    {"aws", "m6g.large", 2, 8192, 0, 0, "", "arm64", 0.077},
    {"aws", "c6g.xlarge", 4, 8192, 0, 0, "", "arm64", 0.136},
    {"aws", "g4dn.xlarge", 4, 16384, 1, 16384, "T4", "x86_64", 0.526},
    {"aws", "g4dn.2xlarge", 8, 32768, 1, 16384, "T4", "x86_64", 0.752},
    {"aws", "g5.xlarge", 4, 16384, 1, 24576, "A10G", "x86_64", 1.006},
    {"aws", "p3.2xlarge", 8, 62464, 1, 16384, "V100", "x86_64", 3.06},
    {"aws", "p4d.24xlarge", 96, 1179648, 8, 40960, "A100", "x86_64", 32.7726},
    /* Google Cloud */
    {"gcp", "e2-micro", 2, 1024, 0, 0, "", "x86_64", 0.0084},
    {"gcp", "e2-small", 2, 2048, 0, 0, "", "x86_64", 0.0168},
    {"gcp", "e2-medium", 2, 4096, 0, 0, "", "x86_64", 0.0335},
    {"gcp", "e2-standard-2", 2, 8192, 0, 0, "", "x86_64", 0.067},
    {"gcp", "e2-standard-4", 4, 16384, 0, 0, "", "x86_64", 0.134},
    {"gcp", "n2-standard-2", 2, 8192, 0, 0, "", "x86_64", 0.0971},
    {"gcp", "n2-standard-4", 4, 16384, 0, 0, "", "x86_64", 0.1942},
    {"gcp", "n2-standard-8", 8, 32768, 0, 0, "", "x86_64", 0.3885},
    {"gcp", "n2-highmem-2", 2, 16384, 0, 0, "", "x86_64", 0.131},
    {"gcp", "c2-standard-4", 4, 16384, 0, 0, "", "x86_64", 0.2088},
    {"gcp", "c2-standard-8", 8, 32768, 0, 0, "", "x86_64", 0.4176},
    {"gcp", "t2a-standard-2", 2, 8192, 0, 0, "", "arm64", 0.077},
    {"gcp", "g2-standard-4", 4, 16384, 1, 24576, "L4", "x86_64", 0.7068},
    {"gcp", "a2-highgpu-1g", 12, 87040, 1, 40960, "A100", "x86_64", 3.6733},
    /* Microsoft Azure */
    {"azure", "Standard_B1s", 1, 1024, 0, 0, "", "x86_64", 0.0104},
    {"azure", "Standard_B2s", 2, 4096, 0, 0, "", "x86_64", 0.0416},
    {"azure", "Standard_B2ms", 2, 8192, 0, 0, "", "x86_64", 0.0832},
    {"azure", "Standard_D2s_v5", 2, 8192, 0, 0, "", "x86_64", 0.096},
    {"azure", "Standard_D4s_v5", 4, 16384, 0, 0, "", "x86_64", 0.192},
    {"azure", "Standard_D8s_v5", 8, 32768, 0, 0, "", "x86_64", 0.384},
    {"azure", "Standard_F2s_v2", 2, 4096, 0, 0, "", "x86_64", 0.0846},
    {"azure", "Standard_F4s_v2", 4, 8192, 0, 0, "", "x86_64", 0.169},
    {"azure", "Standard_E2s_v5", 2, 16384, 0, 0, "", "x86_64", 0.126},
    {"azure", "Standard_E4s_v5", 4, 32768, 0, 0, "", "x86_64", 0.252},
    {"azure", "Standard_D2ps_v5", 2, 8192, 0, 0, "", "arm64", 0.077},
    {"azure", "Standard_NC4as_T4_v3", 4, 28672, 1, 16384, "T4", "x86_64", 0.526},
    {"azure", "Standard_NC6s_v3", 6, 114688, 1, 16384, "V100", "x86_64", 3.06},
    {"azure", "Standard_NC24ads_A100_v4", 24, 225280, 1, 81920, "A100", "x86_64", 3.673},
};
const size_t sim_type_count = sizeof(sim_types) / sizeof(sim_types[0]);

const struct sim_image sim_images[] = {
    {"aws", "ubuntu-22.04", "linux", "x86_64", NULL, "Canonical Ubuntu 22.04 LTS"},
    {"aws", "ubuntu-24.04", "linux", "x86_64", NULL, "Canonical Ubuntu 24.04 LTS"},
    {"aws", "ubuntu-22.04-arm64", "linux", "arm64", NULL, "Canonical Ubuntu 22.04 LTS (arm64)"},
    {"aws", "debian-12", "linux", "x86_64", NULL, "Debian 12 (bookworm)"},
    {"aws", "amazon-linux-2023", "linux", "x86_64", NULL, "Amazon Linux 2023"},
    {"aws", "rocky-9", "linux", "x86_64", NULL, "Rocky Linux 9"},
    {"aws", "windows-server-2022", "windows", "x86_64", NULL, "Microsoft Windows Server 2022"},
    {"gcp", "ubuntu-22.04", "linux", "x86_64",
     "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts", "Canonical Ubuntu 22.04 LTS"},
    {"gcp", "ubuntu-24.04", "linux", "x86_64",
     "projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64",
     "Canonical Ubuntu 24.04 LTS"},
    {"gcp", "ubuntu-22.04-arm64", "linux", "arm64",
     "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts-arm64",
     "Canonical Ubuntu 22.04 LTS (arm64)"},
    {"gcp", "debian-12", "linux", "x86_64", "projects/debian-cloud/global/images/family/debian-12",
     "Debian 12 (bookworm)"},
    {"gcp", "rocky-9", "linux", "x86_64",
     "projects/rocky-linux-cloud/global/images/family/rocky-linux-9", "Rocky Linux 9"},
    {"azure", "ubuntu-22.04", "linux", "x86_64",
     "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest", "Canonical Ubuntu 22.04 LTS"},
    {"azure", "ubuntu-24.04", "linux", "x86_64", "Canonical:ubuntu-24_04-lts:server:latest",
     "Canonical Ubuntu 24.04 LTS"},
    {"azure", "ubuntu-22.04-arm64", "linux", "arm64",
     "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-arm64:latest",
     "Canonical Ubuntu 22.04 LTS (arm64)"},
    {"azure", "debian-12", "linux", "x86_64", "Debian:debian-12:12-gen2:latest",
     "Debian 12 (bookworm)"},
    {"azure", "windows-server-2022", "windows", "x86_64",
     "MicrosoftWindowsServer:WindowsServer:2022-datacenter-g2:latest",
     "Microsoft Windows Server 2022"},
};
const size_t sim_image_count = sizeof(sim_images) / sizeof(sim_images[0]);

int sim_provider_known(const char *provider)
{
    return provider != NULL && (strcmp(provider, "aws") == 0 || strcmp(provider, "gcp") == 0 ||
                                strcmp(provider, "azure") == 0);
}

const char *sim_provider_list(void)
{
    return "aws, gcp, azure";
}

const struct sim_region *sim_region_find(const char *provider, const char *name)
{
    for (size_t i = 0; name != NULL && i < sim_region_count; i++)
        if (strcmp(sim_regions[i].provider, provider) == 0 &&
            strcmp(sim_regions[i].name, name) == 0)
            return &sim_regions[i];
    return NULL;
}

const struct sim_type *sim_type_find(const char *provider, const char *name)
{
    for (size_t i = 0; name != NULL && i < sim_type_count; i++)
        if (strcmp(sim_types[i].provider, provider) == 0 && strcmp(sim_types[i].name, name) == 0)
            return &sim_types[i];
    return NULL;
}

const struct sim_image *sim_image_find(const char *provider, const struct sim_region *region,
                                       const char *name_or_id)
{
    char id[128];
    for (size_t i = 0; name_or_id != NULL && i < sim_image_count; i++) {
        const struct sim_image *im = &sim_images[i];
        if (strcmp(im->provider, provider) != 0)
            continue;
        if (strcmp(im->name, name_or_id) == 0)
            return im;
        sim_image_id(im, region, id, sizeof(id));
        if (strcmp(id, name_or_id) == 0)
            return im;
    }
    return NULL;
}

void sim_zone_name(const struct sim_region *region, int i, char *buf, size_t size)
{
    if (strcmp(region->provider, "aws") == 0)
        snprintf(buf, size, "%s%c", region->name, 'a' + i);
    else if (strcmp(region->provider, "gcp") == 0)
        snprintf(buf, size, "%s-%c", region->name, 'a' + i);
    else
        snprintf(buf, size, "%s-%d", region->name, i + 1);
}

int sim_zone_valid(const struct sim_region *region, const char *zone)
{
    char name[80];
    for (int i = 0; i < SIM_ZONES_PER_REGION; i++) {
        sim_zone_name(region, i, name, sizeof(name));
        if (strcmp(name, zone) == 0)
            return 1;
    }
    return 0;
}

double sim_type_price(const struct sim_type *type, const struct sim_region *region)
{
    return round(type->price * region->price_factor * 10000.0) / 10000.0;
}

/* FNV-1a, for stable made-up ids. */
static uint64_t fnv1a(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = a; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ '/') * 1099511628211ull;
    for (const char *p = b; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

void sim_image_id(const struct sim_image *image, const struct sim_region *region, char *buf,
                  size_t size)
{
    if (image->provider_id != NULL) {
        snprintf(buf, size, "%s", image->provider_id);
        return;
    }
    /* AMIs differ per region. */
    snprintf(buf, size, "ami-0%016llx",
             (unsigned long long)fnv1a(image->name, region ? region->name : ""));
}

static int wanted(const char *filter, const char *value)
{
    return filter == NULL || filter[0] == '\0' || strcmp(filter, value) == 0;
}

void sim_catalog_json(struct kumo_driver_kit_buf *b, const char *provider, const char *region)
{
    char zone[80];
    int first = 1;
    kumo_driver_kit_buf_str(b, "{\"regions\":[");
    for (size_t i = 0; i < sim_region_count; i++) {
        const struct sim_region *r = &sim_regions[i];
        if (!wanted(provider, r->provider) || !wanted(region, r->name))
            continue;
        kumo_driver_kit_buf_str(b, first ? "{" : ",{");
        first = 0;
        kumo_driver_kit_buf_json_key(b, "provider", 1);
        kumo_driver_kit_buf_json_str(b, r->provider);
        kumo_driver_kit_buf_json_key(b, "name", 0);
        kumo_driver_kit_buf_json_str(b, r->name);
        kumo_driver_kit_buf_json_key(b, "displayName", 0);
        kumo_driver_kit_buf_json_str(b, r->display);
        kumo_driver_kit_buf_printf(b, ",\"latitude\":%.4f,\"longitude\":%.4f,\"zones\":[",
                                   r->latitude, r->longitude);
        for (int z = 0; z < SIM_ZONES_PER_REGION; z++) {
            sim_zone_name(r, z, zone, sizeof(zone));
            if (z > 0)
                kumo_driver_kit_buf_str(b, ",");
            kumo_driver_kit_buf_json_str(b, zone);
        }
        kumo_driver_kit_buf_str(b, "]}");
    }
    kumo_driver_kit_buf_str(b, "],\"instanceTypes\":[");
    first = 1;
    const struct sim_region *priced = NULL;
    for (size_t i = 0; region != NULL && region[0] && i < sim_region_count; i++)
        if (strcmp(sim_regions[i].name, region) == 0 && wanted(provider, sim_regions[i].provider))
            priced = &sim_regions[i];
    for (size_t i = 0; i < sim_type_count; i++) {
        const struct sim_type *t = &sim_types[i];
        if (!wanted(provider, t->provider) || (priced && strcmp(priced->provider, t->provider)))
            continue;
        kumo_driver_kit_buf_str(b, first ? "{" : ",{");
        first = 0;
        kumo_driver_kit_buf_json_key(b, "provider", 1);
        kumo_driver_kit_buf_json_str(b, t->provider);
        kumo_driver_kit_buf_json_key(b, "name", 0);
        kumo_driver_kit_buf_json_str(b, t->name);
        kumo_driver_kit_buf_printf(
            b, ",\"vcpu\":%d,\"memoryMiB\":%d,\"gpuCount\":%d,\"gpuMemoryMiB\":%d", t->vcpu,
            t->memory_mib, t->gpu_count, t->gpu_memory_mib);
        kumo_driver_kit_buf_json_key(b, "gpuModel", 0);
        kumo_driver_kit_buf_json_str(b, t->gpu_model);
        kumo_driver_kit_buf_json_key(b, "arch", 0);
        kumo_driver_kit_buf_json_str(b, t->arch);
        kumo_driver_kit_buf_printf(b, ",\"pricePerHour\":%.4f,\"currency\":\"USD\"}",
                                   priced ? sim_type_price(t, priced) : t->price);
    }
    kumo_driver_kit_buf_str(b, "],\"images\":[");
    first = 1;
    for (size_t i = 0; i < sim_image_count; i++) {
        const struct sim_image *im = &sim_images[i];
        if (!wanted(provider, im->provider) || (priced && strcmp(priced->provider, im->provider)))
            continue;
        char id[128];
        sim_image_id(im, priced, id, sizeof(id));
        kumo_driver_kit_buf_str(b, first ? "{" : ",{");
        first = 0;
        kumo_driver_kit_buf_json_key(b, "provider", 1);
        kumo_driver_kit_buf_json_str(b, im->provider);
        kumo_driver_kit_buf_json_key(b, "name", 0);
        kumo_driver_kit_buf_json_str(b, im->name);
        kumo_driver_kit_buf_json_key(b, "os", 0);
        kumo_driver_kit_buf_json_str(b, im->os);
        kumo_driver_kit_buf_json_key(b, "arch", 0);
        kumo_driver_kit_buf_json_str(b, im->arch);
        kumo_driver_kit_buf_json_key(b, "providerId", 0);
        kumo_driver_kit_buf_json_str(b, id);
        kumo_driver_kit_buf_json_key(b, "description", 0);
        kumo_driver_kit_buf_json_str(b, im->description);
        kumo_driver_kit_buf_str(b, "}");
    }
    kumo_driver_kit_buf_str(b, "]}\n");
}
