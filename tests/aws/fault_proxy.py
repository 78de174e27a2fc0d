#!/usr/bin/env python3
"""fault_proxy.py - a test-only HTTP proxy between kumo's aws driver and moto.

moto answers every EC2 call at once and never throttles, runs out of capacity
or loses a reply. This proxy forwards each request unchanged (same Host
header, same body, so moto still checks the SigV4 signature) and, by rules,
instead:

  throttle P          answers HTTP 503 RequestLimitExceeded (not forwarded)
  capacity_regions R  answers InsufficientInstanceCapacity to RunInstances in
                      those regions (not forwarded)
  capacity P          the same, with probability P in every region
  latency_ms N        waits 0..2N ms before forwarding (mean N)
  lose_run P          forwards RunInstances and, when moto made the instance,
                      closes the connection without a reply: the caller cannot
                      know the instance exists (the classic leak/duplicate)
  lose_actions A      the same for every successful call of the named actions
                      (e.g. ["CreateLoadBalancer"]), every time

The region is read from the Authorization header's credential scope.
Rules change at run time: POST /_proxy/rules {"throttle":0.1,...}; counters:
GET /_proxy/stats.
"""
import argparse
import http.client
import json
import random
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
RULES = {"throttle": 0.0, "capacity": 0.0, "capacity_regions": [], "latency_ms": 0,
         "lose_run": 0.0, "lose_actions": []}
STATS = {"requests": 0, "forwarded": 0, "throttled": 0, "capacity": 0, "lost": 0,
         "run_instances_ok": 0, "by_action": {}}
RNG = random.Random()
UPSTREAM = ("127.0.0.1", 0)
SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/")
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def error_xml(code, message):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error>"
            f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            "<RequestID>fault-proxy</RequestID></Response>").encode()


def chance(p):
    with LOCK:
        return p > 0 and RNG.random() < p


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/_proxy/stats":
            with LOCK:
                body = json.dumps(STATS).encode()
            self.reply(200, body, [("Content-Type", "application/json")])
            return
        self.forward(b"")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/_proxy/rules":
            with LOCK:
                RULES.update(json.loads(body or b"{}"))
                reply = json.dumps(RULES).encode()
            self.reply(200, reply, [("Content-Type", "application/json")])
            return
        self.forward(body)

    def forward(self, body):
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        action = (form.get("Action") or ["?"])[0]
        m = SCOPE.search(self.headers.get("Authorization", ""))
        region = m.group(1) if m else ""
        with LOCK:
            STATS["requests"] += 1
            STATS["by_action"][action] = STATS["by_action"].get(action, 0) + 1
            rules = dict(RULES)
        if rules["latency_ms"]:
            time.sleep(RNG.uniform(0, 2 * rules["latency_ms"]) / 1000.0)
        if chance(rules["throttle"]):
            with LOCK:
                STATS["throttled"] += 1
            self.reply(503, error_xml("RequestLimitExceeded", "Request limit exceeded."))
            return
        if action == "RunInstances" and (region in rules["capacity_regions"] or
                                         chance(rules["capacity"])):
            with LOCK:
                STATS["capacity"] += 1
            self.reply(500, error_xml("InsufficientInstanceCapacity",
                                      f"We currently do not have sufficient capacity in {region}."))
            return
        status, headers, data = self.upstream(body)
        with LOCK:
            STATS["forwarded"] += 1
            if action == "RunInstances" and status == 200:
                STATS["run_instances_ok"] += 1
        if status == 200 and ((action == "RunInstances" and chance(rules["lose_run"])) or
                              action in rules["lose_actions"]):
            with LOCK:
                STATS["lost"] += 1
            self.close_connection = True
            return
        self.reply(status, data, headers)

    def upstream(self, body):
        conn = http.client.HTTPConnection(*UPSTREAM, timeout=120)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            if k.lower() not in HOP:
                conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        headers = [(k, v) for k, v in r.getheaders() if k.lower() not in HOP]
        conn.close()
        return r.status, headers, data


def main():
    global UPSTREAM
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", type=int, required=True, help="port on 127.0.0.1")
    ap.add_argument("--upstream", required=True, help="moto's URL, http://127.0.0.1:PORT")
    ap.add_argument("--throttle", type=float, default=0.0)
    ap.add_argument("--capacity", type=float, default=0.0)
    ap.add_argument("--capacity-regions", default="")
    ap.add_argument("--latency-ms", type=float, default=0)
    ap.add_argument("--lose-run", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.upstream)
    UPSTREAM = (u.hostname, u.port or 80)
    RULES.update(throttle=a.throttle, capacity=a.capacity, latency_ms=a.latency_ms,
                 lose_run=a.lose_run,
                 capacity_regions=[r for r in a.capacity_regions.split(",") if r])
    RNG.seed(a.seed)
    server = ThreadingHTTPServer(("127.0.0.1", a.listen), Handler)
    server.daemon_threads = True
    print(f"fault proxy on 127.0.0.1:{a.listen} -> {a.upstream}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
