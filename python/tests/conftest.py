"""Fixtures: real S3 servers (s3cache's embedded s3s-fs and moto, both verifying SigV4) and
caches on them. Every test that takes `server` runs once against each."""

from __future__ import annotations

import hashlib
import threading
import uuid
from typing import Callable, Iterator, List

import django
import pytest
from django.conf import settings

from servers import MotoServer, S3CacheServer, Server

BUCKET = "s3cache-tests"

if not settings.configured:
    settings.configure(CACHES={}, INSTALLED_APPS=[], USE_TZ=True)
    django.setup()


@pytest.fixture(scope="session")
def s3cache_server() -> Iterator[Server]:
    server = S3CacheServer.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Server]:
    server = MotoServer.start()
    server.boto3().create_bucket(Bucket=BUCKET)
    yield server
    server.stop()


@pytest.fixture(params=["s3cache_server", "moto_server"])
def server(request) -> Server:
    return request.getfixturevalue(request.param)


@pytest.fixture
def location() -> str:
    """A location of the test's own, so tests never see each other's entries."""
    return "t-" + uuid.uuid4().hex[:12]


def object_names(server: Server, location: str) -> List[str]:
    """The objects under location, as an independent client (boto3) lists them."""
    listing = server.boto3().list_objects_v2(Bucket=BUCKET, Prefix=location + "/")
    return sorted(item["Key"] for item in listing.get("Contents", []))


def sha1(text: str) -> str:
    """The hex digest the ancestor names entries by."""
    return hashlib.sha1(text.encode()).hexdigest()


def in_threads(count: int, work: Callable[[], None]) -> List[BaseException]:
    """Runs `work` in `count` threads at once; the exceptions they raised."""
    errors: List[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # collected for the test to assert on
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
