/*
 * helpers.h - what the store tests share: opening a store in a temporary
 * directory and building objects by hand.
 */
#ifndef KUMO_TEST_STORE_HELPERS_H
#define KUMO_TEST_STORE_HELPERS_H

#include "apis/kumo/v1alpha1/credential.pb-c.h"
#include "apis/kumo/v1alpha1/network.pb-c.h"
#include "apis/object/object.h"
#include "store/store.h"
#include "tests/harness/test.h"

/* Opens a store in dir with opts (NULL: defaults); fails the case on error. */
kumo_store *t_open(const char *dir, const kumo_store_options *opts);
/* Options with defaults for dir. */
kumo_store_options t_options(const char *dir);

const kumo_object_kind *t_kind(const char *name);

/* A valid Network: spec.connection "aws-east", spec.cidr. Free with kumo_object_destroy. */
ProtobufCMessage *t_network(const char *ns, const char *name, const char *cidr);
/* A valid Credential of type "aws" with one data entry. */
ProtobufCMessage *t_credential(const char *ns, const char *name, const char *key,
                               const char *value);

void t_label(ProtobufCMessage *obj, const char *key, const char *value);
void t_annotation(ProtobufCMessage *obj, const char *key, const char *value);
void t_finalizer_add(ProtobufCMessage *obj, const char *finalizer);
void t_finalizers_clear(ProtobufCMessage *obj);
/* Adds an ownerReference from dependent to owner (kind, name, uid of owner). */
void t_owner_add(ProtobufCMessage *dependent, const ProtobufCMessage *owner);
/* Sets the Network's status.state. */
void t_network_state(ProtobufCMessage *network, const char *state);
void t_network_cidr(ProtobufCMessage *network, const char *cidr);
void t_set_rv(ProtobufCMessage *obj, const char *rv);
void t_set_uid(ProtobufCMessage *obj, const char *uid);

const char *t_rv(const ProtobufCMessage *obj);
const char *t_uid(const ProtobufCMessage *obj);
int64_t t_generation(const ProtobufCMessage *obj);
const char *t_state(const ProtobufCMessage *network);
const char *t_cidr(const ProtobufCMessage *network);

/* Creates a Network and returns the stored copy (fails the case on error). */
ProtobufCMessage *t_create_network(kumo_store *s, const char *ns, const char *name);

/* Total bytes of regular files under dir containing `needle` (count of hits). */
int t_dir_contains(const char *dir, const void *needle, size_t len);

#endif
