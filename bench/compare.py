"""The component, the same core natively, and boto3, from one run against one server.

    python bench/compare.py [--ops N] [--size 1KiB,64KiB,1MiB] [--rounds R]

Starts `s3cache server` (target/release/s3cache, or S3CACHE_BIN) on loopback, then, for each
round, runs `s3cache bench --mode both --json` and the boto3 peer (bench/peer.py) against it,
size by size, so the three are measured side by side. Prints a table of medians over the rounds
(p50 of each row) and the ratios the goals are about. Needs boto3 (python/setup-venv has it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "python" / "tests"))

import peer  # noqa: E402

from servers import S3CacheServer, s3cache_binary  # noqa: E402

BUCKET = "bench"


def s3cache_rows(server, size: str, ops: int, batch: int, max_entries: str):
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID=server.access_key_id,
        AWS_SECRET_ACCESS_KEY=server.secret_access_key,
    )
    out = subprocess.run(
        [
            s3cache_binary(),
            "--endpoint",
            server.endpoint,
            "--bucket",
            BUCKET,
            "--create-bucket",
            "--max-entries",
            max_entries,
            "bench",
            "--mode",
            "both",
            "--json",
            "--size",
            size,
            "--ops",
            str(ops),
            "--batch",
            str(batch),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--size", default="1KiB,64KiB,1MiB")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    # boto3's put_object is one PUT; so is a set when nothing is counted for culling.
    parser.add_argument("--max-entries", default="unlimited")
    args = parser.parse_args()
    server = S3CacheServer.start()
    os.environ.update(
        AWS_ACCESS_KEY_ID=server.access_key_id, AWS_SECRET_ACCESS_KEY=server.secret_access_key
    )
    p50 = defaultdict(list)
    requests = {}
    try:
        for _ in range(args.rounds):
            for size in args.size.split(","):
                ops = args.ops if peer.parse_size(size) < (1 << 20) else max(10, args.ops // 4)
                rows = s3cache_rows(server, size, ops, args.batch, args.max_entries)
                rows += peer.measure(server.endpoint, BUCKET, peer.parse_size(size), ops)
                for row in rows:
                    key = (row["op"], row["size"], row["batch"], row["mode"])
                    p50[key].append(row["p50_us"])
                    requests[key] = row["requests_per_op"]
    finally:
        server.stop()
    median = {key: statistics.median(values) for key, values in p50.items()}
    print(
        f"medians of {args.rounds} rounds, p50 in ms; one s3cache server on loopback; "
        f"max-entries {args.max_entries}"
    )
    print(
        f"{'op':<9} {'size':>8} {'batch':>5} {'wasm':>8} {'native':>8} {'boto3':>8} "
        f"{'wasm/native':>11} {'boto3/wasm':>10} {'req/op':>7}"
    )
    ops = sorted({(op, size, batch) for op, size, batch, _ in median}, key=lambda k: (k[1], k[0]))
    for op, size, batch in ops:
        cell = {mode: median.get((op, size, batch, mode)) for mode in ("wasm", "native", "boto3")}
        show = {m: f"{v / 1000:8.3f}" if v is not None else f"{'-':>8}" for m, v in cell.items()}
        ratio = (
            f"{cell['wasm'] / cell['native']:10.2f}x"
            if cell["wasm"] and cell["native"]
            else f"{'-':>11}"
        )
        peer_ratio = (
            f"{cell['boto3'] / cell['wasm']:9.2f}x"
            if cell["wasm"] and cell["boto3"]
            else f"{'-':>10}"
        )
        reqs = requests.get((op, size, batch, "wasm"), requests.get((op, size, batch, "boto3"), 0))
        print(
            f"{op:<9} {size:>8} {batch:>5} {show['wasm']} {show['native']} {show['boto3']} "
            f"{ratio} {peer_ratio} {reqs:>7.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
