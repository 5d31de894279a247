"""s3cache.Cache against real S3 servers, checked through boto3 where objects matter."""

from __future__ import annotations

import os
import threading
import time

import pytest

import s3cache
from conftest import BUCKET, in_threads, object_names, sha1
from servers import Server, free_port


def open_cache(server: Server, location: str, **options) -> s3cache.Cache:
    options.setdefault("create_bucket", True)
    return s3cache.Cache(
        BUCKET,
        endpoint=server.endpoint,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
        location=location,
        **options,
    )


def test_round_trip_and_misses(server, location):
    cache = open_cache(server, location)
    assert cache.get("absent") is None
    cache.set("greeting", b"hello")
    assert cache.get("greeting") == b"hello"
    assert cache.has_key("greeting") and "greeting" in cache
    assert cache.add("greeting", b"again") is False
    assert cache.add("fresh", bytearray(b"new")) is True
    assert cache.get_many(["greeting", "fresh", "absent"]) == {
        "greeting": b"hello",
        "fresh": b"new",
    }
    assert cache.delete("greeting") is True
    assert cache.delete("greeting") is False
    assert cache.touch("greeting") is False
    cache.clear()
    assert object_names(server, location) == []


@pytest.mark.parametrize("compress_above", [None, 1024])
def test_one_mebibyte_random_values_round_trip(server, location, compress_above):
    cache = open_cache(server, location, compress_above=compress_above)
    values = {f"big-{i}": os.urandom(1 << 20) for i in range(3)}
    cache.set("big-single", values["big-0"])
    assert cache.get("big-single") == values["big-0"]
    assert cache.set_many(values) == []
    assert cache.get_many(list(values)) == values
    # Random bytes do not deflate: the object is the value plus the entry header.
    size = server.boto3().head_object(Bucket=BUCKET, Key=f"{location}/{sha1(':1:big-1')}")
    assert (1 << 20) < size["ContentLength"] < (1 << 20) + 64


def test_values_over_the_limit_are_refused_not_truncated(server, location):
    cache = open_cache(server, location, max_value_bytes=1000)
    with pytest.raises(s3cache.TooLarge):
        cache.set("big", b"x" * 1001)
    assert cache.set_many({"big": b"x" * 1001, "small": b"ok"}) == ["big"]
    assert cache.get("small") == b"ok" and cache.get("big") is None


def test_names_follow_the_ancestors_formula(server, location):
    prefixed = open_cache(server, location, key_prefix="app", version=2)
    prefixed.set("foo", b"1")
    made = open_cache(server, location, key_scheme="made")
    made.set("custom:made:key", b"2")
    assert object_names(server, location) == sorted(
        [f"{location}/{sha1('app:2:foo')}", f"{location}/{sha1('custom:made:key')}"]
    )
    # Made keys and prefixed keys meet when the made key is Django's default one.
    assert made.get("app:2:foo") == b"1"


def test_sub_second_timeouts(server, location):
    cache = open_cache(server, location)
    cache.set("brief", b"x", timeout=0.5)
    assert cache.get("brief") == b"x"
    time.sleep(0.6)
    assert cache.get("brief") is None
    cache.set("stillborn", b"x", timeout=0)
    assert cache.get("stillborn") is None
    cache.set("forever", b"x", timeout=None)
    assert cache.touch("forever", timeout=0.4) is True
    time.sleep(0.5)
    assert cache.has_key("forever") is False


def test_incr_errors_are_distinct_cases(server, location):
    cache = open_cache(server, location)
    with pytest.raises(s3cache.NoSuchKey) as missing:
        cache.incr("absent")
    assert missing.value.case == "no-such-key"
    cache.set("word", b"abc")
    with pytest.raises(s3cache.NotAnInteger) as word:
        cache.incr("word")
    assert word.value.case == "not-an-integer"
    cache.set("big", str(2**63 - 1).encode())
    with pytest.raises(s3cache.InvalidInput):
        cache.incr("big")
    cache.set("n", b"41")
    assert cache.incr("n") == 42 and cache.decr("n", 10) == 32
    assert isinstance(missing.value, s3cache.CacheError)


def test_one_cache_shared_by_threads(server, location):
    cache = open_cache(server, location)
    failures = []

    def worker(n):
        for i in range(10):
            key, value = f"t{n}-{i}", os.urandom(100)
            cache.set(key, value)
            if cache.get(key) != value:
                failures.append(key)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_reopens_the_cache(server, location):
    cache = open_cache(server, location)
    cache.set("before-fork", b"parent")
    pid = os.fork()
    if pid == 0:
        try:
            ok = cache.get("before-fork") == b"parent"
            cache.set("from-child", b"child")
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache.get("from-child") == b"child"


def test_wrong_credentials_are_access_denied_without_the_secret(server, location):
    secret = "canary-" + os.urandom(8).hex()
    cache = s3cache.Cache(
        BUCKET,
        endpoint=server.endpoint,
        access_key_id=server.access_key_id,
        secret_access_key=secret,
        location=location,
    )
    with pytest.raises(s3cache.AccessDenied) as denied:
        cache.get("k")
    for shown in (str(denied.value), repr(denied.value), repr(cache)):
        assert secret not in shown


