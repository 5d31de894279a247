"""A tour of the s3cache component from Python, through wasmtime-py's dynamic component API."""

import os
import sys
from pathlib import Path

import wasmtime
from wasmtime.component import Component, Linker, Record, Variant

HERE = Path(__file__).resolve().parent
DEFAULT_WASM = HERE / "../../target/component/wasm32-wasip2/component/s3cache.wasm"
INTERFACE = "s3cache:cache/cache@0.1.0"
DEFAULT_TTL = Variant("default")


class CacheError(Exception):
    """The component's `error` variant: `tag` is its case, e.g. "no-such-key"."""

    def __init__(self, tag, message):
        super().__init__(f"{tag}: {message}")
        self.tag = tag


def record(**fields):
    # wasmtime-py reads and writes record fields as attributes named exactly as in the WIT
    # (kebab-case), which keyword arguments cannot spell.
    r = Record()
    for name, value in fields.items():
        setattr(r, name.replace("_", "-"), value)
    return r


class Cache:
    """One instance of the component and one open `store` resource."""

    def __init__(self, wasm_path, config, credentials):
        engine = wasmtime.Engine()
        linker = Linker(engine)
        linker.add_wasip2()
        linker.add_wasi_http()
        self._store = wasmtime.Store(engine)
        self._store.set_wasi(wasmtime.WasiConfig())
        self._store.set_wasi_http()
        self._instance = linker.instantiate(self._store, Component.from_file(engine, wasm_path))
        self._iface = self._instance.get_export_index(self._store, INTERFACE)
        # The credentials are a resource, made inside the instance: the secret is never a field
        # of a record that a debug print would show.
        config.credentials = self._call("[constructor]credentials", *credentials)
        self._handle = self._call("[static]store.open", config)

    def _call(self, name, *args):
        index = self._instance.get_export_index(self._store, name, self._iface)
        result = self._instance.get_func(self._store, index)(self._store, *args)
        # wasmtime-py returns a `result` untagged when its ok and err sides map to different
        # Python types: the ok value itself, or the `error` variant as a Variant. No ok type of
        # this interface is a Variant, so a Variant here is always an error.
        if isinstance(result, Variant):
            raise CacheError(result.tag, result.payload)
        return result

    def _method(self, name, *args):
        return self._call(f"[method]store.{name}", self._handle, *args)

    def get(self, key):
        return self._method("get", key)

    def set(self, key, value, ttl=DEFAULT_TTL):
        self._method("set", key, value, ttl)

    def add(self, key, value, ttl=DEFAULT_TTL):
        return self._method("add", key, value, ttl)

    def delete(self, key):
        return self._method("delete", key)

    def has_key(self, key):
        return self._method("has-key", key)

    def incr(self, key, delta=1):
        return self._method("incr", key, delta)

    def decr(self, key, delta=1):
        return self._method("decr", key, delta)

    def get_many(self, keys):
        return self._method("get-many", keys)

    def delete_many(self, keys):
        self._method("delete-many", keys)

    def close(self):
        # Runs the component's destructor for the resource.
        self._handle.drop(self._store)


failures = 0


def check(what, actual, expected):
    global failures
    ok = actual == expected
    print(f"{'ok  ' if ok else 'FAIL'} {what} -> {actual!r}")
    if not ok:
        print(f"     expected {expected!r}")
        failures += 1


def credentials():
    """Key id, secret and session token from the environment."""
    return (
        os.environ.get("AWS_ACCESS_KEY_ID", ""),
        os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        os.environ.get("AWS_SESSION_TOKEN"),
    )


def config():
    """The store config (the credentials are added by Cache): the bucket, and every other
    setting of s3cache's table by name and as text; the endpoint from the environment."""
    return record(
        bucket="s3cache",
        credentials=None,
        settings=[
            ("endpoint", os.environ.get("S3CACHE_ENDPOINT", "http://127.0.0.1:9000")),
            ("addressing", "path"),
            # A location of its own, so the tour never touches other entries in the bucket.
            ("location", "examples/python"),
            ("create-bucket", "true"),
        ],
    )


def main():
    wasm = os.environ.get("S3CACHE_WASM", DEFAULT_WASM)
    try:
        cache = Cache(str(wasm), config(), credentials())

        # Start from a clean slate so that `add` and `incr` behave the same on every run.
        cache.delete_many(["greeting", "visits", "missing"])

        cache.set("greeting", b"hello")
        check("get greeting", cache.get("greeting"), b"hello")
        check("get missing", cache.get("missing"), None)

        check("add greeting (exists)", cache.add("greeting", b"ignored"), False)
        check("add visits (new)", cache.add("visits", b"41", Variant("never")), True)
        check("incr visits", cache.incr("visits"), 42)
        check("decr visits by 2", cache.decr("visits", 2), 40)

        check(
            "get-many",
            cache.get_many(["greeting", "visits", "missing"]),
            [("greeting", b"hello"), ("visits", b"40")],
        )

        check("delete greeting", cache.delete("greeting"), True)
        check("has-key greeting", cache.has_key("greeting"), False)

        try:
            cache.incr("missing")
            check("incr missing raises", "no error", "no-such-key")
        except CacheError as e:
            check("incr missing raises", e.tag, "no-such-key")

        cache.close()
    except CacheError as e:
        print(f"s3cache error: {e}", file=sys.stderr)
        return 1

    if failures:
        print(f"{failures} unexpected result(s)", file=sys.stderr)
        return 1
    print("all good")
    return 0


if __name__ == "__main__":
    sys.exit(main())
