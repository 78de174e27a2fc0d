/*
 * events.c - the Events section of `kumoctl describe`: the object's recent
 * Events (the Event kind, written by kumo's controllers), oldest first, like
 * kubectl's "Events:" table.
 */
#include "cmd/kumoctl/remote.h"

#include <stdlib.h>
#include <string.h>

#include "apis/kumo/v1alpha1/recorded_event.pb-c.h"

/* At most this many of the object's Events are shown (the most recent ones). */
#define DESCRIBE_EVENTS_MAX 20

static int64_t last_seen(const Kumo__V1alpha1__RecordedEvent *e)
{
    return e->last_timestamp    ? e->last_timestamp->seconds
           : e->first_timestamp ? e->first_timestamp->seconds
                                : 0;
}

static int by_last_seen(const void *a, const void *b)
{
    int64_t x = last_seen(*(Kumo__V1alpha1__RecordedEvent *const *)a);
    int64_t y = last_seen(*(Kumo__V1alpha1__RecordedEvent *const *)b);
    return x < y ? -1 : x > y ? 1 : 0;
}

static void print_event(const Kumo__V1alpha1__RecordedEvent *e)
{
    char age[96], last[32], first[32];
    kumoctl_age(last_seen(e), last, sizeof(last));
    if (e->count > 1 && e->first_timestamp) {
        kumoctl_age(e->first_timestamp->seconds, first, sizeof(first));
        snprintf(age, sizeof(age), "%s (x%d over %s)", last, e->count, first);
    } else {
        snprintf(age, sizeof(age), "%s", last);
    }
    printf("  %-8s %-24s %-20s %-18s %s\n", e->type, e->reason, age,
           e->source && e->source->component[0] ? e->source->component : "<unknown>", e->message);
}

void kumoctl_describe_events(kumoctl_remote *remote, const char *ns, const char *uid)
{
    Kumo__V1alpha1__RecordedEvent **mine = NULL;
    size_t count = 0, cap = 0;
    ProtobufCMessage *pages[64];
    size_t page_count = 0;
    char token[256] = "";
    kumo_diag diag;
    kumo_diag_init(&diag);
    do {
        kumo_client_list_options lo = {NULL, NULL, 500, token[0] ? token : NULL};
        ProtobufCMessage *page = NULL;
        if (kumo_client_list(remote->client, kumo_object_kind_lookup("Event"), ns, &lo, &page,
                             &diag) != KUMO_ERROR_OK) {
            printf("Events:           <cannot list events: %s>\n", diag.message);
            break;
        }
        pages[page_count++] = page;
        const Kumo__V1alpha1__RecordedEventList *list =
            (const Kumo__V1alpha1__RecordedEventList *)page;
        for (size_t i = 0; i < list->n_items; i++) {
            Kumo__V1alpha1__RecordedEvent *e = list->items[i];
            if (e->involved_object == NULL || strcmp(e->involved_object->uid, uid) != 0)
                continue;
            if (count == cap) {
                Kumo__V1alpha1__RecordedEvent **grown =
                    realloc(mine, (cap = cap ? cap * 2 : 16) * sizeof(*mine));
                if (grown == NULL)
                    break;
                mine = grown;
            }
            mine[count++] = e;
        }
        snprintf(token, sizeof(token), "%s", list->metadata ? list->metadata->continue_ : "");
    } while (token[0] && page_count < sizeof(pages) / sizeof(pages[0]));
    kumo_diag_fini(&diag);
    if (count == 0) {
        printf("Events:           <none>\n");
    } else {
        qsort(mine, count, sizeof(*mine), by_last_seen);
        printf("Events:\n  %-8s %-24s %-20s %-18s %s\n", "Type", "Reason", "Age", "From",
               "Message");
        printf("  %-8s %-24s %-20s %-18s %s\n", "----", "------", "----", "----", "-------");
        for (size_t i = count > DESCRIBE_EVENTS_MAX ? count - DESCRIBE_EVENTS_MAX : 0; i < count;
             i++)
            print_event(mine[i]);
    }
    free(mine);
    for (size_t i = 0; i < page_count; i++)
        kumo_object_destroy(pages[i]);
}
