/*
 * control.c - hack/bench/aws.sh's helper: sends one driver control request to
 * kumod over NATS (subject <prefix>.control.connections.<ns>.<name>, body
 * {"op": OP, "input": {}}) and prints the reply.
 *
 *   aws-bench-control NATS_URL NAMESPACE CONNECTION OP
 */
#include <nats/nats.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s NATS_URL NAMESPACE CONNECTION OP\n", argv[0]);
        return 2;
    }
    natsConnection *nc = NULL;
    natsMsg *reply = NULL;
    char subject[512], body[256];
    snprintf(subject, sizeof(subject), "kumo.v1.control.connections.%s.%s", argv[2], argv[3]);
    snprintf(body, sizeof(body), "{\"op\": \"%s\", \"input\": {}}", argv[4]);
    natsStatus s = natsConnection_ConnectTo(&nc, argv[1]);
    if (s == NATS_OK)
        s = natsConnection_RequestString(&reply, nc, subject, body, 10000);
    if (s != NATS_OK) {
        fprintf(stderr, "control %s on %s/%s: %s\n", argv[4], argv[2], argv[3],
                natsStatus_GetText(s));
        natsConnection_Destroy(nc);
        return 1;
    }
    printf("%.*s\n", natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
    natsMsg_Destroy(reply);
    natsConnection_Destroy(nc);
    nats_Close();
    return 0;
}
