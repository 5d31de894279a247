"""GET latency through `spin up` against the same GET through the s3cache CLI's own host.

    python3 latency.py APP_URL_WITH_KEY ENDPOINT BUCKET    (run-tests passes them when
                                                            SPIN_LATENCY=1)

Both read the entry the app wrote, from the same `s3cache server`, over keep-alive
connections; Spin instantiates the app and its s3cache dependency for every request.
"""

import http.client
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]


def main():
    url, endpoint, bucket = sys.argv[1:4]
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port)
    target = f"{parts.path}?{parts.query}"
    samples = []
    for _ in range(300):
        started = time.perf_counter()
        connection.request("GET", target)
        response = connection.getresponse()
        response.read()
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status == 200, response.status
    spin = statistics.median(samples[50:])
    bench = subprocess.run(
        [
            str(ROOT / "target/release/s3cache"),
            "--endpoint",
            endpoint,
            "--bucket",
            bucket,
            "--location",
            "spin-latency",
            "bench",
            "--ops",
            "300",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    host = next(line for line in bench.splitlines() if line.startswith("GetHit"))
    print(f"GET through spin up (HTTP to the app, app + s3cache per request): p50 {spin:.2f} ms")
    print(f"GET through the s3cache CLI host (bench GetHit p50): {host.split()[1]} ms")


if __name__ == "__main__":
    main()
