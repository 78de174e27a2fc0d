#!/usr/bin/env python3
"""botocore_sign.py - signs requests with botocore's SigV4Auth, for the aws
driver's signing test.

Reads JSON lines {"method","url","params":[[k,v],...],"headers":{...},
"body","region","service","key","secret","token","when"} (when: Unix
seconds) and prints one line per request: the Authorization header botocore
computes, then a tab, then its X-Amz-Date.
"""
import datetime
import json
import sys

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(r):
    when = datetime.datetime.fromtimestamp(r["when"], datetime.timezone.utc).replace(tzinfo=None)
    botocore.auth.get_current_datetime = lambda *a, **k: when
    creds = Credentials(r["key"], r["secret"], r.get("token") or None)
    req = AWSRequest(method=r["method"], url=r["url"], data=r["body"].encode("utf-8"),
                     headers=r["headers"], params=[tuple(p) for p in r["params"]])
    botocore.auth.SigV4Auth(creds, r["service"], r["region"]).add_auth(req)
    return req.headers["Authorization"], req.headers["X-Amz-Date"]


def main():
    for line in sys.stdin:
        if line.strip():
            auth, date = sign(json.loads(line))
            print(f"{auth}\t{date}")


if __name__ == "__main__":
    main()
