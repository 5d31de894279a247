"""Django as it runs in production, on loopback: gunicorn with sync workers, with gthread
workers, with --preload, and uvicorn with async views, each with two worker processes, against
`s3cache server`. A counter shared by every worker through incr (and aincr) is exact, a
cache-backed session survives moving between workers, cache_page serves one cached page, and
no request fails."""

from __future__ import annotations

import http.cookiejar
import os
import subprocess
import sys
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, List

import pytest

from conftest import BUCKET
from servers import Server, free_port, wait_for_port

SITE = Path(__file__).with_name("production")
REQUESTS = 60

SHAPES = {
    "gunicorn-sync": ["gunicorn", "--workers", "2", "djangosite:wsgi"],
    "gunicorn-gthread": ["gunicorn", "--workers", "2", "--threads", "4", "djangosite:wsgi"],
    "gunicorn-preload": ["gunicorn", "--workers", "2", "--preload", "djangosite:wsgi"],
    "uvicorn": ["uvicorn", "--workers", "2", "djangosite:asgi"],
}


@pytest.fixture(params=sorted(SHAPES))
def site(request, s3cache_server: Server) -> Iterator[str]:
    """The site under one server shape; its base URL."""
    shape = request.param
    port = free_port()
    command = [str(Path(sys.executable).with_name(SHAPES[shape][0])), *SHAPES[shape][1:]]
    if shape.startswith("gunicorn"):
        command += ["--chdir", str(SITE), "--bind", f"127.0.0.1:{port}", "--timeout", "30"]
    else:
        command += ["--app-dir", str(SITE), "--port", str(port), "--log-level", "warning"]
    env = dict(
        os.environ,
        S3CACHE_SITE_LOCATION="site-" + uuid.uuid4().hex[:8],
        S3CACHE_SITE_BUCKET=BUCKET,
        S3CACHE_SITE_ENDPOINT=s3cache_server.endpoint,
        S3CACHE_SITE_ACCESS_KEY_ID=s3cache_server.access_key_id,
        S3CACHE_SITE_SECRET_ACCESS_KEY=s3cache_server.secret_access_key,
        # Python 3.12+ warns when a multi-threaded process forks (a --preload master whose
        # cache started threads): shown whatever the warning filters say elsewhere.
        PYTHONWARNINGS="always:This process:DeprecationWarning",
    )
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process, shape)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    log = output.decode(errors="replace")
    assert "Traceback" not in log, log
    assert "use of fork() may lead to deadlocks" not in log, log


def get(url: str, opener=None) -> str:
    with (opener or urllib.request.build_opener()).open(url, timeout=30) as response:
        assert response.status == 200, url
        return response.read().decode()


def in_parallel(urls: List[str]) -> List[str]:
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(get, urls))


def test_a_counter_shared_by_every_worker_is_exact(site: str):
    for view in ("incr", "aincr"):
        key = f"{view}-{uuid.uuid4().hex[:6]}"
        values = in_parallel([f"{site}/{view}?key={key}"] * REQUESTS)
        assert sorted(int(value) for value in values) == list(range(1, REQUESTS + 1)), view


def test_sessions_survive_across_workers_and_pages_are_cached(site: str):
    cookies = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    counts = [get(f"{site}/session", cookies) for _ in range(12)]
    assert counts == [str(n) for n in range(1, 13)]
    page = f"{site}/page?v={uuid.uuid4().hex[:6]}"
    first = get(page)
    assert in_parallel([page] * 8) == [first] * 8
