"""The first call in a fresh process: the wheel's precompiled component is used when it fits,
and a compiled-code cache that cannot be written is said once, through logging, with the
variable that moves it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import s3cache

PROBE = r"""
import json, logging, sys
logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
import s3cache
from s3cache import _native
if sys.argv[1] == "compile":
    _native.use_precompiled("/nonexistent/component.cwasm")
for _ in range(2):
    cache = s3cache.Cache("cold", endpoint=sys.argv[2], access_key_id=sys.argv[3],
                          secret_access_key=sys.argv[4], create_bucket=True)
    cache.set("k", b"v")
    assert cache.get("k") == b"v"
print(json.dumps({"origin": _native.code_origin()}))
"""


def probe(mode: str, server, env: dict) -> tuple:
    run = subprocess.run(
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
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)["origin"], run.stderr


def test_the_shipped_precompiled_component_is_used(s3cache_server, tmp_path):
    shipped = Path(s3cache.__file__).with_name("component.cwasm")
    if not shipped.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"the wheel CI builds must ship {shipped.name}")
        pytest.skip("a development install ships no precompiled component")
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    origin, stderr = probe("shipped", s3cache_server, {"S3CACHE_CODE_CACHE": str(blocked / "x")})
    assert origin == "precompiled"
    assert "WARNING" not in stderr, "no cache is needed, so none is missed"


def test_an_unwritable_code_cache_is_said_once_and_the_cache_still_works(s3cache_server, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    origin, stderr = probe("compile", s3cache_server, {"S3CACHE_CODE_CACHE": str(blocked / "x")})
    assert origin == "compiled"
    warnings = [line for line in stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, stderr
    assert warnings[0].startswith("s3cache WARNING s3cache: the compiled-code cache ")
    assert "cannot be written" in warnings[0] and "S3CACHE_CODE_CACHE" in warnings[0]


def test_a_writable_code_cache_is_filled_and_says_nothing(s3cache_server, tmp_path):
    cache_dir = tmp_path / "code"
    origin, stderr = probe("compile", s3cache_server, {"S3CACHE_CODE_CACHE": str(cache_dir)})
    assert origin == "compiled"
    assert "WARNING" not in stderr
    assert any(path.is_file() for path in cache_dir.rglob("*")), "compiled code was kept"
