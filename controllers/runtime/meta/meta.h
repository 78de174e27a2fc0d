/*
 * meta.h - small helpers every controller needs on an object's metadata and
 * status: finalizers, annotations, labels, the controller owner reference,
 * "is it being deleted", its revision, and comparing statuses so that a
 * controller writes status only when it changed.
 *
 * Objects are protobuf-c messages as the codec lays them out (malloc'd
 * strings, arrays and sub-messages; see apis/codec/codec.h), so they may be
 * changed in place and freed with kumo_object_destroy.
 *
 * Errors: the setters return 1 when they changed something, 0 when not, -1
 * when out of memory (the object is then unchanged or only partly changed,
 * and the caller drops it). Thread safety: re-entrant; an object is used by
 * one thread at a time.
 */
#ifndef KUMO_META_H
#define KUMO_META_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "apis/kumo/v1alpha1/common.pb-c.h"
#include "apis/object/object.h"

/* Finalizers. */
int kumo_meta_finalizer_has(const ProtobufCMessage *object, const char *finalizer);
int kumo_meta_finalizer_add(ProtobufCMessage *object, const char *finalizer);
int kumo_meta_finalizer_remove(ProtobufCMessage *object, const char *finalizer);

/* Annotations and labels: the value, or NULL when absent (borrowed from the object). */
const char *kumo_meta_annotation(const ProtobufCMessage *object, const char *key);
const char *kumo_meta_label(const ProtobufCMessage *object, const char *key);
/* 1 when the object's labels match a LabelSelector (matchLabels and every matchExpression);
 * NULL matches everything, an unknown operator nothing. */
int kumo_meta_labels_match(const Kumo__V1alpha1__LabelSelector *selector,
                           const ProtobufCMessage *object);
/* Sets key to value; value NULL removes the key. */
int kumo_meta_annotation_set(ProtobufCMessage *object, const char *key, const char *value);
int kumo_meta_label_set(ProtobufCMessage *object, const char *key, const char *value);

/*
 * Makes `owner` the object's controller owner (apiVersion, kind, name, uid,
 * controller=true, blockOwnerDeletion=true), replacing any other controller
 * reference.
 */
int kumo_meta_owner_set(ProtobufCMessage *object, const ProtobufCMessage *owner);
/* The controller owner reference, or NULL. Borrowed. */
const Kumo__V1alpha1__OwnerReference *kumo_meta_owner(const ProtobufCMessage *object);

/* 1 when metadata.deletionTimestamp is set. */
int kumo_meta_deleting(const ProtobufCMessage *object);
/* metadata.resourceVersion as a number (0 when unset or garbage). */
int64_t kumo_meta_revision(const ProtobufCMessage *object);
/* metadata.generation. */
int64_t kumo_meta_generation(const ProtobufCMessage *object);

/* The status sub-message, allocated empty when unset; NULL only when out of memory. */
ProtobufCMessage *kumo_meta_status_ensure(ProtobufCMessage *object);
/* 1 when both statuses encode to the same bytes (both unset counts as equal). */
int kumo_meta_status_equal(const ProtobufCMessage *a, const ProtobufCMessage *b);
/* 1 when condition `type` has status `status` ("True", "False", "Unknown"). */
int kumo_meta_condition_is(const ProtobufCMessage *object, const char *type, const char *status);

#endif
