/*
 * logs.c - the output of an App instance, asked of kumod (which relays it
 * to the machine's agent): kumo_client_logs.
 */
#include "bus/client/internal.h"

#include <stdio.h>
#include <string.h>

kumo_error kumo_client_logs(kumo_client *client, const char *ns,
                            const Kumo__V1alpha1__AgentLogsRequest *request,
                            Kumo__V1alpha1__AgentLogs **out, kumo_diag *diag)
{
    *out = NULL;
    char subject[400];
    snprintf(subject, sizeof(subject), "%s.logs.%s", client->prefix, ns);
    kumo_codec_buffer body;
    kumo_codec_buffer_init(&body);
    kumo_error e = kumo_codec_json_encode(&request->base, NULL, &body, diag);
    natsMsg *reply = NULL;
    natsStatus s = NATS_OK;
    if (e == KUMO_ERROR_OK)
        s = natsConnection_Request(&reply, client->conn, subject, body.data, (int)body.len,
                                   client->timeout_ms);
    kumo_codec_buffer_fini(&body);
    if (e == KUMO_ERROR_OK && s == NATS_NO_RESPONDERS)
        e = kumo_diag_set(diag, KUMO_ERROR_UNAVAILABLE,
                          "no kumod serves logs on %s (kumod relays logs when it runs its agent "
                          "bus: not with --controllers none or --agent-listen none)",
                          client->url);
    else if (e == KUMO_ERROR_OK && s != NATS_OK)
        e = client_nats_error(client, s, "asking for logs", diag);
    if (e == KUMO_ERROR_OK) {
        ProtobufCMessage *m = NULL;
        e = kumo_codec_json_decode(&kumo__v1alpha1__agent_logs__descriptor, natsMsg_GetData(reply),
                                   (size_t)natsMsg_GetDataLength(reply), NULL, &m, diag);
        *out = (Kumo__V1alpha1__AgentLogs *)m;
    }
    natsMsg_Destroy(reply);
    return e;
}