def test_a_dead_endpoint_is_unavailable():
    cache = s3cache.Cache(
        BUCKET,
        endpoint=f"http://127.0.0.1:{free_port()}",
        access_key_id="id",
        secret_access_key="secret",
    )
    started = time.monotonic()
    with pytest.raises(s3cache.Unavailable) as down:
        cache.get("k")
    assert "127.0.0.1" in str(down.value)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    "options, field",
    [
        ({"bucket": "Not_A_Bucket"}, "bucket"),
        ({"region": "US East"}, "region"),
        ({"endpoint": "ftp://host"}, "endpoint"),
        ({"max_attempts": 0}, "max-attempts"),
    ],
)
def test_bad_config_names_the_field(options, field):
    arguments = dict(bucket=BUCKET, access_key_id="id", secret_access_key="secret")
    arguments.update(options)
    bucket = arguments.pop("bucket")
    with pytest.raises(s3cache.InvalidConfig) as invalid:
        s3cache.Cache(bucket, **arguments)
    assert str(invalid.value).startswith(f"{field}: ")


def test_missing_credentials_are_invalid_config(monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(s3cache.InvalidSetting, match="access-key-id"):
        s3cache.Cache(BUCKET)


def test_credentials_and_endpoint_come_from_the_environment(server, location, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_access_key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    cache = s3cache.Cache(BUCKET, location=location, create_bucket=True)
    cache.set("k", b"v")
    assert cache.get("k") == b"v"


def test_closed_caches_refuse_calls(server, location):
    with open_cache(server, location) as cache:
        cache.set("k", b"v")
    with pytest.raises(s3cache.InvalidConfig, match="closed"):
        cache.get("k")


def test_argument_types_are_checked(server, location):
    cache = open_cache(server, location)
    with pytest.raises(TypeError):
        cache.set("k", "text is not bytes")
    with pytest.raises(TypeError):
        cache.get(b"bytes key")
    with pytest.raises(TypeError):
        cache.set("k", b"v", timeout="soon")


def test_concurrent_increments_of_one_key_are_atomic(server, location):
    """8 threads x 10 incr, each thread with its own Cache (as Django opens one per thread)."""
    open_cache(server, location).set("counter", b"0", timeout=None)

    def increments():
        cache = open_cache(server, location)
        for _ in range(10):
            cache.incr("counter")

    assert in_threads(8, increments) == []
    assert open_cache(server, location).get("counter") == b"80"


def test_unlimited_caches_never_list_and_stats_count(server, location):
    from s3cache import _native

    cache = open_cache(server, location, max_entries=None)
    cache.set("warm", b"v")
    before = _native.requests_sent()
    for i in range(20):
        cache.set(f"k{i}", b"value")
    assert _native.requests_sent() - before == 20, "one PUT per set, no listing"
    stats = cache.stats()
    assert stats["entries"] == 21 and not stats["estimated"]
    assert stats["oldest_ms"] <= stats["newest_ms"]
    assert cache.stats(estimate=True)["entries"] == 21
    with pytest.raises(s3cache.InvalidConfig, match="cull-mode"):
        open_cache(server, location, cull_mode="sometimes")


def test_every_setting_is_a_keyword_and_an_option():
    """Each setting of the table (the extension's, not a copy) opens a Cache by its keyword,
    reaching the component as the table's name and text."""
    for row in s3cache.SETTINGS:
        if row["secret"] or row["name"] == "bucket":
            continue
        cache = s3cache.Cache(
            BUCKET,
            access_key_id="id",
            secret_access_key="secret",
            **{row["python"]: row["example"]},
        )
        assert (row["name"], row["example"]) in cache._config["settings"], row["name"]
    with pytest.raises(TypeError, match="endpoint_url"):
        s3cache.Cache(BUCKET, access_key_id="id", secret_access_key="s", endpoint_url="x")
    with pytest.raises(s3cache.InvalidSetting) as invalid:
        s3cache.Cache(BUCKET, access_key_id="id", secret_access_key="s", max_entries="lots")
    assert invalid.value.setting == "max-entries"


def test_none_means_what_the_table_says():
    cache = s3cache.Cache(
        BUCKET,
        access_key_id="id",
        secret_access_key="secret",
        default_timeout=None,
        max_entries=None,
        compress_above=None,
        acl=None,
    )
    given = dict(cache._config["settings"])
    assert given["default-timeout"] == "never"
    assert given["max-entries"] == "unlimited"
    assert given["compress-above"] == "off"
    assert "acl" not in given


@pytest.mark.parametrize("location", ["./x", "a/../b", "a//b"])
def test_a_location_with_dot_or_empty_segments_is_refused_at_open(location):
    with pytest.raises(s3cache.InvalidSetting) as invalid:
        s3cache.Cache(BUCKET, access_key_id="id", secret_access_key="s", location=location)
    assert invalid.value.setting == "location"


def test_none_without_a_meaning_reads_the_environment_and_errors_name_it(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    cache = s3cache.Cache(BUCKET, access_key_id="id", secret_access_key="s", region=None)
    assert ("region", "eu-west-3") in cache._config["settings"]
    monkeypatch.setenv("S3CACHE_MAX_ENTRIES", "lots")
    with pytest.raises(s3cache.InvalidSetting) as invalid:
        s3cache.Cache(BUCKET, access_key_id="id", secret_access_key="s")
    assert invalid.value.setting == "max-entries"
    assert invalid.value.source == "the S3CACHE_MAX_ENTRIES environment variable"
