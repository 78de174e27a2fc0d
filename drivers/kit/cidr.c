/*
 * cidr.c - IPv4 ranges as every driver checks them: parsing "a.b.c.d/n",
 * overlap, and the rules a network's subnets follow whatever the cloud
 * (named, inside the network, at most /28, no two alike or overlapping).
 */
#include "drivers/kit/kit.h"

#include <stdio.h>
#include <string.h>

#define SUBNET_NAME_MAX   64
#define SUBNET_PREFIX_MAX 28

static uint32_t mask_of(int prefix)
{
    return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

int kumo_driver_kit_cidr_parse(const char *cidr, int flags, uint32_t *base, int *prefix)
{
    unsigned a, b, c, d;
    int n = 0, consumed = 0;
    if (cidr == NULL || sscanf(cidr, "%3u.%3u.%3u.%3u/%2d%n", &a, &b, &c, &d, &n, &consumed) != 5)
        return -1;
    if (cidr[consumed] != '\0' || a > 255 || b > 255 || c > 255 || d > 255 || n < 0 || n > 32)
        return -1;
    uint32_t ip = (a << 24) | (b << 16) | (c << 8) | d;
    if ((flags & KUMO_DRIVER_KIT_CIDR_EXACT) && (ip & ~mask_of(n)) != 0)
        return -1; /* host bits set: "10.0.0.1/16" is not a network */
    *base = ip & mask_of(n);
    *prefix = n;
    return 0;
}

int kumo_driver_kit_cidr_overlap(uint32_t a, int a_prefix, uint32_t b, int b_prefix)
{
    int p = a_prefix < b_prefix ? a_prefix : b_prefix;
    return (a & mask_of(p)) == (b & mask_of(p));
}

kumo_driver_code kumo_driver_kit_subnets_check(const char *network_cidr, int flags,
                                               const struct kumo_driver_subnet *subnets,
                                               size_t count, struct kumo_driver_diag *diag)
{
    uint32_t net = 0, base = 0, other = 0;
    int net_prefix = 0, prefix = 0, other_prefix = 0;
    if (kumo_driver_kit_cidr_parse(network_cidr, flags, &net, &net_prefix) != 0)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "network CIDR '%s' is not an IPv4 range",
                                    network_cidr ? network_cidr : "");
    for (size_t i = 0; i < count; i++) {
        const struct kumo_driver_subnet *s = &subnets[i];
        const char *name = s->name ? s->name : "";
        if (name[0] == '\0' || strlen(name) > SUBNET_NAME_MAX)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                        "subnet %zu: a name of 1 to 64 characters is required", i);
        if (kumo_driver_kit_cidr_parse(s->cidr, flags, &base, &prefix) != 0 ||
            prefix < net_prefix || prefix > SUBNET_PREFIX_MAX ||
            !kumo_driver_kit_cidr_overlap(base, prefix, net, net_prefix))
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidSubnet.Range",
                                        "subnet %s: CIDR '%s' is not a /%d to /28 range inside the "
                                        "network's %s",
                                        name, s->cidr ? s->cidr : "", net_prefix, network_cidr);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(subnets[j].name, name) == 0)
                return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                            "subnet name '%s' is given twice", name);
            kumo_driver_kit_cidr_parse(subnets[j].cidr, flags, &other, &other_prefix);
            if (kumo_driver_kit_cidr_overlap(base, prefix, other, other_prefix))
                return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidSubnet.Conflict",
                                            "subnet %s (%s) overlaps subnet %s (%s)", name, s->cidr,
                                            subnets[j].name, subnets[j].cidr);
        }
    }
    return KUMO_DRIVER_OK;
}
