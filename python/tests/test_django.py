"""s3cache.django.S3Cache beyond Django's own suite: object names, the ancestor's options,
errors, integers, sub-second timeouts and large values, checked through boto3."""

from __future__ import annotations

import asyncio
import os
import pickle
import subprocess
import sys
import textwrap
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

import s3cache
from conftest import BUCKET, in_threads, object_names, sha1
from s3cache.django import S3Cache
from servers import Server


def custom_key(key, key_prefix, version):
    return f"custom/{key_prefix}/{version}/{key}"


def backend(server: Server, location: str, options=None, **params) -> S3Cache:
    merged = {
        "STORAGE_BUCKET_NAME": BUCKET,
        "ENDPOINT_URL": server.endpoint,
        "ACCESS_KEY_ID": server.access_key_id,
        "SECRET_ACCESS_KEY": server.secret_access_key,
        "AUTO_CREATE_BUCKET": True,
    }
    merged.update(options or {})
    return S3Cache(location, dict(params, OPTIONS=merged))


def test_object_names_are_the_ancestors(server, location):
    backend(server, location).set("foo", 1)
    backend(server, location, KEY_PREFIX="site", VERSION=3).set("foo", 2)
    backend(server, location, KEY_FUNCTION=custom_key, KEY_PREFIX="p").set("foo", 3)
    backend(server, location, KEY_FUNCTION="test_django.custom_key").set("bar", 4)
    assert object_names(server, location) == sorted(
        f"{location}/{sha1(made)}"
        for made in (":1:foo", "site:3:foo", "custom/p/1/foo", "custom//1/bar")
    )


def test_location_option_wins_over_the_top_level_one(server, location):
    backend(server, "ignored", {"LOCATION": location}).set("foo", "bar")
    assert object_names(server, location) == [f"{location}/{sha1(':1:foo')}"]


def test_incr_raises_value_error_and_type_error_from_the_error_case(server, location):
    cache = backend(server, location)
    with pytest.raises(ValueError):
        cache.incr("absent")
    with pytest.raises(ValueError):
        cache.decr("absent")
    cache.set("null", None)
    with pytest.raises(TypeError):
        cache.incr("null")
    cache.set("text", "12 monkeys")
    with pytest.raises(TypeError):
        cache.incr("text")


def test_integers_are_decimal_text_and_incr_is_the_components(server, location):
    cache = backend(server, location)
    cache.set("answer", 41)
    body = (
        server.boto3()
        .get_object(Bucket=BUCKET, Key=f"{location}/{sha1(':1:answer')}")["Body"]
        .read()
    )
    assert body.endswith(b"41") and b"\x80" not in body
    assert cache.incr("answer") == 42 and cache.get("answer") == 42
    assert cache.decr("answer", 50) == -8
    # Not ints: bools, floats, integers beyond 64 bits are pickled; incr still works on numbers.
    cache.set("flag", True)
    assert cache.get("flag") is True
    cache.set("huge", 2**70)
    assert cache.incr("huge") == 2**70 + 1
    cache.set("ratio", 1.5)
    assert cache.incr("ratio") == 2.5
    cache.set("edge", 2**63 - 1)
    assert cache.incr("edge") == 2**63


def test_sub_second_timeouts(server, location):
    cache = backend(server, location, TIMEOUT=0.5)
    cache.set("default-half-second", "x")
    cache.set("explicit", "y", timeout=0.5)
    cache.set("long", "z", timeout=30)
    assert cache.get_many(["default-half-second", "explicit", "long"]) == {
        "default-half-second": "x",
        "explicit": "y",
        "long": "z",
    }
    time.sleep(0.6)
    assert cache.get("default-half-second") is None
    assert cache.get("explicit") is None
    assert cache.get("long") == "z"


def test_one_mebibyte_random_values_round_trip(server, location):
    cache = backend(server, location)
    values = {f"v{i}": os.urandom(1 << 20) for i in range(3)}
    cache.set("single", values["v0"])
    assert cache.get("single") == values["v0"]
    assert cache.set_many(values) == []
    assert cache.get_many(values) == values


def test_gzip_option_compresses_and_stays_transparent(server, location):
    cache = backend(server, location, {"IS_GZIPPED": True})
    text = "compressible " * 10_000
    cache.set("text", text)
    assert cache.get("text") == text
    head = server.boto3().head_object(Bucket=BUCKET, Key=f"{location}/{sha1(':1:text')}")
    assert head["ContentLength"] < len(pickle.dumps(text)) // 10


