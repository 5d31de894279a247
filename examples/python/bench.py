"""What the wasmtime-py embedding costs: 1 KiB get and 1 MiB set/get through demo.py's Cache.

    S3CACHE_ENDPOINT=http://127.0.0.1:9000 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
        .venv/bin/python bench.py [--ops N]

wasmtime-py 50 lowers and lifts `list<u8>` one element at a time through ctypes, and its
wasi:http opens a connection per request; this measures both. The `s3cache` Python package
(python/) embeds the project's own wasmtime host instead; python/bench/compare.py measures it.
"""

import argparse
import os
import statistics
import time

from demo import DEFAULT_WASM, Cache, config, credentials
from wasmtime.component import Variant


def p50(call, ops):
    samples = []
    for _ in range(ops):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=20)
    args = parser.parse_args()
    cache = Cache(str(os.environ.get("S3CACHE_WASM", DEFAULT_WASM)), config(), credentials())
    small, big = os.urandom(1 << 10), os.urandom(1 << 20)
    never = Variant("never")
    cache.set("bench-small", small, never)
    print("wasmtime-py embedding, p50 in ms")
    print(f"get 1 KiB  {p50(lambda: cache.get('bench-small'), args.ops * 10):8.2f}")
    print(
        f"set 1 MiB  {p50(lambda: cache.set('bench-big', big, never), max(3, args.ops // 4)):8.2f}"
    )
    print(f"get 1 MiB  {p50(lambda: cache.get('bench-big'), max(3, args.ops // 4)):8.2f}")
    cache.close()


if __name__ == "__main__":
    main()
