/*
 * watch.c - watch catch-up: the changes after a revision, from the store's
 * revision log, as an EventList (docs/api.md §5).
 *
 * The reply's metadata.resourceVersion is the revision the reply brings the
 * watcher up to: every change <= it that passes the filter is in this reply
 * or was before the requested revision. metadata.continue, when non-empty,
 * is that same revision as a string, and more changes remain: ask again from
 * it. A page is never empty while more remain (a selector that matches
 * little makes the server read on), so "ask again from the last item's
 * revision" also works.
 */
#include "bus/apiserver/internal.h"

#include <stdlib.h>
#include <string.h>

#include "apis/kumo/v1alpha1/event.pb-c.h"

int apiserver_event_set_object(ProtobufCMessage *event, const kumo_object_kind *kind,
                               ProtobufCMessage *object)
{
    const ProtobufCMessageDescriptor *d = event->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->descriptor == kind->descriptor) {
            *(ProtobufCMessage **)((char *)event + f->offset) = object;
            if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
                *(uint32_t *)((char *)event + f->quantifier_offset) = f->id;
            return 0;
        }
    }
    return -1;
}

/* Catch-up events read in one or more store calls. */
typedef struct catch_up {
    kumo_store_event *events;
    size_t count;
    int64_t next_revision;
    int more;
} catch_up;

static kumo_error read_events(kumo_store *store, int64_t from,
                              const kumo_store_watch_filter *filter, size_t limit, catch_up *out,
                              kumo_diag *diag)
{
    memset(out, 0, sizeof(*out));
    int64_t now = kumo_store_revision(store);
    int64_t next = from;
    for (;;) {
        kumo_error err = kumo_store_watch_next(store, next, filter, limit, &out->events,
                                               &out->count, &next, diag);
        if (err != KUMO_ERROR_OK)
            return err;
        /* Read on past revisions the filter skipped, so a page is not empty while more
         * remain (and stop should the store make no progress). */
        if (out->count > 0 || next >= now || next <= from)
            break;
        kumo_store_events_free(out->events, out->count);
        out->events = NULL;
        from = next;
    }
    out->next_revision = next > now ? next : now;
    out->more = next < now || out->count == limit;
    if (out->more)
        out->next_revision = next;
    return KUMO_ERROR_OK;
}

static kumo_error encode_event_list(const catch_up *c, size_t count, kumo_codec_format format,
                                    kumo_codec_buffer *out, kumo_diag *diag)
{
    Kumo__V1alpha1__Event *events = calloc(count ? count : 1, sizeof(*events));
    Kumo__V1alpha1__Event **items = calloc(count ? count : 1, sizeof(*items));
    if (events == NULL || items == NULL) {
        free(events);
        free(items);
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        const kumo_store_event *e = &c->events[i];
        kumo__v1alpha1__event__init(&events[i]);
        events[i].type = (char *)kumo_store_event_type_name(e->type);
        events[i].revision = e->revision;
        apiserver_strip(e->kind, e->object);
        apiserver_event_set_object(&events[i].base, e->kind, e->object);
        items[i] = &events[i];
    }
    /* When the page was cut short to fit, the watcher resumes after its last item. */
    int64_t next = count < c->count ? c->events[count - 1].revision : c->next_revision;
    int more = count < c->count || c->more;
    char revision[32];
    snprintf(revision, sizeof(revision), "%lld", (long long)next);
    Kumo__V1alpha1__ListMeta meta;
    kumo__v1alpha1__list_meta__init(&meta);
    meta.resource_version = revision;
    meta.continue_ = more ? revision : "";
    Kumo__V1alpha1__EventList list;
    kumo__v1alpha1__event_list__init(&list);
    list.api_version = KUMO_API_VERSION;
    list.kind = "EventList";
    list.metadata = &meta;
    list.n_items = count;
    list.items = items;
    kumo_error err = apiserver_encode(&list.base, format, out, diag);
    free(items);
    free(events); /* the objects belong to the catch-up */
    return err;
}

void apiserver_watch(apiserver_reply *r, kumo_store *store)
{
    const kumo_apiserver_request *req = r->req;
    kumo_diag *diag = &r->resp->diag;
    const char *rv = req->resource_version;
    uint64_t from = 0;
    if (rv != NULL && rv[0] != '\0' && apiserver_parse_u64(rv, &from) != 0) {
        apiserver_reply_error(r, KUMO_ERROR_INVALID_ARGUMENT,
                              "resourceVersion \"%s\" is not a revision (a decimal number)", rv);
        return;
    }
    size_t limit;
    if (apiserver_page_size(r, &limit) != 0)
        return;
    kumo_object_selector *selector = NULL;
    if (kumo_object_selector_parse(req->label_selector, req->field_selector, &selector, diag) !=
        KUMO_ERROR_OK) {
        apiserver_reply_status(r, diag);
        return;
    }
    kumo_store_watch_filter filter = {
        .kind = req->kind,
        .namespace_ = req->verb == KUMO_PROTOCOL_VERB_WATCH ? req->ns : NULL,
        .selector = selector,
    };
    catch_up c;
    kumo_error err = read_events(store, (int64_t)from, &filter, limit, &c, diag);
    kumo_object_selector_destroy(selector);
    if (err != KUMO_ERROR_OK) {
        apiserver_reply_status(r, diag);
        return;
    }
    size_t max_reply = req->max_reply_bytes;
    size_t count = c.count;
    kumo_codec_buffer *out = &r->resp->body;
    for (;;) {
        if (encode_event_list(&c, count, req->reply_format, out, diag) != KUMO_ERROR_OK) {
            apiserver_reply_status(r, diag);
            break;
        }
        if (max_reply == 0 || out->len <= max_reply) {
            apiserver_reply_body(r, 200);
            break;
        }
        if (count <= 1) {
            apiserver_reply_error(r, KUMO_ERROR_TOO_LARGE,
                                  "one event is %zu bytes, more than the NATS server's "
                                  "max_payload allows (%zu); raise max_payload",
                                  out->len, max_reply);
            break;
        }
        /* Too big for one NATS message: send the first part; the watcher asks again. */
        size_t scaled = (size_t)((double)count * (double)max_reply / (double)out->len * 0.9);
        count = scaled < 1 ? 1 : scaled >= count ? count / 2 : scaled;
    }
    kumo_store_events_free(c.events, c.count);
}
