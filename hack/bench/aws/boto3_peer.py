#!/usr/bin/env python3
"""boto3_peer.py - the peer of hack/bench/aws.sh: what a user would otherwise
write to get N tagged instances with boto3. N RunInstances calls (one
instance each, tagged with its own uid, ClientToken = uid) from a thread pool
of C workers, then DescribeInstances (filtered on the run's tag, every page)
until all N are running. Prints one line: seconds=S calls=K.
"""
import argparse
import concurrent.futures
import time
import uuid

import boto3
from botocore.config import Config


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--region", default="us-west-2")
    ap.add_argument("--key", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--machines", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--image", required=True)
    a = ap.parse_args()
    ec2 = boto3.client("ec2", endpoint_url=a.endpoint, region_name=a.region,
                       aws_access_key_id=a.key, aws_secret_access_key=a.secret,
                       config=Config(max_pool_connections=a.concurrency,
                                     retries={"mode": "standard"}))
    run = uuid.uuid4().hex[:8]
    calls = 0

    def create(i):
        uid = f"{run}-{i}"
        ec2.run_instances(ImageId=a.image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                          ClientToken=uid, TagSpecifications=[{
                              "ResourceType": "instance",
                              "Tags": [{"Key": "kumo:uid", "Value": uid},
                                       {"Key": "bench-run", "Value": run}]}])

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(a.concurrency) as pool:
        list(pool.map(create, range(a.machines)))
    calls += a.machines
    while True:
        running = 0
        for page in ec2.get_paginator("describe_instances").paginate(
                Filters=[{"Name": "tag:bench-run", "Values": [run]},
                         {"Name": "instance-state-name", "Values": ["running"]}],
                PaginationConfig={"PageSize": 1000}):
            calls += 1
            running += sum(len(r["Instances"]) for r in page["Reservations"])
        if running >= a.machines:
            break
        time.sleep(0.5)
    print(f"seconds={time.monotonic() - start:.2f} calls={calls}")


if __name__ == "__main__":
    main()