def test_ancestor_options_reach_s3(moto_server, location):
    s3 = moto_server.boto3()
    options = {
        "REDUCED_REDUNDANCY": True,
        "DEFAULT_ACL": "public-read",
        "SSE": "aws:kms",
        "SSE_KMS_KEY_ID": "alias/django-cache",
    }
    cache = backend(moto_server, location, options)
    cache.set("k", "v")
    name = f"{location}/{sha1(':1:k')}"
    head = s3.head_object(Bucket=BUCKET, Key=name)
    assert head["StorageClass"] == "REDUCED_REDUNDANCY"
    assert head["ServerSideEncryption"] == "aws:kms"
    assert "django-cache" in head["SSEKMSKeyId"]
    grants = s3.get_object_acl(Bucket=BUCKET, Key=name)["Grants"]
    assert any(
        grant["Grantee"].get("URI", "").endswith("/global/AllUsers")
        and grant["Permission"] == "READ"
        for grant in grants
    )


def test_bucket_acl_applies_to_a_created_bucket(moto_server, location):
    bucket = "created-" + location
    cache = backend(
        moto_server, location, {"STORAGE_BUCKET_NAME": bucket, "BUCKET_ACL": "public-read"}
    )
    cache.set("k", "v")
    grants = moto_server.boto3().get_bucket_acl(Bucket=bucket)["Grants"]
    assert any(grant["Grantee"].get("URI", "").endswith("/global/AllUsers") for grant in grants)


def test_credentials_fall_back_to_django_settings(server, location):
    options = {"STORAGE_BUCKET_NAME": BUCKET, "ENDPOINT_URL": server.endpoint}
    with override_settings(
        AWS_ACCESS_KEY_ID=server.access_key_id, AWS_SECRET_ACCESS_KEY=server.secret_access_key
    ):
        cache = S3Cache(location, {"OPTIONS": options})
    cache.set("k", "v")
    assert cache.get("k") == "v"


@pytest.mark.parametrize(
    "options, named",
    [
        ({"STORAGE_BUCKETNAME": "typo"}, "STORAGE_BUCKETNAME"),
        ({"REGION_NAME": "EU West"}, "REGION_NAME"),
        ({"ENDPOINT_URL": "ftp://host"}, "ENDPOINT_URL"),
        ({"MAX_ENTRIES": "many"}, "MAX_ENTRIES"),
        ({"IS_GZIPPED": "yes"}, "IS_GZIPPED"),
        ({"REDUCED_REDUNDANCY": True, "STORAGE_CLASS": "GLACIER"}, "REDUCED_REDUNDANCY"),
        ({"SSE": "rot13"}, "SSE"),
        ({"SSE": "AES256", "SSE_KMS_KEY_ID": "k"}, "SSE_KMS_KEY_ID"),
        ({"DEFAULT_ACL": "pri\nvate"}, "DEFAULT_ACL"),
        ({"SECRET_ACCESS_KEY": "line\nbreak-canary"}, "SECRET_ACCESS_KEY"),
    ],
)
def test_bad_configuration_is_improperly_configured_naming_the_option(
    s3cache_server, options, named
):
    with pytest.raises(ImproperlyConfigured) as error:
        backend(s3cache_server, "anywhere", options)
    assert named in str(error.value)
    assert "canary" not in str(error.value)


def test_missing_bucket_is_improperly_configured(s3cache_server):
    with pytest.raises(ImproperlyConfigured, match="STORAGE_BUCKET_NAME"):
        S3Cache("loc", {"OPTIONS": {"ENDPOINT_URL": s3cache_server.endpoint}})


def test_bad_timeout_is_improperly_configured(s3cache_server):
    with pytest.raises(ImproperlyConfigured, match="TIMEOUT"):
        backend(s3cache_server, "loc", TIMEOUT="soon")


def test_s3_errors_carry_the_case_and_no_secret(server, location):
    secret = "canary-" + os.urandom(8).hex()
    cache = backend(server, location, {"SECRET_ACCESS_KEY": secret})
    with pytest.raises(s3cache.AccessDenied) as denied:
        cache.set("k", "v")
    assert denied.value.case == "access-denied"
    for shown in (str(denied.value), repr(denied.value), repr(cache)):
        assert secret not in shown


def test_get_or_set_versions_and_touch(server, location):
    cache = backend(server, location)
    assert cache.get_or_set("k", lambda: "made") == "made"
    assert cache.get_or_set("k", "other") == "made"
    assert cache.incr_version("k") == 2
    assert cache.get("k", version=2) == "made" and cache.get("k") is None
    assert cache.decr_version("k", version=2) == 1
    assert cache.touch("k", 0.3) is True
    time.sleep(0.4)
    assert cache.get("k") is None
    cache.close()


