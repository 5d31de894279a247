"""The first cache call in a fresh Python process, and the memory s3cache adds to it.

    python python/bench/cold_start.py [--runs N]

Starts `s3cache server` (S3CACHE_BIN, else target/release/s3cache) on loopback, then for each
scenario runs N fresh processes that time `import s3cache`, opening a Cache and its first `get`
together, and read the process's resident memory before the import and after the call. The
scenarios: the precompiled component the wheel ships; compiling with a warm compiled-code cache;
compiling with an empty one; compiling with a cache directory that cannot be written.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from servers import S3CacheServer  # noqa: E402

PROBE = r"""
import json, sys, time

def rss_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
before = rss_mib()
started = time.perf_counter()
import s3cache
from s3cache import _native
if sys.argv[1] == "compile":
    _native.use_precompiled("/nonexistent/component.cwasm")
cache = s3cache.Cache("cold", endpoint=sys.argv[2], access_key_id=sys.argv[3],
                      secret_access_key=sys.argv[4], create_bucket=True)
cache.get("k")
took = (time.perf_counter() - started) * 1000
print(json.dumps({"ms": took, "origin": _native.code_origin(), "added_mib": rss_mib() - before}))
"""


def run(mode: str, server, env: Dict[str, str]) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            mode,
            server.endpoint,
            server.access_key_id,
            server.secret_access_key,
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    # The warning goes through logging (Python's last-resort handler prints it to stderr).
    result["warnings"] = sum("cannot be written" in line for line in out.stderr.splitlines())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    server = S3CacheServer.start()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            warm = str(Path(scratch) / "warm")
            run("compile", server, {"S3CACHE_CODE_CACHE": warm})
            blocked = Path(scratch) / "a-file"
            blocked.write_text("")
            scenarios = [
                ("precompiled (the wheel's)", "shipped", lambda i: {}),
                ("compiled, warm cache", "compile", lambda i: {"S3CACHE_CODE_CACHE": warm}),
                (
                    "compiled, empty cache",
                    "compile",
                    lambda i: {"S3CACHE_CODE_CACHE": str(Path(scratch) / f"empty-{i}")},
                ),
                (
                    "compiled, unwritable cache",
                    "compile",
                    lambda i: {"S3CACHE_CODE_CACHE": str(blocked / "sub")},
                ),
            ]
            print(f"first call in a fresh process, {args.runs} runs each, median")
            print(f"{'scenario':30} {'ms':>8} {'added MiB':>10}  origin       warnings")
            for name, mode, env in scenarios:
                results: List[dict] = [run(mode, server, env(i)) for i in range(args.runs)]
                print(
                    f"{name:30} {statistics.median(r['ms'] for r in results):8.1f} "
                    f"{statistics.median(r['added_mib'] for r in results):10.1f}  "
                    f"{results[0]['origin']:12} {results[0]['warnings']}"
                )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
