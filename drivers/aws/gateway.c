/*
 * gateway.c - the internet side of a Network, for connections whose config
 * says public_networks=true: an internet gateway (tagged with the network's
 * token) attached to the VPC, a default route 0.0.0.0/0 to it in the VPC's
 * main route table, and MapPublicIpOnLaunch on every subnet, so machines get
 * public addresses. Every step looks before it acts, so a create retried
 * after a crash finishes the job; removal detaches and deletes the gateway
 * before the VPC goes.
 */
#include "drivers/aws/internal.h"

#include <stdio.h>
#include <string.h>

/* The gateway attached to vpc_id, else the one tagged with token; "" when none. */
static kumo_driver_code gateway_find(struct kumo_driver_conn *c, const char *vpc_id,
                                     const char *token, int64_t deadline_ns, char *id, size_t size,
                                     int *attached, struct kumo_driver_diag *diag)
{
    id[0] = '\0';
    *attached = 0;
    for (int pass = 0; pass < 2 && id[0] == '\0'; pass++) {
        if (pass == 1 && (token == NULL || token[0] == '\0'))
            break;
        struct aws_reply r;
        kumo_driver_code rc = aws_describe_where(
            c, "DescribeInternetGateways",
            pass == 0 ? "attachment.vpc-id" : "tag:" KUMO_DRIVER_TOKEN_TAG,
            pass == 0 ? vpc_id : token, "internet gateway", deadline_ns, &r, diag);
        if (rc != KUMO_DRIVER_OK)
            return rc;
        xmlNodePtr g = aws_xml_child(aws_xml_child(r.root, "internetGatewaySet"), "item");
        if (g != NULL) {
            snprintf(id, size, "%s", aws_xml_text(g, "internetGatewayId"));
            *attached = pass == 0;
        }
        aws_reply_free(&r);
    }
    return KUMO_DRIVER_OK;
}

/* The main route table of vpc_id and whether it routes 0.0.0.0/0 already. */
static kumo_driver_code main_table(struct kumo_driver_conn *c, const char *vpc_id,
                                   int64_t deadline_ns, char *table, size_t size, int *routed,
                                   struct kumo_driver_diag *diag)
{
    struct aws_params p;
    struct aws_reply r;
    aws_params_init(&p, "DescribeRouteTables");
    aws_params_filter(&p, 1, "vpc-id", vpc_id);
    aws_params_filter(&p, 2, "association.main", "true");
    kumo_driver_code rc = aws_call(c, &p, "main route table", deadline_ns, &r, diag);
    aws_params_fini(&p);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    xmlNodePtr t = aws_xml_child(aws_xml_child(r.root, "routeTableSet"), "item");
    table[0] = '\0';
    *routed = 0;
    if (t != NULL) {
        snprintf(table, size, "%s", aws_xml_text(t, "routeTableId"));
        AWS_XML_ITEMS(route, t, "routeSet")
        *routed |= strcmp(aws_xml_text(route, "destinationCidrBlock"), "0.0.0.0/0") == 0;
    }
    aws_reply_free(&r);
    return table[0]
               ? KUMO_DRIVER_OK
               : kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "InvalidRouteTableID.NotFound",
                                      "network %s in %s has no main route table", vpc_id,
                                      c->region);
}

kumo_driver_code aws_gateway_ensure(struct kumo_driver_conn *c, const char *vpc_id,
                                    const char *token, xmlNodePtr subnets, int64_t deadline_ns,
                                    struct kumo_driver_diag *diag)
{
    char gw[64], table[64];
    int attached = 0, routed = 0;
    struct aws_params p;
    kumo_driver_code rc =
        gateway_find(c, vpc_id, token, deadline_ns, gw, sizeof(gw), &attached, diag);
    if (rc == KUMO_DRIVER_OK && gw[0] == '\0') {
        struct aws_reply r;
        aws_params_init(&p, "CreateInternetGateway");
        aws_params_tag_spec(&p, "internet-gateway", token, NULL, NULL, 0);
        rc = aws_call(c, &p, "internet gateway", deadline_ns, &r, diag);
        aws_params_fini(&p);
        if (rc == KUMO_DRIVER_OK) {
            snprintf(gw, sizeof(gw), "%s",
                     aws_xml_text(aws_xml_find(r.root, "internetGateway"), "internetGatewayId"));
            aws_reply_free(&r);
        }
    }
    if (rc == KUMO_DRIVER_OK && !attached) {
        aws_params_init(&p, "AttachInternetGateway");
        aws_params_add(&p, "InternetGatewayId", gw);
        aws_params_add(&p, "VpcId", vpc_id);
        rc = aws_call_plain(c, &p, gw, deadline_ns, diag);
    }
    if (rc == KUMO_DRIVER_OK)
        rc = main_table(c, vpc_id, deadline_ns, table, sizeof(table), &routed, diag);
    if (rc == KUMO_DRIVER_OK && !routed) {
        aws_params_init(&p, "CreateRoute");
        aws_params_add(&p, "RouteTableId", table);
        aws_params_add(&p, "DestinationCidrBlock", "0.0.0.0/0");
        aws_params_add(&p, "GatewayId", gw);
        rc = aws_call_plain(c, &p, table, deadline_ns, diag);
    }
    AWS_XML_ITEMS(s, subnets, "subnetSet")
    if (rc == KUMO_DRIVER_OK && strcmp(aws_xml_text(s, "vpcId"), vpc_id) == 0 &&
        strcmp(aws_xml_text(s, "mapPublicIpOnLaunch"), "true") != 0) {
        aws_params_init(&p, "ModifySubnetAttribute");
        aws_params_add(&p, "SubnetId", aws_xml_text(s, "subnetId"));
        aws_params_add(&p, "MapPublicIpOnLaunch.Value", "true");
        rc = aws_call_plain(c, &p, aws_xml_text(s, "subnetId"), deadline_ns, diag);
    }
    return rc;
}

kumo_driver_code aws_gateway_remove(struct kumo_driver_conn *c, const char *vpc_id,
                                    const char *token, int64_t deadline_ns,
                                    struct kumo_driver_diag *diag)
{
    char gw[64];
    int attached = 0;
    kumo_driver_code rc =
        gateway_find(c, vpc_id, token, deadline_ns, gw, sizeof(gw), &attached, diag);
    struct aws_params p;
    if (rc == KUMO_DRIVER_OK && attached) {
        aws_params_init(&p, "DetachInternetGateway");
        aws_params_add(&p, "InternetGatewayId", gw);
        aws_params_add(&p, "VpcId", vpc_id);
        rc = aws_call_plain(c, &p, gw, deadline_ns, diag);
    }
    if (rc == KUMO_DRIVER_OK && gw[0]) {
        rc = aws_call_one(c, 0, "DeleteInternetGateway", "InternetGatewayId", gw, gw, deadline_ns,
                          diag);
    }
    return rc == KUMO_DRIVER_NOT_FOUND ? KUMO_DRIVER_OK : rc;
}