def test_async_api(server, location):
    cache = backend(server, location)

    async def scenario():
        await cache.aset("k", {"a": 1})
        assert await cache.aget("k") == {"a": 1}
        assert await cache.aadd("k", "x") is False
        await cache.aset("n", 1)
        assert await cache.aincr("n", 5) == 6
        assert await cache.aget_many(["k", "n"]) == {"k": {"a": 1}, "n": 6}
        await cache.adelete_many(["k", "n"])
        assert await cache.ahas_key("k") is False

    asyncio.run(scenario())


def test_concurrent_aincr_is_atomic_and_async_batches_stay_batches(server, location):
    """100 concurrent aincr end at 100 on every Django (5.2's BaseCache would read then write:
    it ended at 1), and aget_many / aset_many / adelete_many are one backend call each."""
    cache = backend(server, location)
    cache.set("n", 0)

    async def increments():
        return await asyncio.gather(*(cache.aincr("n") for _ in range(100)))

    results = asyncio.run(increments())
    assert sorted(results) == list(range(1, 101))
    assert cache.get("n") == 100

    calls = []
    for name in ("get_many", "set_many", "delete_many"):
        inner = getattr(cache._cache, name)

        def counted(*args, _inner=inner, _name=name, **kwargs):
            calls.append(_name)
            return _inner(*args, **kwargs)

        setattr(cache._cache, name, counted)

    async def batches():
        data = {f"k{i}": i for i in range(20)}
        assert await cache.aset_many(data) == []
        assert await cache.aget_many(list(data)) == data
        await cache.adelete_many(list(data))

    asyncio.run(batches())
    assert calls == ["set_many", "get_many", "delete_many"]


def test_one_backend_per_thread_in_parallel(server, location):
    """As Django runs it: each thread opens its own backend; 8 x 10 incr of one key give 80."""
    backend(server, location).set("hits", 0, None)

    def increments():
        cache = backend(server, location)
        for _ in range(10):
            cache.incr("hits")

    assert in_threads(8, increments) == []
    assert backend(server, location).get("hits") == 80


def test_every_setting_is_a_keyword_and_an_option(s3cache_server):
    """Each setting with a Django name opens the backend from OPTIONS by that name."""
    for row in s3cache.SETTINGS:
        if not row["django"] or row["django"] in ("STORAGE_BUCKET_NAME", "ENDPOINT_URL"):
            continue
        cache = backend(s3cache_server, "anywhere", {row["django"]: row["example"]})
        if not row["secret"]:
            settings = cache._cache._config["settings"]
            assert (row["name"], row["example"]) in settings, row["name"]


def test_a_bad_location_and_missing_credentials_name_the_options(s3cache_server, monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="S3Cache: LOCATION: "):
        backend(s3cache_server, "a/../b")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    options = {"STORAGE_BUCKET_NAME": BUCKET, "ENDPOINT_URL": s3cache_server.endpoint}
    with pytest.raises(ImproperlyConfigured, match=r"OPTIONS\['ACCESS_KEY_ID'\]"):
        S3Cache("loc", {"OPTIONS": options})


def test_configuring_the_backend_starts_no_thread(s3cache_server, tmp_path):
    """A --preload master builds the backend and then forks: it must still be one thread then
    (Python 3.12+ warns at fork otherwise); bad settings still fail at once."""
    script = tmp_path / "preload.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, sys
            from django.conf import settings
            settings.configure(CACHES={{}}, INSTALLED_APPS=[], USE_TZ=True)
            from s3cache.django import S3Cache
            options = {{
                "STORAGE_BUCKET_NAME": "preload",
                "ENDPOINT_URL": {s3cache_server.endpoint!r},
                "ACCESS_KEY_ID": {s3cache_server.access_key_id!r},
                "SECRET_ACCESS_KEY": {s3cache_server.secret_access_key!r},
                "AUTO_CREATE_BUCKET": True,
            }}
            cache = S3Cache("preload", {{"OPTIONS": options}})
            threads = int(open("/proc/self/status").read().split("Threads:")[1].split()[0])
            assert threads == 1, threads
            pid = os.fork()
            if pid == 0:
                cache.set("from-the-child", 1)
                os._exit(0 if cache.get("from-the-child") == 1 else 3)
            _, status = os.waitpid(pid, 0)
            sys.exit(os.waitstatus_to_exitcode(status))
            """
        )
    )
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_a_bad_value_from_the_environment_names_the_variable(s3cache_server, monkeypatch):
    monkeypatch.setenv("S3CACHE_MAX_ENTRIES", "lots")
    with pytest.raises(ImproperlyConfigured, match="S3Cache: the S3CACHE_MAX_ENTRIES environ"):
        backend(s3cache_server, "anywhere")
