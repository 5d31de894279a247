"""The boto3 peer: the same get and set as `s3cache bench`, with boto3 (keep-alive), against
the same server, printing the same JSON lines (mode "boto3").

    python bench/peer.py --endpoint URL --bucket B [--size 1KiB,64KiB,1MiB] [--ops N]

Credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from typing import Dict, List

UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mib": 1 << 20}


def parse_size(text: str) -> int:
    number = text.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return int(number) * UNITS[text[len(number) :].lower()]


def client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def row(op: str, size: int, samples: List[float]) -> Dict[str, object]:
    samples = sorted(samples)
    total = sum(samples)
    return {
        "mode": "boto3",
        "op": op,
        "size": size,
        "batch": 1,
        "count": len(samples),
        "ops_per_s": round(len(samples) / total, 1),
        "p50_us": round(statistics.median(samples) * 1e6),
        "p99_us": round(samples[min(len(samples) - 1, len(samples) * 99 // 100)] * 1e6),
        "requests_per_op": 1.0,
    }


def measure(endpoint: str, bucket: str, size: int, ops: int) -> List[Dict[str, object]]:
    """`ops` put_object calls then `ops` get_object calls of `size` bytes."""
    s3 = client(endpoint)
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.ClientError:
        pass
    value = random.Random(size).randbytes(size)  # incompressible, as s3cache bench's
    keys = [f"s3cache-bench-boto3/{size}/{i}" for i in range(ops)]
    s3.put_object(Bucket=bucket, Key=keys[0], Body=value)  # warm the connection
    timings: Dict[str, List[float]] = {"set": [], "get": []}
    for key in keys:
        started = time.perf_counter()
        s3.put_object(Bucket=bucket, Key=key, Body=value)
        timings["set"].append(time.perf_counter() - started)
    for key in keys:
        started = time.perf_counter()
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        timings["get"].append(time.perf_counter() - started)
        assert len(body) == size
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
    return [row(op, size, samples) for op, samples in timings.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"))
    parser.add_argument("--bucket", default="s3cache")
    parser.add_argument("--size", default="1KiB")
    parser.add_argument("--ops", type=int, default=200)
    args = parser.parse_args()
    for size in args.size.split(","):
        for line in measure(args.endpoint, args.bucket, parse_size(size), args.ops):
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
