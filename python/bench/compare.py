"""Django's S3Cache against boto3 on the same S3 server, side by side.

    python python/bench/compare.py [--ops N] [--endpoint URL]

Without --endpoint it starts `s3cache server` (S3CACHE_BIN, else target/release/s3cache) on a
free loopback port over a temporary directory. Both clients keep connections alive. Prints the
median (p50) and p90 latency of each operation, the ratio to boto3, and the component's HTTP
requests per operation. Needs boto3 and Django installed next to s3cache.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from servers import S3CacheServer  # noqa: E402

BUCKET = "bench"
SIZES = {"1 KiB": 1 << 10, "1 MiB": 1 << 20}


def timed(call: Callable[[], object], ops: int) -> List[float]:
    samples = []
    for _ in range(ops):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200, help="timed calls per operation and size")
    parser.add_argument(
        "--endpoint", help="an S3 endpoint (AWS_* credentials) instead of a local server"
    )
    args = parser.parse_args()

    server = None
    if args.endpoint:
        endpoint = args.endpoint
        key, secret = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    else:
        server = S3CacheServer.start()
        endpoint, key, secret = server.endpoint, server.access_key_id, server.secret_access_key

    import boto3
    import django
    from botocore.config import Config as BotoConfig
    from django.conf import settings

    settings.configure(
        CACHES={
            "default": {
                "BACKEND": "s3cache.django.S3Cache",
                "LOCATION": "bench-django",
                "OPTIONS": {
                    "STORAGE_BUCKET_NAME": BUCKET,
                    "ENDPOINT_URL": endpoint,
                    "ACCESS_KEY_ID": key,
                    "SECRET_ACCESS_KEY": secret,
                    "AUTO_CREATE_BUCKET": True,
                },
            }
        }
    )
    django.setup()
    from django.core.cache import cache

    from s3cache import _native

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=BotoConfig(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.ClientError:
        pass
    cache.clear()

    rows = []
    for label, size in SIZES.items():
        value = os.urandom(size)
        boto_key = f"bench-boto3/{size}"
        ops: Dict[str, Dict[str, Callable[[], object]]] = {
            "set": {
                "boto3": lambda k=boto_key, v=value: s3.put_object(Bucket=BUCKET, Key=k, Body=v),
                "django": lambda v=value: cache.set("bench", v, None),
            },
            "get": {
                "boto3": lambda k=boto_key: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read(),
                "django": lambda: cache.get("bench"),
            },
        }
        for op in ("set", "get"):
            samples: Dict[str, List[float]] = {"boto3": [], "django": []}
            requests = 0
            # Warm both (connections, compiled code), then interleave rounds so that drift
            # on the machine hits both clients alike.
            for client in samples:
                timed(ops[op][client], 5)
            rounds = 10
            for _ in range(rounds):
                for client in samples:
                    before = _native.requests_sent()
                    samples[client] += timed(ops[op][client], max(1, args.ops // rounds))
                    if client == "django":
                        requests += _native.requests_sent() - before
            assert cache.get("bench") == value, "the value did not round-trip"
            p50 = {c: statistics.median(s) for c, s in samples.items()}
            p90 = {c: statistics.quantiles(s, n=10)[-1] for c, s in samples.items()}
            rows.append(
                (
                    f"{op} {label}",
                    p50["boto3"],
                    p90["boto3"],
                    p50["django"],
                    p90["django"],
                    p50["django"] / p50["boto3"],
                    requests / len(samples["django"]),
                )
            )

    print(f"endpoint {endpoint}, {args.ops} calls per row, milliseconds")
    print(
        f"{'operation':<12} {'boto3 p50':>10} {'p90':>8} {'django p50':>11} {'p90':>8} "
        f"{'django/boto3':>13} {'requests/op':>12}"
    )
    for name, b50, b90, d50, d90, ratio, requests in rows:
        print(
            f"{name:<12} {b50:>10.2f} {b90:>8.2f} {d50:>11.2f} {d90:>8.2f} "
            f"{ratio:>12.2f}x {requests:>12.2f}"
        )
    if server:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
