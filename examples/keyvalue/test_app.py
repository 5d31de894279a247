"""The keyvalue example app (imports only wasi:keyvalue) with s3cache satisfying the import,
driven over HTTP: every function of store, atomics and batch, list-keys paging, 16 concurrent
incrementers, CAS conflicts, and the objects it leaves checked through S3 (boto3) and read by
the `s3cache` CLI.

Each test runs for every host x server: hosts are `s3cache serve-app` (which plugs the
keyvalue component into the app, as `wac plug` does) and `spin up` (spin.toml names the
component as the dependency that satisfies the import); servers are `s3cache server`
(s3s-fs) and moto, both verifying SigV4. Run by examples/keyvalue/run-tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "python" / "tests"))

from servers import MotoServer, S3CacheServer, Server, free_port, wait_for_port  # noqa: E402

S3CACHE = os.environ.get("S3CACHE_BIN") or str(REPO / "target" / "release" / "s3cache")
SPIN = os.environ.get("SPIN") or str(REPO.parent / "shared" / "tools" / "spin" / "bin" / "spin")
APP = HERE / "target" / "wasm32-wasip2" / "release" / "s3cache_keyvalue_example.wasm"
# Sixteen incrementers of one key, or a page of a thousand HEADs, on moto take longer than the
# default 2 s deadline; these tests are about what the calls do, not how fast.
DEADLINE = "30"


@dataclass
class Running:
    """The app served by a host, in a bucket of its own on a server."""

    url: str
    server: Server
    bucket: str
    log: Path

    def call(self, method: str, path: str, body: bytes = b"", **params) -> Tuple[int, bytes]:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        request = urllib.request.Request(
            f"{self.url}{path}?{query}", data=body or None, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def ok(self, method: str, path: str, body: bytes = b"", **params) -> bytes:
        status, answer = self.call(method, path, body, **params)
        assert status in (200, 204), f"{method} {path} {params}: {status} {answer!r}\n{self.tail()}"
        return answer

    def json(self, method: str, path: str, body=None, **params):
        if isinstance(body, bytes):
            payload = body
        else:
            payload = json.dumps(body).encode() if body is not None else b""
        return json.loads(self.ok(method, path, payload, **params))

    def tail(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "host log:\n" + text[-4000:]

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        env = dict(
            os.environ,
            AWS_ACCESS_KEY_ID=self.server.access_key_id,
            AWS_SECRET_ACCESS_KEY=self.server.secret_access_key,
        )
        return subprocess.run(
            [S3CACHE, "--endpoint", self.server.endpoint, "--bucket", self.bucket, *args],
            env=env,
            capture_output=True,
            timeout=60,
        )


def start_host(
    host: str, server: Server, bucket: str, work: Path, manifest: Path = HERE / "spin.toml"
) -> Tuple[subprocess.Popen, str, Path]:
    port = free_port()
    log = work / f"{host}.log"
    if host == "s3cache":
        env = dict(
            os.environ,
            AWS_ACCESS_KEY_ID=server.access_key_id,
            AWS_SECRET_ACCESS_KEY=server.secret_access_key,
        )
        command = [
            S3CACHE,
            "--endpoint",
            server.endpoint,
            "--bucket",
            bucket,
            "--create-bucket",
            "--deadline",
            DEADLINE,
            "serve-app",
            str(APP),
            "--listen",
            f"127.0.0.1:{port}",
        ]
        cwd = work
    else:
        if not Path(SPIN).exists():
            pytest.fail(f"no Spin CLI at {SPIN} (set SPIN=...)")
        env = dict(
            os.environ,
            XDG_DATA_HOME=str(work / "xdg"),
            SPIN_VARIABLE_S3CACHE_BUCKET=bucket,
            SPIN_VARIABLE_S3CACHE_ENDPOINT=server.endpoint,
            SPIN_VARIABLE_S3CACHE_ACCESS_KEY_ID=server.access_key_id,
            SPIN_VARIABLE_S3CACHE_SECRET_ACCESS_KEY=server.secret_access_key,
            SPIN_VARIABLE_S3CACHE_CREATE_BUCKET="true",
            SPIN_VARIABLE_S3CACHE_DEADLINE=DEADLINE,
            SPIN_VARIABLE_S3_ALLOWED_HOST=server.endpoint,
        )
        command = [
            SPIN,
            "up",
            "--from",
            str(manifest),
            "--listen",
            f"127.0.0.1:{port}",
        ]
        cwd = HERE
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=out)
    try:
        wait_for_port(port, process, f"{host} serving the app")
    except RuntimeError as error:
        raise RuntimeError(f"{error}\n{log.read_text(errors='replace')}") from error
    return process, f"http://127.0.0.1:{port}", log


@pytest.fixture(scope="module", params=["s3cache-server", "moto"])
def server(request) -> Iterator[Server]:
    started = {"s3cache-server": S3CacheServer.start, "moto": MotoServer.start}[request.param]()
    yield started
    started.stop()


@pytest.fixture(scope="module", params=["s3cache", "spin"])
def app(request, server: Server) -> Iterator[Running]:
    assert APP.exists(), f"build the app first: {APP}"
    work = Path(tempfile.mkdtemp(prefix="kv-app-"))
    bucket = "kv-" + uuid.uuid4().hex[:12]
    process, url, log = start_host(request.param, server, bucket, work)
    running = Running(url, server, bucket, log)
    yield running
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def fresh() -> str:
    return "k-" + uuid.uuid4().hex[:10]


def object_name(store: str, key: str) -> str:
    """Where s3cache keeps a wasi:keyvalue key: the store's location and the ancestor's sha1
    of ":1:key" (default key prefix and version)."""
    return f"{store}/" + hashlib.sha1(f":1:{key}".encode()).hexdigest()


def test_get_set_delete_exists(app: Running):
    key = fresh()
    assert app.call("GET", "/get", key=key)[0] == 404
    assert app.ok("GET", "/exists", key=key).strip() == b"false"
    value = bytes(range(256)) * 10
    app.ok("PUT", "/set", value, key=key)
    assert app.ok("GET", "/get", key=key) == value
    assert app.ok("GET", "/exists", key=key).strip() == b"true"
    app.ok("PUT", "/set", b"second", key=key)
    assert app.ok("GET", "/get", key=key) == b"second"
    app.ok("DELETE", "/delete", key=key)
    assert app.call("GET", "/get", key=key)[0] == 404
    assert app.ok("GET", "/exists", key=key).strip() == b"false"
    app.ok("DELETE", "/delete", key=key)  # a missing key deletes fine


def test_one_store_two_interfaces(app: Running):
    """What the app writes is an s3cache entry: boto3 finds the object where the ancestor's
    naming puts it, with its key in the metadata, and the CLI reads it; what the CLI writes
    the app reads and lists."""
    key = "shared/" + fresh()
    app.ok("PUT", "/set", b"from the app", key=key)
    head = app.server.boto3().head_object(Bucket=app.bucket, Key=object_name("default", key))
    assert base64.urlsafe_b64decode(head["Metadata"]["s3cache-key"] + "==").decode() == key
    assert head["Metadata"]["s3cache-expires"] == "never"
    run = app.cli("--location", "default", "get", key)
    assert run.returncode == 0, run.stderr
    assert run.stdout == b"from the app"
    other = fresh()
    run = app.cli("--location", "default", "set", other, "from the CLI", "--ttl", "never")
    assert run.returncode == 0, run.stderr
    assert app.ok("GET", "/get", key=other) == b"from the CLI"
    keys = all_keys(app, "default")
    assert key in keys and other in keys


def all_keys(app: Running, store: str) -> List[str]:
    keys: List[str] = []
    cursor: Optional[str] = None
    while True:
        page = app.json("GET", "/keys", store=store, cursor=cursor)
        keys.extend(page["keys"])
        cursor = page["cursor"]
        if cursor is None:
            return keys


def test_list_keys_pages_through_more_than_a_thousand(app: Running):
    store = "paging-" + uuid.uuid4().hex[:6]
    keys = [f"key-{i:04d}" for i in range(1100)]
    for start in range(0, len(keys), 100):
        pairs = [[k, f"v{k}"] for k in keys[start : start + 100]]
        app.ok("POST", "/set-many", json.dumps(pairs).encode(), store=store)
    first = app.json("GET", "/keys", store=store)
    assert first["cursor"] is not None, "1100 keys take more than one page"
    listed = all_keys(app, store)
    assert sorted(listed) == keys, "every key once"
    assert all_keys(app, store) == listed, "in the same order each time"
    assert listed == sorted(keys, key=lambda k: object_name(store, k)), "in object-name order"


def test_sixteen_concurrent_incrementers_end_exact(app: Running):
    key = fresh()
    seen: List[int] = []
    failures: List[str] = []

    def worker(times: int) -> None:
        for _ in range(times):
            status, answer = app.call("POST", "/increment", key=key)
            if status == 200:
                seen.append(int(answer))
            else:
                failures.append(f"{status} {answer!r}")

    threads = [threading.Thread(target=worker, args=(10,)) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, f"{failures[:3]}\n{app.tail()}"
    assert sorted(seen) == list(range(1, 161)), "each increment saw its own result"
    assert app.ok("GET", "/get", key=key) == b"160"


def test_compare_and_swap_detects_conflicts(app: Running):
    key = fresh()
    created = app.json("POST", "/cas", b"first", key=key)
    assert created == {"current": None, "swapped": True, "latest": None}
    lost = app.json("POST", "/cas", b"mine", key=key, interfere="theirs")
    assert lost == {"current": "first", "swapped": False, "latest": "theirs"}
    assert app.ok("GET", "/get", key=key) == b"theirs"
    won = app.json("POST", "/cas", b"mine", key=key)
    assert won == {"current": "theirs", "swapped": True, "latest": None}
    assert app.ok("GET", "/get", key=key) == b"mine"


def test_concurrent_cas_increments_end_exact(app: Running):
    key = fresh()
    results: List[dict] = []

    def worker() -> None:
        for _ in range(5):
            results.append(app.json("POST", "/cas-increment", key=key))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r["value"] for r in results) == list(range(1, 41))
    assert app.ok("GET", "/get", key=key) == b"40"


def test_batches(app: Running):
    keys = [fresh() for _ in range(50)]
    app.ok("POST", "/set-many", json.dumps([[k, k.upper()] for k in keys]).encode())
    missing = fresh()
    asked = [keys[3], missing, keys[0], keys[3]]
    got = app.json("POST", "/get-many", asked)
    assert got == [
        [keys[3], keys[3].upper()],
        [missing, None],
        [keys[0], keys[0].upper()],
        [keys[3], keys[3].upper()],
    ]
    app.ok("POST", "/delete-many", json.dumps(keys[:25] + [missing]).encode())
    got = app.json("POST", "/get-many", keys)
    assert [value for _, value in got] == [None] * 25 + [k.upper() for k in keys[25:]]


def test_bad_input_is_a_clear_error(app: Running):
    status, answer = app.call("GET", "/get", key="k", store="no/slashes")
    assert status == 500 and b"identifier" in answer, answer
    status, answer = app.call("PUT", "/set", b"v", key="k" * 1025)
    assert status == 500 and b"at most 1024 bytes" in answer, answer
    app.ok("PUT", "/set", b"text", key="words")
    status, answer = app.call("POST", "/increment", key="words")
    assert status == 500 and b"not a 64-bit decimal integer" in answer, answer


def test_values_never_expire_and_are_never_culled(app: Running):
    """The CLI's default max-entries (300) and ttl (300 s) are not the keyvalue store's: it
    keeps every value until deleted."""
    store = "kept-" + uuid.uuid4().hex[:6]
    pairs = [[f"k{i}", "v"] for i in range(350)]
    app.ok("POST", "/set-many", json.dumps(pairs).encode(), store=store)
    app.ok("PUT", "/set", b"one more", key="last", store=store)
    assert len(all_keys(app, store)) == 351
    s3 = app.server.boto3()
    for key in ("k0", "last"):
        head = s3.head_object(Bucket=app.bucket, Key=object_name(store, key))
        assert head["Metadata"]["s3cache-expires"] == "never", key


def test_a_missing_setting_is_named(server: Server, tmp_path: Path):
    """`--config NAME=` leaves a setting empty: the app's call fails with a message naming it,
    and the secret given is in no answer or log."""
    secret = "canary-" + uuid.uuid4().hex
    port = free_port()
    log = tmp_path / "host.log"
    env = dict(os.environ, AWS_ACCESS_KEY_ID="key-id", AWS_SECRET_ACCESS_KEY=secret)
    command = [S3CACHE, "--endpoint", server.endpoint, "serve-app", str(APP)]
    command += ["--listen", f"127.0.0.1:{port}", "--config", "s3cache_bucket="]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
    try:
        wait_for_port(port, process, "s3cache serve-app")
        running = Running(f"http://127.0.0.1:{port}", server, "unused", log)
        status, answer = running.call("GET", "/get", key="k")
        assert status == 500, answer
        assert b"s3cache_bucket: not set" in answer, answer
        assert secret.encode() not in answer
    finally:
        process.terminate()
        process.wait(10)
    assert secret not in log.read_text(errors="replace")


def test_a_wrong_secret_is_access_denied(server: Server, tmp_path: Path):
    """wasi:keyvalue has an access-denied error: a store whose secret S3 refuses answers it
    (the app prints the case), for a single call and for a batch alike."""
    port = free_port()
    log = tmp_path / "host.log"
    secret = "canary-" + uuid.uuid4().hex
    env = dict(os.environ, AWS_ACCESS_KEY_ID=server.access_key_id, AWS_SECRET_ACCESS_KEY=secret)
    command = [S3CACHE, "--endpoint", server.endpoint, "serve-app", str(APP)]
    command += ["--listen", f"127.0.0.1:{port}"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
    try:
        wait_for_port(port, process, "s3cache serve-app")
        running = Running(f"http://127.0.0.1:{port}", server, "unused", log)
        for method, path, body in (("GET", "/get", b""), ("POST", "/set-many", b'[["a", "1"]]')):
            status, answer = running.call(method, path, body, key="k")
            assert (status, answer.strip()) == (500, b"access-denied"), (path, answer)
    finally:
        process.terminate()
        process.wait(10)
    assert secret not in log.read_text(errors="replace")


def test_spin_without_the_variables_grant_says_what_to_grant(server: Server, tmp_path: Path):
    """Least privilege: a dependency that does not inherit the app's variables cannot read its
    settings, and the app's call says which grant is missing."""
    manifest = (HERE / "spin.toml").read_text()
    granted = 'inherit_configuration = ["allowed_outbound_hosts", "variables"]'
    assert granted in manifest
    manifest = manifest.replace(granted, 'inherit_configuration = ["allowed_outbound_hosts"]')
    manifest = manifest.replace('source = "target/', f'source = "{HERE}/target/')
    manifest = manifest.replace('path = "../../target/', f'path = "{REPO}/target/')
    (tmp_path / "spin.toml").write_text(manifest)
    process, url, log = start_host(
        "spin", server, "kv-" + uuid.uuid4().hex[:12], tmp_path, tmp_path / "spin.toml"
    )
    try:
        status, answer = Running(url, server, "unused", log).call("GET", "/get", key="k")
        assert status == 500, answer
        assert b"wasi:config/store" in answer and b'"variables"' in answer, answer
    finally:
        process.terminate()
        process.wait(10)
