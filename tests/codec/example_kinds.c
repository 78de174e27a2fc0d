/*
 * example_kinds.c - the kind table of example_kinds.h.
 */
#include "tests/codec/example_kinds.h"

#include <string.h>

#include "apis/kumo/v1alpha1/app.pb-c.h"
#include "apis/kumo/v1alpha1/connection.pb-c.h"
#include "apis/kumo/v1alpha1/credential.pb-c.h"
#include "apis/kumo/v1alpha1/infra.pb-c.h"
#include "apis/kumo/v1alpha1/loadbalancer.pb-c.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/kumo/v1alpha1/migration.pb-c.h"
#include "apis/kumo/v1alpha1/network.pb-c.h"

static const struct {
    const char *kind;
    const ProtobufCMessageDescriptor *descriptor;
} kinds[] = {
    {"App", &kumo__v1alpha1__app__descriptor},
    {"Connection", &kumo__v1alpha1__connection__descriptor},
    {"Credential", &kumo__v1alpha1__credential__descriptor},
    {"Infra", &kumo__v1alpha1__infra__descriptor},
    {"LoadBalancer", &kumo__v1alpha1__load_balancer__descriptor},
    {"Machine", &kumo__v1alpha1__machine__descriptor},
    {"Migration", &kumo__v1alpha1__migration__descriptor},
    {"Network", &kumo__v1alpha1__network__descriptor},
    {"SecurityGroup", &kumo__v1alpha1__security_group__descriptor},
    {"KeyPair", &kumo__v1alpha1__key_pair__descriptor},
};

const ProtobufCMessageDescriptor *codec_example_kind_descriptor(const char *kind)
{
    for (size_t i = 0; kind != NULL && i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].kind, kind) == 0)
            return kinds[i].descriptor;
    return NULL;
}

size_t codec_example_kind_count(void)
{
    return sizeof(kinds) / sizeof(kinds[0]);
}

const ProtobufCMessageDescriptor *codec_example_kind_at(size_t i, const char **kind)
{
    if (kind != NULL)
        *kind = kinds[i].kind;
    return kinds[i].descriptor;
}
