"""Runs Django's own cache suite (BaseCacheTests) against s3cache.django.S3Cache on every S3
server the tests can start (s3cache's embedded server and moto, both verifying SigV4).

    python python/tests/django_suite/run.py

Django's source distribution ships its test suite; this downloads the one matching the
installed Django (pip download, cached under target/django-suite), adds tests_s3cache.py to its
tests/cache/ and runs it with Django's runtests.py. It fails unless every BaseCacheTests test
ran and passed, none skipped.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from servers import REPO, MotoServer, S3CacheServer  # noqa: E402

BUCKET = "django-suite"


def django_tests() -> Path:
    """Django's tests/ folder for the installed version, with tests_s3cache.py added."""
    import django

    version = django.get_version()
    cache = REPO / "target" / "django-suite"
    tree = cache / f"django-{version}" / "tests"
    if not tree.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"django=={version}",
                "--dest",
                str(cache),
            ],
            check=True,
        )
        with tarfile.open(cache / f"django-{version}.tar.gz") as archive:
            members = [
                m for m in archive.getmembers() if m.name.startswith(f"django-{version}/tests/")
            ]
            # The "data" filter (Python 3.11.4+) refuses links and paths out of the folder.
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            archive.extractall(cache, members=members, **safe)
    shutil.copy(HERE / "tests_s3cache.py", tree / "cache" / "tests_s3cache.py")
    return tree


def base_test_count(tree: Path) -> int:
    """The tests of BaseCacheTests with those of the classes it mixes in from the same module
    (Django 6.1 adds its async tests through a mixin)."""
    module = ast.parse((tree / "cache" / "tests.py").read_text())
    classes = {n.name: n for n in module.body if isinstance(n, ast.ClassDef)}
    tests = (ast.FunctionDef, ast.AsyncFunctionDef)

    def names(name: str) -> set:
        node = classes.get(name)
        if node is None:
            return set()
        own = {n.name for n in node.body if isinstance(n, tests) and n.name.startswith("test_")}
        inherited = [names(b.id) for b in node.bases if isinstance(b, ast.Name)]
        return own.union(*inherited)

    return len(names("BaseCacheTests"))


def main() -> int:
    tree = django_tests()
    expected = base_test_count(tree)
    failed = False
    for start in (S3CacheServer.start, MotoServer.start):
        server = start()
        try:
            env = dict(
                os.environ,
                S3CACHE_SUITE_LOCATION="django-suite-" + uuid.uuid4().hex[:8],
                S3CACHE_SUITE_BUCKET=BUCKET,
                S3CACHE_SUITE_ENDPOINT=server.endpoint,
                S3CACHE_SUITE_ACCESS_KEY_ID=server.access_key_id,
                S3CACHE_SUITE_SECRET_ACCESS_KEY=server.secret_access_key,
            )
            run = subprocess.run(
                [
                    sys.executable,
                    "runtests.py",
                    "--settings=test_sqlite",
                    "--parallel=1",
                    "cache.tests_s3cache",
                ],
                cwd=tree,
                env=env,
                capture_output=True,
                text=True,
            )
        finally:
            server.stop()
        output = run.stdout + run.stderr
        ran = re.search(r"^Ran (\d+) tests?", output, re.MULTILINE)
        count = int(ran.group(1)) if ran else 0
        skipped = re.search(r"skipped=(\d+)", output)
        ok = run.returncode == 0 and count == expected and not skipped
        print(
            f"Django's BaseCacheTests on {server.name}: {count} run of {expected}, "
            f"{'0' if not skipped else skipped.group(1)} skipped, "
            f"{'passed' if ok else 'FAILED'}"
        )
        if not ok:
            print(output)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
