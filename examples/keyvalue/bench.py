"""Latency of the keyvalue example app's routes over HTTP (keep-alive), served by
`s3cache serve-app` and by `spin up`, against `s3cache server` on loopback: what one
wasi:keyvalue call costs an app, instance per request included.

    target/python-venv/bin/python examples/keyvalue/bench.py [--ops 300]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

from test_app import APP, S3CacheServer, start_host

# (route, method, path, body, key of request i): sets spread over ten keys, gets read one of
# them, exists asks of a missing key, increment counts one key up.
ROUTES = [
    ("set", "PUT", "/set", b"x" * 1024, lambda i: f"bench-{i % 10}"),
    ("get", "GET", "/get", b"", lambda i: "bench-0"),
    ("exists", "GET", "/exists", b"", lambda i: "bench"),
    ("increment", "POST", "/increment", b"", lambda i: "bench"),
]


def measure(url: str, ops: int) -> dict:
    address = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    results = {}
    for name, method, path, body, key_of in ROUTES:
        times = []
        for i in range(ops + 10):
            key = key_of(i)
            start = time.perf_counter()
            connection.request(method, f"{path}?key={key}", body=body or None)
            response = connection.getresponse()
            response.read()
            elapsed = time.perf_counter() - start
            assert response.status in (200, 204), (name, response.status)
            if i >= 10:
                times.append(elapsed * 1000)
        times.sort()
        results[name] = (statistics.median(times), times[int(len(times) * 0.99) - 1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=300)
    args = parser.parse_args()
    assert APP.exists(), f"build the app first: {APP}"
    server = S3CacheServer.start()
    try:
        print(f"{'host':<10} {'route':<10} {'p50 ms':>8} {'p99 ms':>8}")
        for host in ("s3cache", "spin"):
            work = Path(tempfile.mkdtemp(prefix="kv-bench-"))
            bucket = "kv-" + uuid.uuid4().hex[:12]
            process, url, _log = start_host(host, server, bucket, work)
            try:
                for route, (p50, p99) in measure(url, args.ops).items():
                    print(f"{host:<10} {route:<10} {p50:>8.3f} {p99:>8.3f}")
            finally:
                process.terminate()
                process.wait(10)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
