"""The memory of a Django worker with s3cache, against the same worker with FileBasedCache.

    python python/bench/worker_memory.py [--requests N]

Starts `s3cache server` (S3CACHE_BIN, else target/release/s3cache) on loopback, then serves the
production-shape site (python/tests/production) under gunicorn (one sync worker) and uvicorn
(one worker), once with `s3cache.django.S3Cache` and once with Django's FileBasedCache, sends
N requests that use the cache (a counter and a cached page), and reads each worker's resident
memory (VmRSS, /proc) afterwards. Needs gunicorn and uvicorn installed next to s3cache.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from pathlib import Path
from typing import List

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
sys.path.insert(0, str(TESTS))

from servers import S3CacheServer, free_port, wait_for_port  # noqa: E402

SITE = TESTS / "production"
SHAPES = {
    "gunicorn sync": ["gunicorn", "--workers", "1", "--chdir", str(SITE), "djangosite:wsgi"],
    "uvicorn": ["uvicorn", "--workers", "1", "--app-dir", str(SITE), "djangosite:asgi"],
}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> List[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


def worker_rss(shape: str, backend: str, server, requests: int, scratch: str) -> float:
    port = free_port()
    command = [str(Path(sys.executable).with_name(SHAPES[shape][0])), *SHAPES[shape][1:]]
    command += (
        ["--bind", f"127.0.0.1:{port}"]
        if shape.startswith("gunicorn")
        else ["--port", str(port), "--log-level", "warning"]
    )
    location = "mem-" + uuid.uuid4().hex[:8]
    env = dict(
        os.environ,
        S3CACHE_SITE_BACKEND=backend,
        S3CACHE_SITE_LOCATION=str(Path(scratch) / location) if backend == "file" else location,
        S3CACHE_SITE_BUCKET="memory",
        S3CACHE_SITE_ENDPOINT=server.endpoint,
        S3CACHE_SITE_ACCESS_KEY_ID=server.access_key_id,
        S3CACHE_SITE_SECRET_ACCESS_KEY=server.secret_access_key,
    )
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, process, shape)
        for i in range(requests):
            view = "incr?key=n" if i % 2 else "page"
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/{view}", timeout=30) as reply:
                reply.read()
        workers = children(process.pid) or [process.pid]
        return max(rss_mib(pid) for pid in workers)
    finally:
        process.terminate()
        process.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    server = S3CacheServer.start()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            print(f"worker resident memory after {args.requests} requests, MiB")
            print(f"{'server':16} {'FileBasedCache':>15} {'S3Cache':>9} {'difference':>11}")
            for shape in SHAPES:
                file = worker_rss(shape, "file", server, args.requests, scratch)
                s3 = worker_rss(shape, "s3cache", server, args.requests, scratch)
                print(f"{shape:16} {file:15.1f} {s3:9.1f} {s3 - file:+11.1f}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
