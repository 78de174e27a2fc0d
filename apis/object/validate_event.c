/*
 * validate_event.c - the rules of the Event kind (recorded_event.proto).
 *
 * An Event has no spec: its fields sit at the top level, as in Kubernetes
 * core/v1 Event, so its rules get the whole object and name fields from the
 * root ("involvedObject.name", "type").
 */
#include "apis/object/validate.h"

#include <string.h>

#include "apis/kumo/v1alpha1/recorded_event.pb-c.h"

enum {
    EVENT_REASON_MAX = 128,
    EVENT_MESSAGE_MAX = 4096,
    EVENT_COMPONENT_MAX = 253,
};

void rule_event_fields(rule_ctx *v, const ProtobufCMessage *message)
{
    const Kumo__V1alpha1__RecordedEvent *e = (const Kumo__V1alpha1__RecordedEvent *)message;
    const Kumo__V1alpha1__ObjectReference *ref = e->involved_object;
    if (ref == NULL) {
        rule_required(v, "involvedObject", "the object the event is about");
    } else {
        size_t mark = rule_enter(v, "involvedObject");
        rule_require_string(v, "kind", ref->kind);
        rule_object_name(v, "name", ref->name, 1);
        rule_max_bytes(v, "uid", ref->uid, 64);
        rule_leave(v, mark);
    }
    char quoted[RULE_VALUE_MAX + 16];
    if (rule_empty(e->type))
        rule_required(v, "type", "Normal or Warning");
    else if (strcmp(e->type, "Normal") != 0 && strcmp(e->type, "Warning") != 0)
        rule_add(v, KUMO_CAUSE_UNSUPPORTED, "type", rule_quote(e->type, quoted, sizeof(quoted)),
                 "supported values: \"Normal\", \"Warning\"");
    if (rule_require_string(v, "reason", e->reason))
        rule_max_bytes(v, "reason", e->reason, EVENT_REASON_MAX);
    rule_max_bytes(v, "message", e->message, EVENT_MESSAGE_MAX);
    rule_max_bytes(v, "reportingComponent", e->reporting_component, EVENT_COMPONENT_MAX);
    if (e->count < 0)
        rule_invalid_int(v, "count", e->count, "must be greater than or equal to 0");
}
